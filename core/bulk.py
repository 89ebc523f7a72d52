"""Fast inserts for bulk imports.

On PostgreSQL, new rows go in with COPY (primary keys drawn from the table's sequence first,
so that dependent rows can point at them), and their simple-history records are written the
same way, with the same fields bulk_create_with_history would write (history_type "+", the
importing user, the change reason). Elsewhere (SQLite in development and tests) the same
rows go through bulk_create / bulk_create_with_history: the result is identical, only slower.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, get_history_model_for_model

BATCH = 2000


def _default(field, now):
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


def insert_new(model, rows: list[dict[str, Any]], *, history: bool, user=None, change_reason: str = "",
               progress=None) -> list[int]:
    """Insert `rows` (attname → value; missing fields take their defaults) as new `model`
    objects and return their primary keys, in order."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        return _insert_orm(model, rows, history=history, user=user, change_reason=change_reason, progress=progress)
    now = timezone.now()
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: _default(f, now) for f in fields}
    # Timestamps as text: PostgreSQL parses them faster than psycopg adapts 100k datetimes.
    stamp = now.isoformat()
    defaults = {name: (stamp if value is now else value) for name, value in defaults.items()}
    attnames = [f.attname for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(rows)],
        )
        ids = [value for (value,) in cursor.fetchall()]
        columns = ", ".join(connection.ops.quote_name(c) for c in [pk.column] + [f.column for f in fields])
        raw = cursor.cursor  # the psycopg cursor
        with raw.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            pick = itemgetter(*attnames)
            for index, (row_id, row) in enumerate(zip(ids, rows, strict=True), start=1):
                copy.write_row((row_id, *pick({**defaults, **row})))
                if progress and index % BATCH == 0:
                    progress(BATCH)
        if progress and len(rows) % BATCH:
            progress(len(rows) % BATCH)
        if history:
            _copy_history(raw, model, ids, rows, defaults, now, user, change_reason)
    return ids


def _copy_history(raw, model, ids, rows, defaults, now, user, change_reason):
    history_model = get_history_model_for_model(model)
    pk_attname = model._meta.pk.attname
    specials = {
        "history_date": now.isoformat(),
        "history_change_reason": change_reason[:100],
        "history_type": "+",
        "history_user_id": getattr(user, "pk", None),
    }
    fields = [f for f in history_model._meta.concrete_fields if f.attname != "history_id"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    plan = []
    for f in fields:
        if f.attname == pk_attname:
            plan.append(("pk", None))
        elif f.attname in specials:
            plan.append(("const", specials[f.attname]))
        else:
            plan.append(("field", f.attname))
    table = connection.ops.quote_name(history_model._meta.db_table)
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row_id, row in zip(ids, rows, strict=True):
            copy.write_row([
                row_id if kind == "pk" else value if kind == "const" else row.get(value, defaults.get(value))
                for kind, value in plan
            ])


def _insert_orm(model, rows, *, history, user, change_reason, progress):
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):
        objs = [model(**row) for row in rows[start:start + BATCH]]
        if history:
            bulk_create_with_history(objs, model, batch_size=BATCH, default_user=user,
                                     default_change_reason=change_reason[:100])
        else:
            model.objects.bulk_create(objs, batch_size=BATCH)
        ids.extend(obj.pk for obj in objs)
        if progress:
            progress(len(objs))
    return ids
