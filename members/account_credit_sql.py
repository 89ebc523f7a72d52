"""The month's credit plan (`members.account_credits`) as set-based SQL, portable between PostgreSQL
and SQLite.

One query describes every member of a pk range: the enrollment in force at the end of the
month, the account, the effective employment status, the formula branch taken for each credit
kind, the amount in fen and the skip reason. The run inserts ledger rows straight from it
(`INSERT … SELECT … ON CONFLICT DO NOTHING`), so no member row passes through Python.

Amounts are computed in integer fen so both databases round alike, half up, exactly as
`core.money.to_fen` does in the pure calculator:

    fen = (2 × basis_fen × numerator + denominator) DIV (2 × denominator)

which is `to_fen(basis × numerator / denominator)` for a non-negative basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection

from core.money import to_fen

from . import account_credits as c
from .in_force import spells_in_force_sql
from .models import Enrollment, LedgerEntry, Member, PersonalAccount

M = Member._meta.db_table
E = Enrollment._meta.db_table
A = PersonalAccount._meta.db_table
L = LedgerEntry._meta.db_table


@dataclass
class Query:
    sql: str
    params: list


def _fen(expression: str) -> str:
    """A money column as integer fen (exact on SQLite's REAL storage too)."""
    return f"CAST(ROUND(({expression}) * 100) AS BIGINT)"


def _ratio(basis_fen: str, numerator: int, denominator: int) -> str:
    numerator, denominator = int(numerator), int(denominator)
    return f"((2 * {basis_fen} * {numerator} + {denominator}) / {2 * denominator})"


class PlanSQL:
    """Builds the per-member query of one plan for a pk range of members."""

    def __init__(self, plan: c.Plan):
        self.plan = plan
        self.end = c.last_day(plan.month)
        self.kinds = [kind for kind in c.CREDIT_KINDS if plan.for_kind(kind)]

    # -- the facts of each member -------------------------------------------------------

    def _facts(self, low: int | None, high: int | None) -> Query:
        end, cutoff = self.end, self.plan.retirement_cutoff
        params: list = []
        columns = [
            "m.id AS member_id", "m.status AS member_status", "m.died_on AS died_on", "m.birth_date AS birth_date",
            "a.id AS account_id", "a.balance AS balance", "a.status AS account_status",
            "e.id AS spell_id", "e.employment_status AS spell_status", "e.scheme AS scheme",
            "e.category AS category", "e.sector AS sector", "e.civil_servant AS civil_servant",
            "e.monthly_pension AS monthly_pension",
        ]
        # Transitions (§3.1): retiree rates from the month of retirement (当月) or the next (次月).
        columns.append(
            "CASE WHEN e.employment_status = 'retired' AND (e.retired_on IS NULL OR e.retired_on < %s)"
            " THEN 'retired' ELSE 'in_service' END AS status_eff"
        )
        params.append(cutoff)
        # In service: the spell's base; in the retirement month before retiree rates apply
        # (Jinan 次月), the base of the last in-service spell.
        columns.append(
            "CASE WHEN e.employment_status = 'in_service' THEN e.contribution_base ELSE"
            f" (SELECT p.contribution_base FROM {E} p WHERE p.member_id = m.id"
            " AND p.employment_status = 'in_service' AND p.effective_from <= %s"
            " ORDER BY p.effective_from DESC LIMIT 1) END AS contribution_base"
        )
        params.append(end)
        formulas = self.plan.formulas
        years = sorted({f.year for f in formulas if f.basis == c.OWN_CREDITS_OF_YEAR})
        for year in years:
            # Yangzhou 二(二)2: the member's own credits of the year, carried over or from the ledger.
            columns.append(
                f"CASE WHEN a.carried_over_as_of IN (%s, %s) THEN a.carried_over_credits ELSE"
                f" (SELECT SUM(x.amount) FROM {L} x WHERE x.account_id = a.id"
                " AND x.kind IN ('monthly_credit', 'civil_servant_subsidy')"
                f" AND x.period >= %s AND x.period <= %s) END AS own_credits_{year}"
            )
            params += [date(year, 12, 31), date(year + 1, 1, 1), date(year, 1, 1), date(year, 12, 1)]
        anchors = sorted({f.anchor_end for f in formulas if f.basis == c.CIVIL_SERVANT_BASE})
        for index, anchor in enumerate(anchors):
            # Zaozhuang 第七条(三): the base (pension) of the anchor month, else the first one after.
            parts, part_params = [], []
            for status, column in (("retired", "monthly_pension"), ("in_service", "contribution_base")):
                # A new hire: the first spell marked 转正定级 that has started by the month's end,
                # else the first (probation) spell after the anchor.
                regularized, regularized_params = "", []
                if status == "in_service":
                    regularized = (
                        f" (SELECT s.{column} FROM {E} s WHERE s.member_id = m.id"
                        f" AND s.employment_status = '{status}' AND s.civil_servant = %s AND s.effective_from > %s"
                        " AND s.civil_servant_regularized = %s AND s.effective_from <= %s"
                        " ORDER BY s.effective_from ASC LIMIT 1),"
                    )
                    regularized_params = [True, anchor, True, end]
                parts.append(
                    f"COALESCE((SELECT s.{column} FROM {E} s WHERE s.member_id = m.id"
                    f" AND s.employment_status = '{status}' AND s.civil_servant = %s AND s.effective_from <= %s"
                    " ORDER BY s.effective_from DESC LIMIT 1),"
                    f"{regularized}"
                    f" (SELECT s.{column} FROM {E} s WHERE s.member_id = m.id"
                    f" AND s.employment_status = '{status}' AND s.civil_servant = %s AND s.effective_from > %s"
                    " ORDER BY s.effective_from ASC LIMIT 1))"
                )
                part_params += [True, anchor, *regularized_params, True, anchor]
            columns.append(
                "CASE WHEN e.employment_status = 'retired' AND (e.retired_on IS NULL OR e.retired_on < %s)"
                f" THEN {parts[0]} ELSE {parts[1]} END AS cs_base_{index}"
            )
            params += [cutoff] + part_params
        self._anchor_index = {anchor: index for index, anchor in enumerate(anchors)}
        # The range is repeated on each joined table so the planner reads only the chunk's rows
        # through the member_id indexes instead of hashing whole tables.
        ranges = {alias: ("1 = 1", []) if low is None else (f"{alias} >= %s AND {alias} < %s", [low, high])
                  for alias in ("m.id", "a.member_id", "s.member_id")}
        sql = (
            f"SELECT {', '.join(columns)} FROM {M} m"
            f" LEFT JOIN {A} a ON a.member_id = m.id AND {ranges['a.member_id'][0]}"
            # The spell in force at the end of the month: the latest one started by then.
            f" LEFT JOIN {spells_in_force_sql(ranges['s.member_id'][0])} e"
            " ON e.member_id = m.id"
            f" WHERE {ranges['m.id'][0]}"
        )
        return Query(sql, params + ranges["a.member_id"][1] + [end] + ranges["s.member_id"][1] + ranges["m.id"][1])

    # -- branches, amounts, reasons ---------------------------------------------------------

    def _predicate(self, formula: c.Formula) -> tuple[str, list]:
        parts, params = [], []
        if formula.employment_status:
            parts.append("f.status_eff = %s")
            params.append(formula.employment_status)
        if formula.category:
            parts.append("f.category = %s")
            params.append(formula.category)
        if formula.sector:
            parts.append("f.sector = %s")
            params.append(formula.sector)
        if formula.civil_servant_only:
            parts.append("f.civil_servant = %s")
            params.append(True)
        if formula.born_before is not None:
            parts.append("f.birth_date < %s")
            params.append(formula.born_before)
        if formula.born_on_or_after is not None:
            parts.append("f.birth_date >= %s")
            params.append(formula.born_on_or_after)
        return (" AND ".join(parts) or "1 = 1"), params

    def _eligible(self) -> tuple[str, list]:
        return (
            "(f.member_status = 'active' OR (f.member_status = 'deceased' AND f.died_on >= %s))"
            " AND f.spell_id IS NOT NULL AND f.scheme = 'combined'"
            " AND (f.account_status IS NULL OR f.account_status <> 'closed')",
            [self.end],
        )

    def _value(self, formula: c.Formula) -> tuple[str, list]:
        if formula.missing or formula.basis == c.NONE:
            return "NULL", []
        if formula.basis == c.FIXED:
            if formula.fixed_amount is None:
                return "NULL", []
            return str(int(formula.fixed_amount * 100)), []
        column = {
            c.CONTRIBUTION_BASE: "g.contribution_base",
            c.MONTHLY_PENSION: "g.monthly_pension",
        }.get(formula.basis)
        if formula.basis == c.OWN_CREDITS_OF_YEAR:
            column = f"g.own_credits_{formula.year}"
        elif formula.basis == c.CIVIL_SERVANT_BASE:
            column = f"g.cs_base_{self._anchor_index[formula.anchor_end]}"
        if column is None:
            return "NULL", []
        return _ratio(_fen(column), formula.numerator, formula.denominator), []

    def query(self, low: int | None = None, high: int | None = None) -> Query:
        """Columns: member_id, account_id, balance, branch_<kind>, fen_<kind>, reason."""
        facts = self._facts(low, high)
        eligible, eligible_params = self._eligible()
        branch_columns, branch_params = [], []
        self.branches: dict[str, list[c.Formula]] = {}
        for kind in self.kinds:
            formulas = self.plan.for_kind(kind)
            self.branches[kind] = formulas
            whens, params = [], []
            for index, formula in enumerate(formulas):
                predicate, predicate_params = self._predicate(formula)
                whens.append(f"WHEN {predicate} THEN {index}")
                params += predicate_params
            branch_columns.append(
                f"CASE WHEN NOT ({eligible}) THEN NULL {' '.join(whens)} ELSE -1 END AS branch_{kind}"
            )
            branch_params += eligible_params + params
        middle = f"SELECT {', '.join(['f.*', *branch_columns])} FROM ({facts.sql}) f"

        value_columns = []
        for kind in self.kinds:
            whens = []
            for index, formula in enumerate(self.branches[kind]):
                value, _ = self._value(formula)
                if value != "NULL":
                    whens.append(f"WHEN {index} THEN {value}")
            value_columns.append(
                f"CASE g.branch_{kind} {' '.join(whens)} ELSE NULL END AS fen_{kind}" if whens
                else f"NULL AS fen_{kind}"
            )
        reason = self._reason()
        outer = (
            "SELECT " + ", ".join(
                ["g.member_id", "g.account_id", "g.balance", "g.member_status", "g.died_on", "g.spell_id",
                 "g.scheme", "g.account_status"]
                + [f"g.branch_{kind}" for kind in self.kinds] + value_columns
            )
            + f" FROM ({middle}) g"
        )
        final = f"SELECT h.*, {reason} AS reason FROM ({outer}) h"
        return Query(final, [self.end] + branch_params + facts.params)

    def _reason(self) -> str:
        """The skip reason for the monthly credit: the same codes, in the same order, as
        `credits.member_credits`. One parameter: the month's last day."""
        monthly = c.MONTHLY_CREDIT
        whens = []
        for index, formula in enumerate(self.branches.get(monthly, [])):
            if formula.basis == c.NONE:
                whens.append(f"WHEN h.branch_{monthly} = {index} THEN '{formula.skip_reason}'")
            else:
                whens.append(
                    f"WHEN h.branch_{monthly} = {index} AND (h.fen_{monthly} IS NULL OR h.fen_{monthly} <= 0)"
                    f" THEN '{c.SKIP_FOR_BASIS[formula.basis]}'"
                )
        no_rule = (
            f"WHEN h.branch_{monthly} = -1 THEN '{c.SKIP_NO_RULE}'" if monthly in self.kinds
            else f"WHEN 1 = 1 THEN '{c.SKIP_NO_RULE}'"
        )
        return (
            "CASE WHEN NOT (h.member_status = 'active' OR (h.member_status = 'deceased' AND h.died_on >= %s))"
            f" THEN '{c.SKIP_MEMBER_INACTIVE}'"
            f" WHEN h.spell_id IS NULL THEN '{c.SKIP_NOT_ENROLLED}'"
            f" WHEN h.scheme <> 'combined' THEN '{c.SKIP_POOLED_ONLY}'"
            f" WHEN h.account_status = 'closed' THEN '{c.SKIP_ACCOUNT_CLOSED}'"
            f" {no_rule} {' '.join(whens)} ELSE NULL END"
        )


def missing_in_use(plan: c.Plan) -> list[str]:
    """What the plan lacks (a reference value, a percentage) that some member would need."""
    builder = PlanSQL(plan)
    query = builder.query()
    missing = []
    for kind in builder.kinds:
        for index, formula in enumerate(builder.branches[kind]):
            if not formula.missing:
                continue
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql" and connection.in_atomic_block:
                    cursor.execute("SET LOCAL jit = off")
                cursor.execute(f"SELECT 1 FROM ({query.sql}) q WHERE q.branch_{kind} = {index} LIMIT 1", query.params)
                if cursor.fetchone():
                    missing += formula.missing
    return sorted(set(missing))


def credit_range(*, plan: c.Plan, low: int, high: int, reference: str, user_id: int | None) -> dict:
    """Credit the members with low <= pk < high. The caller holds the transaction.

    1. lock the range's accounts (in pk order, like `account_lock`);
    2. open an account for each member due a credit who has none;
    3. per credit kind: insert the entries (`ON CONFLICT DO NOTHING`: a month is credited once
       per account and kind), then add the new entries to the cached balances;
    4. count what was credited and why the others were skipped.
    """
    from django.utils import timezone

    builder = PlanSQL(plan)
    query = builder.query(low, high)
    ops = connection.ops
    month = ops.adapt_datefield_value(plan.month)
    now = ops.adapt_datetimefield_value(timezone.now())
    stats = {"accounts_opened": 0, "members_credited": 0, "total": Decimal(0),
             "civil_servant_total": Decimal(0), "skipped": {}}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Compiling these queries costs more than running them on a chunk.
            cursor.execute("SET LOCAL jit = off")
            # The statement's joins are over a chunk's rows; hashing beats 100,000 index probes.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT a.id FROM {A} a WHERE a.member_id >= %s AND a.member_id < %s"
                " ORDER BY a.id FOR UPDATE) s",
                [low, high],
            )
        # SQLite: the transaction already holds the database's write lock (IMMEDIATE).
        due = " OR ".join(f"q.fen_{kind} > 0" for kind in builder.kinds) or "1 = 0"
        cursor.execute(
            f"INSERT INTO {A} (member_id, balance, status, opened_on) SELECT q.member_id, 0, 'open', %s"
            f" FROM ({query.sql}) q WHERE q.account_id IS NULL AND ({due}) ON CONFLICT DO NOTHING",
            [month, *query.params],
        )
        stats["accounts_opened"] = max(cursor.rowcount, 0)
        if connection.vendor == "postgresql":
            rows = _post_postgresql(cursor, builder, query, month=month, now=now, reference=reference,
                                    user_id=user_id)
        else:
            rows = _post_portable(cursor, builder, query, month=month, now=now, reference=reference,
                                  user_id=user_id, low=low, high=high)
    credited, total, civil, monthly_new = rows["credited"]
    stats["members_credited"] = credited or 0
    stats["total"] = to_fen(Decimal(str(total or 0)))
    stats["civil_servant_total"] = to_fen(Decimal(str(civil or 0)))
    for reason, count in rows["reasons"]:
        if reason is None:
            already = count - (monthly_new or 0)
            if already:
                stats["skipped"]["already_credited"] = already
        else:
            stats["skipped"][reason] = count
    return stats


