"""The gateway's reads on the settlement path as fixed SQL (core.sql, as claims.settlement_queries
does for the REST settlement): prepared once per connection on PostgreSQL instead of built by
the ORM on every message."""

from __future__ import annotations

from django.db import models

from claims.models import Claim
from core.sql import Statement, columns, fields, for_update, instance
from members.models import Member

from .models import FeeLine, Visit


def _table(model: type[models.Model]) -> str:
    return f'"{model._meta.db_table}"'


_VISIT_SQL = f"""SELECT {columns(Visit, "v")}, {columns(Member, "m")}, {columns(Claim, "c")}
      FROM {_table(Visit)} v
      JOIN {_table(Member)} m ON m."id" = v."member_id"
      LEFT JOIN {_table(Claim)} c ON c."id" = v."claim_id"
     WHERE v."id" = %s"""
_VISIT_FIELDS = fields(Visit) + fields(Member) + fields(Claim)
_VISIT = Statement(_VISIT_SQL, _VISIT_FIELDS)
_VISIT_LOCKED = None


def visit(pk: int, *, lock: bool) -> Visit | None:
    """The visit with its member and settlement in force; locked (its row only) when `lock`."""
    global _VISIT_LOCKED
    query = _VISIT
    if lock and for_update():
        if _VISIT_LOCKED is None:
            _VISIT_LOCKED = Statement(_VISIT_SQL + " FOR UPDATE OF v", _VISIT_FIELDS)
        query = _VISIT_LOCKED
    row = query.first([pk])
    if row is None:
        return None
    visit_width, member_width = len(Visit._meta.concrete_fields), len(Member._meta.concrete_fields)
    result = instance(Visit, row[:visit_width])
    result.member = instance(Member, row[visit_width:visit_width + member_width])
    result.claim = instance(Claim, row[visit_width + member_width:])
    return result


_LINES = Statement(
    f"""SELECT {columns(FeeLine, "l")} FROM {_table(FeeLine)} l
         WHERE l."visit_id" = %s AND l."status" = %s ORDER BY l."id" """,
    fields(FeeLine),
)


def uploaded_lines(visit_id: int) -> list[FeeLine]:
    return [instance(FeeLine, row) for row in _LINES.rows([visit_id, FeeLine.Status.UPLOADED])]
