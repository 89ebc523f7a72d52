"""Existing API tokens (DRF's rest_framework.authtoken, which stored the keys themselves) become
hashed ApiToken rows that keep working: the same key authenticates against its digest. They
are given the standard lifetime from today. The old table's rows are then deleted, so no key
is left in the database (the table itself belonged to an app no longer installed)."""

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def _aware(value, default):
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return default
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def copy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("core", "ApiToken")
    now = timezone.now()
    expires_at = now + timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)
    with connection.cursor() as cursor:
        cursor.execute('SELECT "key", "user_id", "created" FROM "authtoken_token"')
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create([
        ApiToken(user_id=user_id, prefix=key[:8], digest=hashlib.sha256(key.encode("utf-8")).hexdigest(),
                 created_at=_aware(created, now), expires_at=expires_at)
        for key, user_id, created in rows
    ])
    with connection.cursor() as cursor:
        cursor.execute('DELETE FROM "authtoken_token"')


class Migration(migrations.Migration):
    dependencies = [("core", "0004_apitoken")]

    operations = [migrations.RunPython(copy_tokens, migrations.RunPython.noop)]
