from datetime import date

from django.core.management.base import BaseCommand, CommandError

from supervision.monitoring import monitoring_run


class Command(BaseCommand):
    help = "Run the monitoring rules over settlements dated --from .. --to (inclusive) and raise flags."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, type=date.fromisoformat)
        parser.add_argument("--to", dest="date_to", required=True, type=date.fromisoformat)
        parser.add_argument("--rule", action="append", dest="codes", help="only this rule (repeatable)")

    def handle(self, *args, date_from, date_to, codes=None, **options):
        if date_to < date_from:
            raise CommandError("--to is before --from")
        run = monitoring_run(date_from=date_from, date_to=date_to, codes=codes)
        for code, item in run.per_rule.items():
            self.stdout.write(f"{code:24} {item['seconds']:8.3f} s  findings {item['findings']:6}  new flags {item['raised']:6}")
        self.stdout.write(f"settlements checked {run.claims_checked}, flags raised {run.flags_raised}")
