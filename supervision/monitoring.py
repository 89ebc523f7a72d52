"""The rule set as set-based SQL (the nightly run and `run_monitoring`).

Each `sql_<rule>` selects the offending items in the database (one or two statements over the
whole range, portable between PostgreSQL and SQLite), then loads the few rows it found and
builds the findings with the same pure helpers as supervision.rules, so both round the same
way. The tests check every SQL rule against its pure predicate on the same data.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimLine
from core.audit import audit
from core.audit_actions import AuditAction
from core.money import to_fen
from members.models import Episode, Member

from . import rules as R
from .models import (
    Flag,
    FlagTransition,
    FrequencyLimit,
    MonitoringRun,
    RepeatedChargePair,
    Rule,
    SexRestrictedDrug,
    SupplyStandard,
)

SETTLED = Claim.Status.SETTLED


# ---------------------------------------------------------------------------------------
# Portable SQL pieces


def _days_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"(julianday({later}) - julianday({earlier}))"


def _month(column: str) -> str:
    """The month of a date, to group by (a date on PostgreSQL, 'YYYY-MM' text on SQLite)."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"strftime('%%Y-%%m', {column})"


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _month_date(value) -> date:
    if isinstance(value, date):
        return value.replace(day=1)
    year, month = value.split("-")[:2]
    return date(int(year), int(month), 1)


def _decimal(value) -> Decimal:
    # SQLite hands sums back as floats: read them to the fen.
    return to_fen(Decimal(str(value or 0)))


# ---------------------------------------------------------------------------------------
# Loading the facts of the rows a rule found (and, for the tests, of a whole range)

_CLAIM_FIELDS = ("id", "member_id", "visit_date", "provider_id", "provider__kind", "provider__level", "provider__district",
                 "total", "fully_self_paid", "fund", "account", "family_account", "balance_after", "treated_id_number")


def _claim_fact(row: dict, lines=()) -> R.ClaimFact:
    return R.ClaimFact(
        claim_id=row["id"], member_id=row["member_id"], visit_date=row["visit_date"], provider_id=row["provider_id"],
        provider_kind=row["provider__kind"] or "", provider_level=row["provider__level"] or "",
        provider_district=row["provider__district"] or "", total=row["total"], fully_self_paid=row["fully_self_paid"],
        fund=row["fund"], account=row["account"], family_account=row["family_account"], balance_after=row["balance_after"],
        lines=tuple(lines), outside_relative=bool(row["treated_id_number"]),
    )


def load_claims(queryset) -> dict[int, R.ClaimFact]:
    return {row["id"]: _claim_fact(row) for row in queryset.values(*_CLAIM_FIELDS)}


def _line_fact(row: dict) -> R.LineFact:
    return R.LineFact(
        line_id=row["id"], position=row["position"], code=row["catalog_item__code"], kind=row["catalog_item__kind"],
        quantity=row["quantity"], unit_price=row["unit_price"], amount=row["amount"],
        platform_price=row["catalog_item__platform_price"],
    )


_LINE_FIELDS = ("id", "claim_id", "position", "catalog_item__code", "catalog_item__kind", "quantity", "unit_price", "amount",
                "catalog_item__platform_price")


def load_lines(line_ids) -> tuple[dict[int, R.LineFact], dict[int, R.ClaimFact], dict[int, int]]:
    """(lines by id, their claims by id, claim id by line id)."""
    lines, claim_of = {}, {}
    for row in ClaimLine.objects.filter(pk__in=list(line_ids)).values(*_LINE_FIELDS):
        lines[row["id"]] = _line_fact(row)
        claim_of[row["id"]] = row["claim_id"]
    claims = load_claims(Claim.objects.filter(pk__in=set(claim_of.values())))
    return lines, claims, claim_of


