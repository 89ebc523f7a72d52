from django.core.management.base import BaseCommand

from demo.data import load_demo, region


class Command(BaseCommand):
    help = "Load the demo: base data, one login per role, the region's policies, credits and settlements (idempotent)."

    def handle(self, *args, **options):
        demo = load_demo()
        self.stdout.write(f"policies loaded: {', '.join(demo['policies'])}")
        self.stdout.write(f"account credits: {'; '.join(demo['credits'])}")
        for line in demo["settlements"]:
            self.stdout.write(f"demo settlement {line}")
        operations = demo["operations"]
        months = operations["months"]
        self.stdout.write(f"last three months: {months['pooling']} pooling visits, {months['account_only']} account-only sales"
                          + (f", refused: {', '.join(months['refused'])}" if months["refused"] else ""))
        self.stdout.write(f"national rule batches: {'; '.join(operations['rule_batches'])}")
        self.stdout.write("flags: " + ", ".join(f"{status} {count}" for status, count in sorted(operations["flags"].items())))
        self.stdout.write(f"payment terms: {'; '.join(operations['payment_terms'])}")
        last_year = operations["last_year"]
        self.stdout.write(f"last year's year-end settlement: {last_year['year_end']}"
                          + (f", refused: {', '.join(last_year['refused'])}" if last_year["refused"] else ""))
        self.stdout.write(f"last month's statements: {'; '.join(operations['statements'])}")
        self.stdout.write(f"account withdrawals: {'; '.join(operations['withdrawals'])}")
        self.stdout.write(f"demo data ready for region {region()}; logins (username / password / role):")
        for username, password, role in demo["logins"]:
            self.stdout.write(f"  {username:<12} {password:<18} {role}")
        for username, key, prefix in demo["api_tokens"]:
            if key:
                self.stdout.write(f"API token of {username} (shown once, only its digest is stored): {key}")
            else:
                self.stdout.write(f"API token of {username}: {prefix}… was printed when it was issued; the portal's "
                                  "API token page (/portal/token/) lists it and issues a new one")
        self.stdout.write("agency users then enter a one-time code: manage.py demo_otp_code <username> prints it "
                          "(or add the README's demo secrets to an authenticator app)")
