"""The benchmarks' guard: they delete claims, ledger entries, statements and the rule library,
so they run only on a database made for them.

`manage.py bench_database --mark` migrates an empty database and writes a marker table into it;
every benchmark command calls `require_bench_database()` first and refuses without the marker.
A database that holds members, providers, claims or ledger entries cannot be marked.
"""

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

MARKER_TABLE = "devtools_bench_database"

HOW = ("create an empty database for the benchmarks and mark it first: "
       "DATABASE_URL=postgres://…/gongji_bench python manage.py bench_database --mark")


def is_bench_database() -> bool:
    with connection.cursor() as cursor:
        return MARKER_TABLE in connection.introspection.table_names(cursor)


def require_bench_database() -> None:
    """Refuse (CommandError) unless the configured database was marked for the benchmarks."""
    if not is_bench_database():
        name = connection.settings_dict.get("NAME")
        raise CommandError(f"database {name!r} was not made for the benchmarks, which delete data; {HOW}")


def holdings() -> dict[str, int]:
    """What real data the database holds: a database holding any is never marked."""
    from claims.models import Claim
    from members.models import LedgerEntry, Member
    from pharmacies.models import Provider

    return {model._meta.label: model.objects.count() for model in (Member, Provider, Claim, LedgerEntry)}


def mark() -> None:
    """Write the marker into an empty, migrated database (CommandError if it holds data)."""
    held = {label: count for label, count in holdings().items() if count}
    if held:
        summary = ", ".join(f"{label} {count}" for label, count in sorted(held.items()))
        raise CommandError(f"refused: the database already holds data ({summary}); {HOW}")
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quote(MARKER_TABLE)} (marked_at varchar(40) NOT NULL)")
        cursor.execute(f"INSERT INTO {quote(MARKER_TABLE)} (marked_at) VALUES (%s)", [timezone.now().isoformat()])
