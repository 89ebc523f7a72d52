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


_VISIT_LINES_SQL = f"""SELECT {columns(Visit, "v")}, {columns(Member, "m")}, {columns(Claim, "c")}, {columns(FeeLine, "l")}
      FROM {_table(Visit)} v
      JOIN {_table(Member)} m ON m."id" = v."member_id"
      LEFT JOIN {_table(Claim)} c ON c."id" = v."claim_id"
      LEFT JOIN {_table(FeeLine)} l ON l."visit_id" = v."id" AND l."status" = %s
     WHERE v."id" = %s
     ORDER BY l."id"
"""
_VISIT_LINES_FIELDS = _VISIT_FIELDS + fields(FeeLine)
_VISIT_LINES = Statement(_VISIT_LINES_SQL, _VISIT_LINES_FIELDS)
_VISIT_LINES_LOCKED = None


def visit_with_lines(pk: int, *, lock: bool) -> tuple[Visit | None, list[FeeLine]]:
    """The visit (as `visit`) and its uploaded lines in one statement: the settlement path."""
    global _VISIT_LINES_LOCKED
    query = _VISIT_LINES
    if lock and for_update():
        if _VISIT_LINES_LOCKED is None:
            _VISIT_LINES_LOCKED = Statement(_VISIT_LINES_SQL + " FOR UPDATE OF v", _VISIT_LINES_FIELDS)
        query = _VISIT_LINES_LOCKED
    rows = query.rows([FeeLine.Status.UPLOADED, pk])
    if not rows:
        return None, []
    visit_width, member_width = len(Visit._meta.concrete_fields), len(Member._meta.concrete_fields)
    head = visit_width + member_width + len(Claim._meta.concrete_fields)
    result = instance(Visit, rows[0][:visit_width])
    result.member = instance(Member, rows[0][visit_width:visit_width + member_width])
    result.claim = instance(Claim, rows[0][visit_width + member_width:head])
    lines = [line for line in (instance(FeeLine, row[head:]) for row in rows) if line is not None]
    return result, lines