def _insert_columns() -> str:
    return (f"INSERT INTO {L} (account_id, kind, amount, balance_after, period, reference, memo,"
            " created_at, created_by_id)")


def _post_postgresql(cursor, builder, query, *, month, now, reference, user_id) -> dict:
    """One statement: the chunk's facts are computed once (a materialized CTE), the entries are
    inserted (`ON CONFLICT DO NOTHING`), the balances of the accounts that got a new entry are
    raised by exactly what was inserted (RETURNING), and the counts come back."""
    monthly, subsidy = c.MONTHLY_CREDIT, c.CIVIL_SERVANT_SUBSIDY
    ctes, params = [f"q AS MATERIALIZED ({query.sql})"], list(query.params)
    inserted = []
    if monthly in builder.kinds:
        amount = f"(q.fen_{monthly} * 0.01)"
        ctes.append(
            f"ins_{monthly} AS ({_insert_columns()} SELECT q.account_id, %s, {amount}, q.balance + {amount},"
            " %s, %s, '', %s, CAST(%s AS BIGINT) FROM q"
            f" WHERE q.account_id IS NOT NULL AND q.fen_{monthly} > 0"
            " ON CONFLICT DO NOTHING RETURNING account_id, kind, amount)"
        )
        params += [monthly, month, reference, now, user_id]
        inserted.append(monthly)
    if subsidy in builder.kinds:
        amount = f"(q.fen_{subsidy} * 0.01)"
        # The subsidy's balance_after counts the normal credit inserted just before it.
        before, join = "q.balance", ""
        if monthly in inserted:
            before = "q.balance + COALESCE(n.amount, 0)"
            join = f" LEFT JOIN ins_{monthly} n ON n.account_id = q.account_id"
        ctes.append(
            f"ins_{subsidy} AS ({_insert_columns()} SELECT q.account_id, %s, {amount}, {before} + {amount},"
            f" %s, %s, '', %s, CAST(%s AS BIGINT) FROM q{join}"
            f" WHERE q.account_id IS NOT NULL AND q.fen_{subsidy} > 0"
            " ON CONFLICT DO NOTHING RETURNING account_id, kind, amount)"
        )
        params += [subsidy, month, reference, now, user_id]
        inserted.append(subsidy)
    if inserted:
        union = " UNION ALL ".join(f"SELECT account_id, kind, amount FROM ins_{kind}" for kind in inserted)
        ctes.append(f"new AS ({union})")
    else:
        ctes.append("new AS (SELECT CAST(NULL AS BIGINT) AS account_id, '' AS kind, CAST(0 AS NUMERIC) AS amount"
                    " WHERE false)")
    ctes.append(
        f"upd AS (UPDATE {A} SET balance = {A}.balance + t.total"
        " FROM (SELECT account_id, SUM(amount) AS total FROM new GROUP BY account_id) t"
        f" WHERE {A}.id = t.account_id RETURNING 1)"
    )
    cursor.execute(
        f"WITH {', '.join(ctes)}"
        " SELECT 0 AS part, NULL AS reason, (SELECT COUNT(*) FROM upd), (SELECT SUM(amount) FROM new),"
        f" (SELECT SUM(amount) FROM new WHERE kind = '{subsidy}'),"
        f" (SELECT COUNT(*) FROM new WHERE kind = '{monthly}')"
        " UNION ALL SELECT 1, q.reason, COUNT(*), NULL, NULL, NULL FROM q GROUP BY q.reason",
        params,
    )
    rows = cursor.fetchall()
    return {
        "credited": next(row[2:] for row in rows if row[0] == 0),
        "reasons": [(row[1], row[2]) for row in rows if row[0] == 1],
    }


