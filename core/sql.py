"""Fixed SQL statements for hot paths, read back as the ORM would read them.

Building a query through the ORM costs more CPU than the database spends running it: on the
settlement path it was most of the request (README, Benchmarks). A `Statement` is written
once, from the models' own table and column names, and executed with bound parameters; its
columns are converted by Django's own converters for the fields they hold (so SQLite and
PostgreSQL return the same Python values as a QuerySet would), and rows become model
instances through `Model.from_db`, exactly as a QuerySet builds them.

On PostgreSQL these statements (and only these: the ORM keeps Django's client-side binding,
which has no limit on the number of parameters) are bound on the server and prepared on a
connection the first time they run, so PostgreSQL parses and plans each once per connection
instead of once per request (`PREPARED_STATEMENTS`, `DB_PREPARED_STATEMENTS=0` to turn it off,
e.g. behind a PgBouncer older than 1.21).

Use it only where a profile shows the ORM's query building matters; everywhere else the ORM
is clearer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import signals
from django.db.models.expressions import Col

_preparing_cursor_class = None


def _preparing_cursor(raw_connection):
    """A psycopg cursor that binds on the server and prepares every statement it runs."""
    global _preparing_cursor_class
    if _preparing_cursor_class is None:
        import psycopg

        class PreparingCursor(psycopg.Cursor):
            def execute(self, query, params=None, *, prepare=True, binary=None):
                return super().execute(query, params, prepare=prepare, binary=binary)

        _preparing_cursor_class = PreparingCursor
    return _preparing_cursor_class(raw_connection)


def cursor(using: str = DEFAULT_DB_ALIAS):
    """A Django cursor for a fixed statement: Django's own wrapper (query logging and counting,
    error translation, health check), around a preparing cursor on PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not getattr(settings, "PREPARED_STATEMENTS", False):
        return connection.cursor()
    # What connection.cursor() does, with our cursor class in place of the connection's own.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        connection.validate_thread_sharing()
        raw = _preparing_cursor(connection.connection)
        return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def columns(model: type[models.Model], alias: str) -> str:
    """`alias."col", …` for every concrete field of `model`, in `_meta.concrete_fields` order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def fields(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def instance(model: type[models.Model], values: Sequence) -> models.Model | None:
    """A model instance from its concrete fields' values (None when the primary key is None,
    as for the missing side of a LEFT JOIN)."""
    names = [field.attname for field in model._meta.concrete_fields]
    if values[names.index(model._meta.pk.attname)] is None:
        return None
    return model.from_db(DEFAULT_DB_ALIAS, names, list(values))


@dataclass
class Statement:
    """One SQL statement; `output` names the model field each result column is read as."""

    sql: str
    output: Sequence[models.Field] = ()

    def __post_init__(self):
        self._converters: dict[str, list] = {}

    def _converters_for(self, connection) -> list:
        cached = self._converters.get(connection.vendor)
        if cached is None:
            cached = []
            for field in self.output:
                model = getattr(field, "model", None)
                column = Col(model._meta.db_table if model else None, field)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                cached.append((found, column))
            self._converters[connection.vendor] = cached
        return cached

    def rows(self, params: Sequence = (), *, using: str = DEFAULT_DB_ALIAS) -> list[list]:
        connection = connections[using]
        with cursor(using) as db:
            db.execute(self.sql, params)
            raw = db.fetchall()
        converters = self._converters_for(connection)
        converted = []
        for row in raw:
            row = list(row)
            for position, (found, column) in enumerate(converters):
                value = row[position]
                for converter in found:
                    value = converter(value, column, connection)
                row[position] = value
            converted.append(row)
        return converted

    def first(self, params: Sequence = (), *, using: str = DEFAULT_DB_ALIAS) -> list | None:
        found = self.rows(params, using=using)
        return found[0] if found else None

    def execute(self, params: Sequence = (), *, using: str = DEFAULT_DB_ALIAS) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        with cursor(using) as db:
            db.execute(self.sql, params)
            return db.rowcount


def for_update(using: str = DEFAULT_DB_ALIAS) -> str:
    """` FOR UPDATE` where the backend locks rows (PostgreSQL); SQLite serialises writers."""
    return " FOR UPDATE" if connections[using].features.has_select_for_update else ""


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


_INSERTS: dict[tuple, tuple[str, list[models.Field]]] = {}


def _writable(model: type[models.Model]) -> type[models.Model]:
    """`model`, if writing it without the ORM skips nothing: it has no save signal receiver."""
    if any(signal.has_listeners(model) for signal in (signals.pre_save, signals.post_save)):
        raise TypeError(f"{model.__name__} has save signals: save it through the ORM")
    return model


def insert(objs: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """INSERT new rows of one model in one statement whose SQL is built once per model and row
    count; sets each object's primary key, as `save()` and `bulk_create()` do.

    Like `bulk_create`, it calls no `save()` override and sends no signal; a model with save
    signals (e.g. one whose history django-simple-history records) is refused rather than
    silently skipped.
    """
    if not objs:
        return
    model, connection = _writable(type(objs[0])), connections[using]
    key = (model, connection.vendor, len(objs))
    cached = _INSERTS.get(key)
    if cached is None:
        meta, quote = model._meta, connection.ops.quote_name
        written = [field for field in meta.concrete_fields if field is not meta.auto_field]
        row = f"({placeholders(len(written))})"
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in written)}) "
            f"VALUES {', '.join([row] * len(objs))} RETURNING {quote(meta.pk.column)}"
        )
        cached = _INSERTS[key] = (sql, written)
    sql, written = cached
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs for field in written]
    with cursor(using) as db:
        db.execute(sql, params)
        keys = [row[0] for row in db.fetchall()]
    for obj, pk in zip(objs, keys, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = using


_UPDATES: dict[tuple, tuple[str, list[models.Field]]] = {}


def update(obj: models.Model, fields: Sequence[str], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """`obj.save(update_fields=fields)` with the UPDATE built once per model and field list
    (fields with `auto_now` are set as save() sets them). No signals, as for `insert`."""
    model, connection = _writable(type(obj)), connections[using]
    key = (model, connection.vendor, tuple(fields))
    cached = _UPDATES.get(key)
    if cached is None:
        meta, quote = model._meta, connection.ops.quote_name
        written = [meta.get_field(name) for name in fields]
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in written)
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
        cached = _UPDATES[key] = (sql, written)
    sql, written = cached
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in written]
    with cursor(using) as db:
        db.execute(sql, [*params, obj.pk])
        if db.rowcount != 1:
            raise model.DoesNotExist(f"{model.__name__} {obj.pk} was not updated")
