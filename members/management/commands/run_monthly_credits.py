"""run_monthly_credits --month YYYY-MM: credit personal accounts for a month; safe to run again."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from members import services


class Command(BaseCommand):
    help = "Credit the personal accounts for a month (safe to run again: each month is credited once)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--chunk-size", type=int, default=services.DEFAULT_CHUNK_SIZE)

    def handle(self, *args, **options):
        try:
            year, number = options["month"].split("-")
            month = date(int(year), int(number), 1)
        except ValueError:
            raise CommandError("--month must be YYYY-MM") from None
        refusal = None
        with transaction.atomic(durable=True):  # the refused run stays on record: commit, then fail
            try:
                run = services.credit_month_start(month=month, chunk_size=options["chunk_size"])
            except services.MissingReferenceData as error:
                refusal = error
        if refusal is not None:
            raise CommandError(
                "nothing was credited; missing:\n  " + "\n  ".join(refusal.details["missing"])
            )
        with tqdm(total=run.chunks_total, unit="chunk", disable=not self.stdout.isatty()) as bar:
            for low, high in services.credit_run_chunk_bounds(run):
                with transaction.atomic(durable=True):  # one chunk, one transaction
                    services.credit_run_chunk(run_id=run.pk, low=low, high=high)
                bar.update(1)
        run.refresh_from_db()
        skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(run.skipped.items())) or "none"
        self.stdout.write(
            f"{month:%Y-%m}: {run.members_credited} members credited, total {run.total} "
            f"(civil-servant subsidy {run.civil_servant_total}), {run.accounts_opened} accounts opened; "
            f"skipped: {skipped}; run {run.pk}"
        )