def _post_portable(cursor, builder, query, *, month, now, reference, user_id, low, high) -> dict:
    """The same, statement by statement (SQLite has no data-modifying CTEs): the range's accounts
    are locked, so the entries above the ledger's id watermark are exactly the ones just inserted."""
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {L}")
    watermark = cursor.fetchone()[0]
    for kind in builder.kinds:
        amount = f"(q.fen_{kind} * 0.01)"
        cursor.execute(
            f"{_insert_columns()} SELECT q.account_id, %s, {amount}, q.balance + {amount}, %s, %s, '', %s,"
            f" CAST(%s AS BIGINT) FROM ({query.sql}) q WHERE q.account_id IS NOT NULL AND q.fen_{kind} > 0"
            " ON CONFLICT DO NOTHING",
            [kind, month, reference, now, user_id, *query.params],
        )
        cursor.execute(
            f"UPDATE {A} SET balance = {A}.balance + l.amount FROM {L} l"
            f" WHERE l.account_id = {A}.id AND l.id > %s AND l.kind = %s AND l.period = %s",
            [watermark, kind, month],
        )
    cursor.execute(
        f"SELECT COUNT(DISTINCT l.account_id), SUM(l.amount),"
        " SUM(CASE WHEN l.kind = 'civil_servant_subsidy' THEN l.amount ELSE 0 END),"
        " SUM(CASE WHEN l.kind = 'monthly_credit' THEN 1 ELSE 0 END)"
        f" FROM {L} l JOIN {A} a ON a.id = l.account_id"
        " WHERE l.id > %s AND l.period = %s AND l.kind IN ('monthly_credit', 'civil_servant_subsidy')"
        " AND a.member_id >= %s AND a.member_id < %s",
        [watermark, month, low, high],
    )
    credited = cursor.fetchone()
    cursor.execute(f"SELECT q.reason, COUNT(*) FROM ({query.sql}) q GROUP BY q.reason", query.params)
    return {"credited": credited, "reasons": cursor.fetchall()}


