"""PostgreSQL: leave room in the accounts' pages so the monthly credit run and settlements update
the cached balance in place (HOT updates: `balance` is not indexed), instead of writing a new
tuple and new index entries for every account every month."""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_personalaccount SET (fillfactor = 45)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_personalaccount RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("members", "0002_account_credits")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
