from django.core.management.base import BaseCommand

from core.demo import load_demo, region


class Command(BaseCommand):
    help = "Load the demo data and one login per role (idempotent)."

    def handle(self, *args, **options):
        logins = load_demo()
        self.stdout.write(f"demo data ready for region {region()}; logins (username / password / role):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:<12} {password:<18} {role}")
