from django.core.management.base import BaseCommand, CommandError

from demo.data import demo_otp_code


class Command(BaseCommand):
    help = "Print the current one-time code of a demo agency user (the demo's fixed authenticators only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            code = demo_otp_code(username)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(code)
