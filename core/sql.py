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

import functools
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


def one_of(column: str, values: Sequence, using: str = DEFAULT_DB_ALIAS) -> tuple[str, list]:
    """`column = ANY(%s)` with the values as one array parameter on PostgreSQL (one statement
    text whatever their number, and no limit on it: a server-bound statement carries at most
    65,535 parameters); `column IN (%s, …)` elsewhere. `values` must not be empty."""
    if connections[using].vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({placeholders(len(values))})", list(values)


@functools.lru_cache(maxsize=256)
def statement(sql: str, output: tuple[models.Field, ...] = ()) -> Statement:
    """The Statement for this SQL text, made once (the cache is bounded: texts that vary with a
    count, as `IN (…)` lists on SQLite do, cannot grow it without end)."""
    return Statement(sql, output)


def _max_params(connection) -> int:
    return connection.features.max_query_params or 65_535  # PostgreSQL's protocol limit


@functools.lru_cache(maxsize=256)
def _update_sql(model: type[models.Model], using: str, fields: tuple[str, ...]) -> str:
    meta, quote = model._meta, connections[using].ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"


def _writable(model: type[models.Model]) -> type[models.Model]:
    """`model`, if writing it without the ORM skips nothing: it has no save signal receiver."""
    if any(signal.has_listeners(model) for signal in (signals.pre_save, signals.post_save)):
        raise TypeError(f"{model.__name__} has save signals: save it through the ORM")
    return model


def insert(objs: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """INSERT new rows of one model, in one statement for as many rows as the backend's limit on
    parameters allows (the SQL built once per model and row count); sets each object's primary
    key, as `save()` and `bulk_create()` do.

    Like `bulk_create`, it calls no `save()` override and sends no signal; a model with save
    signals (e.g. one whose history django-simple-history records) is refused rather than
    silently skipped.
    """
    if not objs:
        return
    model, connection = _writable(type(objs[0])), connections[using]
    written = _written_on_insert(model)
    batch = max(1, _max_params(connection) // len(written))
    for start in range(0, len(objs), batch):
        chunk = objs[start:start + batch]
        sql = _insert_sql(model, using, len(chunk))
        params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in chunk for field in written]
        with cursor(using) as db:
            db.execute(sql, params)
            keys = [row[0] for row in db.fetchall()]
        for obj, pk in zip(chunk, keys, strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = using


def _written_on_insert(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if field is not model._meta.auto_field]


@functools.lru_cache(maxsize=256)
def _insert_sql(model: type[models.Model], using: str, rows: int) -> str:
    quote = connections[using].ops.quote_name
    written = _written_on_insert(model)
    row = f"({placeholders(len(written))})"
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in written)}) "
        f"VALUES {', '.join([row] * rows)} RETURNING {quote(model._meta.pk.column)}"
    )


def update(obj: models.Model, fields: Sequence[str], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """`obj.save(update_fields=fields)` with the UPDATE built once per model and field list
    (fields with `auto_now` are set as save() sets them). No signals, as for `insert`."""
    model, connection = _writable(type(obj)), connections[using]
    sql = _update_sql(model, using, tuple(fields))
    written = [model._meta.get_field(name) for name in fields]
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in written]
    with cursor(using) as db:
        db.execute(sql, [*params, obj.pk])
        if db.rowcount != 1:
            raise model.DoesNotExist(f"{model.__name__} {obj.pk} was not updated")


@functools.lru_cache(maxsize=64)
def _update_insert_sql(model: type[models.Model], fields: tuple[str, ...], new_model: type[models.Model], using: str) -> str:
    return (
        f"WITH updated AS ({_update_sql(model, using, fields)} RETURNING 1) "
        f"{_insert_sql(new_model, using, 1)}, (SELECT count(*) FROM updated)"
    )


def update_and_insert(obj: models.Model, fields: Sequence[str], new: models.Model, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """`update(obj, fields)` and `insert([new])` in one round trip on PostgreSQL (the UPDATE in a
    WITH of the INSERT), in two statements elsewhere: for a hot path whose last writes are an
    update and an insert. Either both are written or, if a statement fails, the caller's
    transaction rolls back; a missing `obj` row raises DoesNotExist (the insert is then undone
    with the transaction, as after `update`)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        update(obj, fields, using=using)
        insert([new], using=using)
        return
    model, new_model = _writable(type(obj)), _writable(type(new))
    updated = [model._meta.get_field(name) for name in fields]
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in updated]
    params.append(obj.pk)
    params += [field.get_db_prep_save(field.pre_save(new, True), connection) for field in _written_on_insert(new_model)]
    with cursor(using) as db:
        db.execute(_update_insert_sql(model, tuple(fields), new_model, using), params)
        pk, count = db.fetchone()
    if count != 1:
        raise model.DoesNotExist(f"{model.__name__} {obj.pk} was not updated")
    new.pk = pk
    new._state.adding = False
    new._state.db = using