def knowledge_base() -> R.KnowledgeBase:
    return R.KnowledgeBase(
        sex_drugs=dict(SexRestrictedDrug.objects.values_list("drug_code", "sex")),
        repeated_pairs=tuple(RepeatedChargePair.objects.values_list("main_code", "included_code", "period")),
        frequency={code: (max_count, unit) for code, max_count, unit in FrequencyLimit.objects.values_list("item_code", "max_count", "unit")},
        supply={code: (daily, chronic) for code, daily, chronic in SupplyStandard.objects.values_list("item_code", "daily_quantity", "chronic")},
        chronic_drugs=chronic_drugs(),
    )


def chronic_drugs() -> dict[str, frozenset[str]]:
    """Drug code → the diseases whose scope lists it, over the region's chronic policy versions."""
    from django.conf import settings

    from claims.models import PolicyVersion

    drugs: dict[str, set[str]] = defaultdict(set)
    for parameters in PolicyVersion.objects.filter(
        region=settings.REGION, kind=PolicyVersion.Kind.CHRONIC_SPECIAL
    ).values_list("parameters", flat=True):
        for disease, terms in (parameters.get("diseases") or {}).items():
            for code in (terms or {}).get("scope") or ():
                drugs[code].add(disease)
    return {code: frozenset(diseases) for code, diseases in drugs.items()}


def chronic_registrations_of(member_ids) -> dict[int, tuple]:
    """Approved chronic registrations by member: (disease code, valid from, valid to)."""
    from claims.models import ChronicRegistration

    found = defaultdict(list)
    rows = ChronicRegistration.objects.filter(member_id__in=list(member_ids), status=ChronicRegistration.Status.APPROVED)
    for member_id, code, start, end in rows.values_list("member_id", "disease__code", "valid_from", "valid_to"):
        found[member_id].append((code, start, end))
    return {member_id: tuple(items) for member_id, items in found.items()}


def facts_from_database(date_from: date, date_to: date, *, history_days: int = 400) -> R.Facts:
    """All settled claims around the range as facts (for checking the SQL against the predicates)."""
    start, end = date_from - timedelta(days=history_days), date_to + timedelta(days=31)
    claims = Claim.objects.filter(status=SETTLED, visit_date__range=(start, end))
    lines = defaultdict(list)
    for row in ClaimLine.objects.filter(claim__in=claims).order_by("claim_id", "position").values(*_LINE_FIELDS):
        lines[row["claim_id"]].append(_line_fact(row))
    facts = [_claim_fact(row, lines[row["id"]]) for row in claims.order_by("visit_date", "id").values(*_CLAIM_FIELDS)]
    member_ids = {claim.member_id for claim in facts}
    stays = defaultdict(list)
    for member_id, start_date, end_date in Episode.objects.filter(
        member_id__in=member_ids, kind=Episode.Kind.INPATIENT_STAY
    ).order_by("start_date").values_list("member_id", "start_date", "end_date"):
        stays[member_id].append((start_date, end_date))
    registrations = chronic_registrations_of(member_ids)
    members = {
        pk: R.MemberFact(pk, sex, died_on, tuple(stays[pk]), registrations.get(pk, ()))
        for pk, sex, died_on in Member.objects.filter(pk__in=member_ids).values_list("pk", "sex", "died_on")
    }
    return R.Facts(date_from, date_to, facts, members, knowledge_base())


# ---------------------------------------------------------------------------------------
# The rules in SQL

_IN_RANGE = "c.status = 'settled' AND c.visit_date BETWEEN %s AND %s"
# The person treated is the claim's member (not a relative outside the registry: rules.ClaimFact).
_THE_MEMBER = "c.treated_id_number = ''"


def sql_inpatient_visit(date_from, date_to, params):
    inside = ("e.start_date <= c.visit_date AND (e.end_date IS NULL OR c.visit_date <= e.end_date)"
              if params["include_admission_and_discharge_days"]
              else "e.start_date < c.visit_date AND (e.end_date IS NULL OR c.visit_date < e.end_date)")
    rows = _rows(
        f"SELECT c.id, MIN(e.start_date) FROM claims_claim c JOIN members_episode e ON e.member_id = c.member_id "
        f"AND e.kind = %s WHERE {_IN_RANGE} AND {_THE_MEMBER} AND {inside} GROUP BY c.id",
        [Episode.Kind.INPATIENT_STAY, date_from, date_to],
    )
    claims = load_claims(Claim.objects.filter(pk__in=[row[0] for row in rows]))
    return [R._claim_finding("inpatient_visit", claims[pk], _("Outpatient settlement during an inpatient stay."),
                             claims[pk].insured, stay_start=str(start)) for pk, start in rows]