def member_facts(member: Member) -> c.MemberFacts:
    """One member as the pure calculator sees it (for previews and the agreement tests)."""
    from django.db.models import Sum
    from django.db.models.functions import ExtractYear

    account = PersonalAccount.objects.filter(member=member).first()
    by_year = {}
    if account is not None:
        rows = (
            LedgerEntry.objects.filter(account=account, kind__in=LedgerEntry.CREDIT_KINDS)
            .annotate(year=ExtractYear("period")).values("year").annotate(total=Sum("amount"))
        )
        by_year = {row["year"]: row["total"] for row in rows}
    return c.MemberFacts(
        birth_date=member.birth_date,
        status=member.status,
        died_on=member.died_on,
        spells=tuple(
            c.Spell(
                effective_from=e.effective_from, employment_status=e.employment_status, scheme=e.scheme,
                category=e.category, sector=e.sector, civil_servant=e.civil_servant,
                civil_servant_regularized=e.civil_servant_regularized,
                contribution_base=e.contribution_base, monthly_pension=e.monthly_pension, retired_on=e.retired_on,
            )
            for e in member.enrollments.all()
        ),
        account_status=account.status if account else None,
        carried_over_credits=account.carried_over_credits if account else None,
        carried_over_as_of=account.carried_over_as_of if account else None,
        ledger_credits_by_year=by_year,
    )
