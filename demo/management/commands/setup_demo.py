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
        self.stdout.write(f"last month's statements: {'; '.join(operations['statements'])}")
        self.stdout.write(f"account withdrawals: {'; '.join(operations['withdrawals'])}")
        self.stdout.write(f"demo data ready for region {region()}; logins (username / password / role):")
        for username, password, role in demo["logins"]:
            self.stdout.write(f"  {username:<12} {password:<18} {role}")
        username, key, prefix = demo["api_token"]
        if key:
            self.stdout.write(f"API token of {username} (shown once, only its digest is stored): {key}")
        else:
            self.stdout.write(f"API token of {username}: {prefix}… was printed when it was issued; the portal's "
                              "API token page (/portal/token/) issues a new one")
        self.stdout.write("agency users then enter a one-time code: manage.py demo_otp_code <username> prints it "
                          "(or add the README's demo secrets to an authenticator app)")