def sql_after_death(date_from, date_to, params):
    rows = _rows(
        f"SELECT c.id, m.died_on FROM claims_claim c JOIN members_member m ON m.id = c.member_id "
        f"WHERE {_IN_RANGE} AND {_THE_MEMBER} AND m.died_on IS NOT NULL AND c.visit_date > m.died_on",
        [date_from, date_to],
    )
    claims = load_claims(Claim.objects.filter(pk__in=[row[0] for row in rows]))
    return [R._claim_finding("after_death", claims[pk], _("Settlement dated after the member's death."), claims[pk].insured,
                             died_on=str(died)) for pk, died in rows]


def _day_number(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} - DATE '2000-01-01')"
    return f"julianday({column})"


def sql_repeated_prescribing(date_from, date_to, params):
    """One window over the dispensings of each member and drug: a line is flagged when an
    earlier one still reaches past its date (reach = day + quantity ÷ daily quantity − tolerance).
    GROUPS … 1 PRECEDING leaves out the lines of the same settlement."""
    earliest = date_from - timedelta(days=params["lookback_days"])
    day = _day_number("c.visit_date")
    flagged = [row[0] for row in _rows(
        f"WITH dispensed AS ("
        f"  SELECT l.id AS line_id, c.id AS claim_id, c.member_id, l.catalog_item_id, c.visit_date, {day} AS day_number, "
        f"         {day} + l.quantity / s.daily_quantity - %s AS reach "
        f"  FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id "
        f"  JOIN claims_catalogitem i ON i.id = l.catalog_item_id JOIN supervision_supplystandard s ON s.item_code = i.code "
        f"  WHERE c.status = 'settled' AND c.visit_date BETWEEN %s AND %s"
        f"), covered AS ("
        f"  SELECT line_id, visit_date, day_number, MAX(reach) OVER (PARTITION BY member_id, catalog_item_id "
        f"    ORDER BY visit_date, claim_id GROUPS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_before "
        f"  FROM dispensed"
        f") SELECT line_id FROM covered WHERE visit_date BETWEEN %s AND %s AND reach_before > day_number",
        [params["tolerance_days"], earliest, date_to, date_from, date_to],
    )]
    # The evidence: which earlier dispensings each flagged line overlaps (few rows).
    previous = defaultdict(set)
    for start in range(0, len(flagged), 500):
        chunk = flagged[start:start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        for line_id, previous_id in _rows(
            f"SELECT l.id, p.id FROM claims_claimline l "
            f"JOIN claims_claim c ON c.id = l.claim_id "
            f"JOIN claims_catalogitem i ON i.id = l.catalog_item_id "
            f"JOIN supervision_supplystandard s ON s.item_code = i.code "
            f"JOIN claims_claim pc ON pc.member_id = c.member_id AND pc.status = 'settled' "
            f"  AND pc.visit_date BETWEEN %s AND c.visit_date "
            f"JOIN claims_claimline p ON p.claim_id = pc.id AND p.catalog_item_id = l.catalog_item_id "
            f"WHERE l.id IN ({marks}) AND (pc.visit_date < c.visit_date OR pc.id < c.id) "
            f"AND {_days_between('c.visit_date', 'pc.visit_date')} < p.quantity / s.daily_quantity - %s",
            [earliest, *chunk, params["tolerance_days"]],
        ):
            previous[line_id].add(previous_id)
    lines, claims, claim_of = load_lines({*previous, *(p for ids in previous.values() for p in ids)})
    found = []
    for line_id, earlier in previous.items():
        claim = claims[claim_of[line_id]]
        finding = R._line_finding("repeated_prescribing", claim, lines[line_id],
                                  _("The same drug was dispensed again before the previous supply ran out."),
                                  to_fen(lines[line_id].amount), previous_lines=sorted(earlier))
        finding.claims = sorted({claim.claim_id, *(claim_of[p] for p in earlier)})
        finding.lines = sorted({line_id, *earlier})
        found.append(finding)
    return found


def sql_over_quantity(date_from, date_to, params):
    rows = _rows(
        f"SELECT l.id, s.daily_quantity, s.chronic FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id "
        f"JOIN claims_catalogitem i ON i.id = l.catalog_item_id JOIN supervision_supplystandard s ON s.item_code = i.code "
        f"WHERE {_IN_RANGE} AND l.quantity > s.daily_quantity * (CASE WHEN s.chronic THEN %s ELSE %s END)",
        [date_from, date_to, params["chronic_max_days"], params["acute_max_days"]],
    )
    lines, claims, claim_of = load_lines(row[0] for row in rows)
    standards = dict(SupplyStandard.objects.filter(item_code__in={line.code for line in lines.values()}).values_list(
        "item_code", "daily_quantity"))
    found = []
    for line_id, _daily, chronic in rows:
        line = lines[line_id]
        limit = params["chronic_max_days"] if chronic else params["acute_max_days"]
        found.append(R._line_finding("over_quantity", claims[claim_of[line_id]], line, _("Days' supply above the limit."),
                                     R.excess_share(line.amount, line.quantity, standards[line.code] * limit), max_days=limit))
    return found


def _member_month_groups(rows, queryset, keep=lambda claim: True):
    """Claims of the (member, month) pairs in `rows`, grouped."""
    wanted = {(member_id, _month_date(month)) for member_id, month in rows}
    groups = defaultdict(list)
    if not wanted:
        return groups
    for claim in load_claims(queryset.filter(member_id__in={member_id for member_id, _month in wanted})).values():
        key = (claim.member_id, R.month_start(claim.visit_date))
        if key in wanted and keep(claim):
            groups[key].append(claim)
    return groups


def sql_frequent_visits(date_from, date_to, params):
    first, last = R.month_start(date_from), R.month_end(date_to)
    month = _month("c.visit_date")
    rows = _rows(
        f"SELECT c.member_id, {month} FROM claims_claim c WHERE c.status = 'settled' AND c.visit_date BETWEEN %s AND %s "
        f"GROUP BY c.member_id, {month} HAVING COUNT(*) > %s "
        f"AND SUM(CASE WHEN c.visit_date BETWEEN %s AND %s THEN 1 ELSE 0 END) > 0",
        [first, last, params["max_visits_per_month"], date_from, date_to],
    )
    groups = _member_month_groups(rows, Claim.objects.filter(status=SETTLED, visit_date__range=(first, last)))
    found = []
    for (member_id, start), claims in groups.items():
        latest = max(claims, key=lambda c: (c.visit_date, c.claim_id))
        found.append(R.Finding(
            rule="frequent_visits", item_key=f"member:{member_id}:{start:%Y-%m}", day=start,
            message=_("More settlements in a month than the limit."),
            amount=to_fen(sum((c.insured for c in claims), R.ZERO)), provider_id=latest.provider_id, member_id=member_id,
            claims=sorted(c.claim_id for c in claims), details={"visits": len(claims)},
        ))
    return found


def sql_two_places(date_from, date_to, params):
    distinct = "p.district" if params["different_district_only"] else "c.provider_id"
    rows = _rows(
        f"SELECT c.member_id, c.visit_date FROM claims_claim c JOIN pharmacies_provider p ON p.id = c.provider_id "
        f"WHERE {_IN_RANGE} GROUP BY c.member_id, c.visit_date HAVING COUNT(DISTINCT {distinct}) >= 2",
        [date_from, date_to],
    )
    wanted = {(member_id, day if isinstance(day, date) else date.fromisoformat(day)) for member_id, day in rows}
    groups = defaultdict(list)
    if wanted:
        queryset = Claim.objects.filter(status=SETTLED, provider__isnull=False, member_id__in={m for m, _ in wanted},
                                        visit_date__in={d for _, d in wanted})
        for claim in load_claims(queryset).values():
            if (claim.member_id, claim.visit_date) in wanted:
                groups[(claim.member_id, claim.visit_date)].append(claim)
    found = []
    for (member_id, day), claims in groups.items():
        latest = max(claims, key=lambda c: c.claim_id)
        found.append(R.Finding(
            rule="two_places", item_key=f"member:{member_id}:{day.isoformat()}", day=day,
            message=_("The member settled at two places far apart on the same day."),
            amount=to_fen(sum((c.insured for c in claims), R.ZERO)), provider_id=latest.provider_id, member_id=member_id,
            claims=sorted(c.claim_id for c in claims),
        ))
    return found


def sql_cash_out(date_from, date_to, params):
    unit_fen = int(Decimal(params["round_unit"]) * 100)
    drain_min, percent = Decimal(params["drain_min_amount"]), Decimal(params["self_paid_percent"])
    pharmacy = "JOIN pharmacies_provider p ON p.id = c.provider_id AND p.kind = 'pharmacy'"
    rows = _rows(
        f"SELECT c.id FROM claims_claim c {pharmacy} WHERE {_IN_RANGE} AND c.account > 0 AND ("
        f"(c.account >= %s AND c.balance_after = 0) OR (c.total > 0 AND c.fully_self_paid * 100 >= c.total * %s))",
        [date_from, date_to, drain_min, percent],
    )
    found = []
    for claim in load_claims(Claim.objects.filter(pk__in=[row[0] for row in rows])).values():
        if claim.account >= drain_min and claim.balance_after is not None and claim.balance_after == 0:
            found.append(R._claim_finding("cash_out", claim, _("The personal account was drained at a pharmacy."),
                                          claim.account, key=f"drain:claim:{claim.claim_id}", pattern="drain"))
        if claim.total > 0 and claim.fully_self_paid * 100 >= claim.total * percent:
            found.append(R._claim_finding("cash_out", claim, _("The personal account paid mostly for items outside the catalog."),
                                          claim.account, key=f"self_paid:claim:{claim.claim_id}", pattern="self_paid"))
    first, last = R.month_start(date_from), R.month_end(date_to)
    month = _month("c.visit_date")
    rows = _rows(
        f"SELECT c.member_id, {month} FROM claims_claim c {pharmacy} WHERE c.status = 'settled' "
        f"AND c.visit_date BETWEEN %s AND %s AND c.account > 0 AND c.total > 0 AND CAST(c.total * 100 AS BIGINT) %% %s = 0 "
        f"GROUP BY c.member_id, {month} HAVING COUNT(*) >= %s "
        f"AND SUM(CASE WHEN c.visit_date BETWEEN %s AND %s THEN 1 ELSE 0 END) > 0",
        [first, last, unit_fen, params["round_sum_count"], date_from, date_to],
    )
    queryset = Claim.objects.filter(status=SETTLED, visit_date__range=(first, last), provider__kind="pharmacy", account__gt=0)
    for (member_id, start), claims in _member_month_groups(rows, queryset, lambda c: R._round_sum(c.total, unit_fen)).items():
        latest = max(claims, key=lambda c: (c.visit_date, c.claim_id))
        found.append(R.Finding(
            rule="cash_out", item_key=f"round:member:{member_id}:{start:%Y-%m}", day=start,
            message=_("Repeated round-sum pharmacy purchases from the personal account."),
            amount=to_fen(sum((c.account for c in claims), R.ZERO)), provider_id=latest.provider_id, member_id=member_id,
            claims=sorted(c.claim_id for c in claims), details={"pattern": "round_sum"},
        ))
    return found


def sql_price_above_platform(date_from, date_to, params):
    pharmacy = "JOIN pharmacies_provider p ON p.id = c.provider_id AND p.kind = 'pharmacy'" if params["pharmacies_only"] else ""
    rows = _rows(
        f"SELECT l.id FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id {pharmacy} "
        f"JOIN claims_catalogitem i ON i.id = l.catalog_item_id WHERE {_IN_RANGE} "
        f"AND i.platform_price IS NOT NULL AND l.unit_price * 100 > i.platform_price * %s",
        [date_from, date_to, 100 + Decimal(params["tolerance_percent"])],
    )
    lines, claims, claim_of = load_lines(row[0] for row in rows)
    return [R._line_finding("price_above_platform", claims[claim_of[pk]], line, _("Unit price above the platform price."),
                            R.price_excess(line), platform_price=str(line.platform_price)) for pk, line in lines.items()]


def sql_sex_restricted_drug(date_from, date_to, params):
    rows = _rows(
        f"SELECT l.id, s.sex FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id "
        f"JOIN members_member m ON m.id = c.member_id JOIN claims_catalogitem i ON i.id = l.catalog_item_id "
        f"JOIN supervision_sexrestricteddrug s ON s.drug_code = i.code WHERE {_IN_RANGE} AND {_THE_MEMBER} AND s.sex <> m.sex",
        [date_from, date_to],
    )
    lines, claims, claim_of = load_lines(row[0] for row in rows)
    return [R._line_finding("sex_restricted_drug", claims[claim_of[pk]], lines[pk], _("Drug restricted to the other sex."),
                            to_fen(lines[pk].amount), restricted_to=sex) for pk, sex in rows]


def sql_repeated_charge(date_from, date_to, params):
    head = ("SELECT il.id, ml.id FROM claims_claimline il JOIN claims_claim c ON c.id = il.claim_id "
            "JOIN claims_catalogitem ii ON ii.id = il.catalog_item_id "
            "JOIN supervision_repeatedchargepair r ON r.included_code = ii.code ")
    main = "JOIN claims_catalogitem mi ON mi.id = ml.catalog_item_id AND mi.code = r.main_code "
    rows = _rows(
        f"{head} AND r.period <> %s JOIN claims_claimline ml ON ml.claim_id = il.claim_id AND ml.id <> il.id {main}"
        f"WHERE {_IN_RANGE} "
        f"UNION "
        f"{head} AND r.period = %s JOIN claims_claim mc ON mc.member_id = c.member_id AND mc.provider_id = c.provider_id "
        f"AND mc.visit_date = c.visit_date AND mc.status = 'settled' "
        f"JOIN claims_claimline ml ON ml.claim_id = mc.id AND ml.id <> il.id {main}WHERE {_IN_RANGE}",
        ["单日", date_from, date_to, "单日", date_from, date_to],
    )
    mains = defaultdict(set)
    for included, main_line in rows:
        mains[included].add(main_line)
    lines, claims, claim_of = load_lines({*mains, *(m for ids in mains.values() for m in ids)})
    found = []
    for line_id, main_lines in mains.items():
        claim = claims[claim_of[line_id]]
        finding = R._line_finding("repeated_charge", claim, lines[line_id], _("Item charged again with the item that includes it."),
                                  to_fen(lines[line_id].amount), main_lines=sorted(main_lines))
        finding.claims = sorted({claim.claim_id, *(claim_of[m] for m in main_lines)})
        finding.lines = sorted({line_id, *main_lines})
        found.append(finding)
    return found


def sql_frequency_limit(date_from, date_to, params):
    rows = _rows(
        f"SELECT c.member_id, i.code, c.visit_date FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id "
        f"JOIN claims_catalogitem i ON i.id = l.catalog_item_id JOIN supervision_frequencylimit f ON f.item_code = i.code "
        f"WHERE {_IN_RANGE} GROUP BY c.member_id, i.code, c.visit_date, f.max_count, f.unit "
        f"HAVING SUM(l.quantity) > f.max_count * (CASE WHEN f.unit = %s THEN %s ELSE 1 END)",
        [date_from, date_to, "小时", params["hours_per_day"]],
    )
    wanted = {(m, code, day if isinstance(day, date) else date.fromisoformat(day)) for m, code, day in rows}
    if not wanted:
        return []
    limits = {code: (max_count, unit) for code, max_count, unit in FrequencyLimit.objects.filter(
        item_code__in={code for _m, code, _d in wanted}).values_list("item_code", "max_count", "unit")}
    line_ids = ClaimLine.objects.filter(
        claim__status=SETTLED, claim__visit_date__range=(date_from, date_to), claim__member_id__in={m for m, _c, _d in wanted},
        catalog_item__code__in=set(limits),
    ).values_list("pk", flat=True)
    lines, claims, claim_of = load_lines(line_ids)
    groups = defaultdict(list)
    for line_id, line in lines.items():
        claim = claims[claim_of[line_id]]
        key = (claim.member_id, line.code, claim.visit_date)
        if key in wanted:
            groups[key].append((claim, line))
    found = []
    for (member_id, code, day), items in groups.items():
        allowed = R.frequency_allowed(*limits[code], params["hours_per_day"])
        quantity = sum((line.quantity for _c, line in items), Decimal(0))
        if quantity <= allowed:
            continue
        amount = sum((line.amount for _c, line in items), R.ZERO)
        latest = max((c for c, _l in items), key=lambda c: c.claim_id)
        found.append(R.Finding(
            rule="frequency_limit", item_key=f"member:{member_id}:{code}:{day.isoformat()}", day=day,
            message=_("Item charged more often than its limit."), amount=R.excess_share(amount, quantity, allowed),
            provider_id=latest.provider_id, member_id=member_id, claims=sorted({c.claim_id for c, _l in items}),
            lines=sorted(line.line_id for _c, line in items), details={"quantity": str(quantity), "allowed": str(allowed)},
        ))
    return found


def sql_provider_indicators(date_from, date_to, params):
    wanted = R.months_ending_in(date_from, date_to)
    if not wanted:
        return []
    month = _month("c.visit_date")
    rows = _rows(
        f"SELECT c.provider_id, p.kind, p.level, {month}, COUNT(*), SUM(c.total), SUM(c.fully_self_paid) "
        f"FROM claims_claim c JOIN pharmacies_provider p ON p.id = c.provider_id "
        f"WHERE c.status = 'settled' AND c.visit_date BETWEEN %s AND %s GROUP BY c.provider_id, p.kind, p.level, {month}",
        [R.previous_month(wanted[0]), R.month_end(wanted[-1])],
    )
    months = [R.ProviderMonth(pk, kind, level or "", _month_date(m), visits, _decimal(total), _decimal(self_paid))
              for pk, kind, level, m, visits, total, self_paid in rows]
    return R.indicator_findings(months, wanted, params)


def sql_chronic_drug_unregistered(date_from, date_to, params):
    drugs = chronic_drugs()
    if not drugs:
        return []
    codes = sorted(drugs)
    rows = _rows(
        f"SELECT l.id, c.member_id, c.visit_date, i.code FROM claims_claimline l JOIN claims_claim c ON c.id = l.claim_id "
        f"JOIN claims_catalogitem i ON i.id = l.catalog_item_id "
        f"WHERE {_IN_RANGE} AND i.code IN ({', '.join(['%s'] * len(codes))})",
        [date_from, date_to, *codes],
    )
    registrations = chronic_registrations_of({row[1] for row in rows})
    wanted = [
        pk for pk, member_id, day, code in rows
        if not R.chronic_registration_covers(
            registrations.get(member_id, ()), drugs[code], day if isinstance(day, date) else date.fromisoformat(str(day)[:10]))
    ]
    lines, claims, claim_of = load_lines(wanted)
    return [R._line_finding("chronic_drug_unregistered", claims[claim_of[pk]], lines[pk],
                            _("Chronic disease drug bought without a chronic disease registration."),
                            to_fen(lines[pk].amount), diseases=sorted(drugs[lines[pk].code])) for pk in wanted]


SQL_RULES = {
    "inpatient_visit": sql_inpatient_visit,
    "after_death": sql_after_death,
    "repeated_prescribing": sql_repeated_prescribing,
    "over_quantity": sql_over_quantity,
    "frequent_visits": sql_frequent_visits,
    "two_places": sql_two_places,
    "cash_out": sql_cash_out,
    "price_above_platform": sql_price_above_platform,
    "sex_restricted_drug": sql_sex_restricted_drug,
    "repeated_charge": sql_repeated_charge,
    "frequency_limit": sql_frequency_limit,
    "provider_indicators": sql_provider_indicators,
    "chronic_drug_unregistered": sql_chronic_drug_unregistered,
}


# ---------------------------------------------------------------------------------------
# The run


def rules_ensure() -> None:
    """Every rule of the library has its row (the data migration creates them; this repairs)."""
    existing = set(Rule.objects.values_list("code", flat=True))
    for code, spec in R.RULES.items():
        if code not in existing:
            Rule.objects.create(code=code, description=spec.description, parameters={})


def _raise_flags(rule: Rule, findings: list[R.Finding], params: dict, run: MonitoringRun | None) -> int:
    """Store the findings not flagged before by this rule; return how many were new."""
    by_key = {}
    for finding in findings:
        by_key.setdefault(finding.item_key, finding)
    raised = 0
    keys = list(by_key)
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        known = set(Flag.objects.filter(rule=rule, item_key__in=chunk).values_list("item_key", flat=True))
        new = [
            Flag(rule=rule, item_key=key, day=f.day, provider_id=f.provider_id, member_id=f.member_id, claim_id=f.claim_id,
                 message=str(f.message)[:300], amount_at_stake=f.amount, run=run,
                 evidence={"claims": f.claims, "lines": f.lines, "parameters": params, **f.details})
            for key, f in ((k, by_key[k]) for k in chunk) if key not in known
        ]
        try:
            with transaction.atomic():
                created = Flag.objects.bulk_create(new)
                FlagTransition.objects.bulk_create(
                    [FlagTransition(flag=flag, from_status="", to_status=Flag.Status.NEW, action="raise") for flag in created]
                )
        except IntegrityError:  # a concurrent run flagged some of them first: take the rest one by one
            created = []
            for flag in new:
                try:
                    with transaction.atomic():
                        flag.save()
                        FlagTransition.objects.create(flag=flag, from_status="", to_status=Flag.Status.NEW, action="raise")
                        created.append(flag)
                except IntegrityError:
                    pass
        raised += len(created)
    return raised


def monitoring_run(*, date_from: date, date_to: date, user=None, codes: list[str] | None = None) -> MonitoringRun:
    """Run the rules in force over settlements dated `date_from`..`date_to` and raise flags.

    Not one transaction: each rule stores its flags in its own, so a long run holds no lock
    and a failure loses only the rule that failed (a re-run flags nothing twice)."""
    rules_ensure()
    run = MonitoringRun.objects.create(date_from=date_from, date_to=date_to, started_by=user if getattr(user, "pk", None) else None)
    rules = [rule for rule in Rule.objects.order_by("code") if rule.enabled and (codes is None or rule.code in codes)
             and (rule.effective_from is None or rule.effective_from <= date_to)
             and (rule.effective_to is None or rule.effective_to >= date_from)]
    per_rule = {}
    for rule in rules:
        params = R.parameters_of(rule.code, rule.parameters)
        started = time.perf_counter()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A batch job's sorts and hashes (window, GROUP BY member-day) stay in memory.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL work_mem = '256MB'")
            findings = SQL_RULES[rule.code](date_from, date_to, params)
        raised = _raise_flags(rule, findings, params, run)
        per_rule[rule.code] = {"seconds": round(time.perf_counter() - started, 3), "findings": len(findings), "raised": raised}
    run.rules_run = [rule.code for rule in rules]
    run.per_rule = per_rule
    run.flags_raised = sum(item["raised"] for item in per_rule.values())
    run.claims_checked = Claim.objects.filter(status=SETTLED, visit_date__range=(date_from, date_to)).count()
    run.finished_at = timezone.now()
    run.save()
    audit(actor=user, action=AuditAction.SUPERVISION_MONITORING_RUN, target=run, date_from=str(date_from), date_to=str(date_to),
          flags_raised=run.flags_raised)
    return run

