"""The rule library (规则库) as pure predicates: plain dataclasses in, findings out; no ORM.

Each rule has a code, a Chinese description, default parameters (auditors change them on the
Rule row; `validate_parameters` checks them) and a predicate over `Facts`. The nightly run does
the same thing as set-based SQL (supervision.monitoring); the tests check one against the other.
Amounts at stake are rounded once, to the fen, with core.money.to_fen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from claims.visit_facts import LineFact
from core.money import to_fen

ZERO = Decimal("0.00")


# ---------------------------------------------------------------------------------------
# Facts


@dataclass(frozen=True)
class ClaimFact:
    claim_id: int
    member_id: int
    visit_date: date
    provider_id: int | None
    provider_kind: str = "institution"
    provider_level: str = ""
    provider_district: str = ""
    total: Decimal = ZERO
    fully_self_paid: Decimal = ZERO
    fund: Decimal = ZERO
    account: Decimal = ZERO
    family_account: Decimal = ZERO
    balance_after: Decimal | None = None
    lines: tuple[LineFact, ...] = ()
    # An account-only settlement for a relative outside the registry: `member_id` is the
    # account's owner, not the person treated, so the rules about the person's own body and
    # whereabouts (inpatient stay, death, sex) do not apply to it; those about the use of the
    # account (frequency, repeated purchases, cash-out) do.
    outside_relative: bool = False

    @property
    def insured(self) -> Decimal:
        """What the scheme paid for the visit: pooled fund plus personal and family accounts."""
        return self.fund + self.account + self.family_account


@dataclass(frozen=True)
class MemberFact:
    member_id: int
    sex: str
    died_on: date | None = None
    inpatient_stays: tuple[tuple[date, date | None], ...] = ()
    # Approved chronic/special disease registrations: (disease code, valid from, valid to).
    chronic_registrations: tuple[tuple[str, date, date | None], ...] = ()


@dataclass(frozen=True)
class KnowledgeBase:
    sex_drugs: dict[str, str] = field(default_factory=dict)  # drug code → "M"/"F"
    # (main code, included code, period)
    repeated_pairs: tuple[tuple[str, str, str], ...] = ()
    frequency: dict[str, tuple[Decimal, str]] = field(default_factory=dict)  # code → (max, unit)
    supply: dict[str, tuple[Decimal, bool]] = field(default_factory=dict)  # code → (per day, chronic)
    # Drugs a chronic/special disease's scope lists (the region's chronic policy): code → diseases.
    chronic_drugs: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Facts:
    """Everything the predicates may read: the settled claims (those in the range and the
    history the rules look back on), the members, the knowledge base."""

    date_from: date
    date_to: date
    claims: list[ClaimFact]
    members: dict[int, MemberFact]
    kb: KnowledgeBase

    def in_range(self, claim: ClaimFact) -> bool:
        return self.date_from <= claim.visit_date <= self.date_to


@dataclass
class Finding:
    rule: str
    item_key: str
    day: date
    message: str
    amount: Decimal
    provider_id: int | None = None
    member_id: int | None = None
    claim_id: int | None = None
    claims: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def signature(self) -> tuple:
        """What the SQL and the pure predicate must agree on."""
        return (self.rule, self.item_key, self.day, self.amount, self.provider_id, self.member_id,
                tuple(sorted(self.claims)), tuple(sorted(self.lines)))


# ---------------------------------------------------------------------------------------
# Shared pieces (the SQL side uses them too, so both round the same way)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def previous_month(day: date) -> date:
    return (month_start(day) - timedelta(days=1)).replace(day=1)


def months_ending_in(date_from: date, date_to: date) -> list[date]:
    """First days of the months whose last day falls in the range (complete months only)."""
    months, cursor = [], month_start(date_from)
    while cursor <= date_to:
        if date_from <= month_end(cursor) <= date_to:
            months.append(cursor)
        cursor = month_end(cursor) + timedelta(days=1)
    return months


def supply_days(quantity: Decimal, daily_quantity: Decimal) -> Decimal:
    return Decimal(quantity) / Decimal(daily_quantity)


def excess_share(amount: Decimal, total_quantity: Decimal, allowed_quantity: Decimal) -> Decimal:
    """The part of `amount` beyond the allowed quantity, to the fen."""
    if total_quantity <= 0:
        return ZERO
    return to_fen(Decimal(amount) * (Decimal(total_quantity) - Decimal(allowed_quantity)) / Decimal(total_quantity))


def frequency_allowed(max_count: Decimal, unit: str, hours_per_day: int) -> Decimal:
    # Claims carry a date, not a time: an hourly limit is checked as its daily maximum.
    return Decimal(max_count) * hours_per_day if unit == "小时" else Decimal(max_count)


def same_period_scope(period: str) -> str:
    """单日 compares the member's claims at one provider on one day; the other periods
    (单次就诊, 6小时, 同一小时) are judged within one visit."""
    return "day" if period == "单日" else "visit"


# ---------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class RuleSpec:
    code: str
    description: str  # Chinese, shown to the auditors
    defaults: dict
    predicate: object  # (facts, params) -> list[Finding]
    single_visit: bool = False


COMMON_DEFAULTS = {"appeal_days": 15}


def _line_finding(rule, claim: ClaimFact, line: LineFact, message, amount, **details) -> Finding:
    return Finding(rule=rule, item_key=f"line:{line.line_id}", day=claim.visit_date, message=message, amount=amount,
                   provider_id=claim.provider_id, member_id=claim.member_id, claim_id=claim.claim_id,
                   claims=[claim.claim_id], lines=[line.line_id], details=details)


def _claim_finding(rule, claim: ClaimFact, message, amount, key=None, **details) -> Finding:
    return Finding(rule=rule, item_key=key or f"claim:{claim.claim_id}", day=claim.visit_date, message=message,
                   amount=amount, provider_id=claim.provider_id, member_id=claim.member_id, claim_id=claim.claim_id,
                   claims=[claim.claim_id], details=details)


def inpatient_visit(facts: Facts, params: dict) -> list[Finding]:
    """Zaozhuang 第十一条: outpatient pooling is off during an inpatient stay."""
    edges = params["include_admission_and_discharge_days"]
    found = []
    for claim in facts.claims:
        if not facts.in_range(claim) or claim.outside_relative:
            continue
        member = facts.members.get(claim.member_id)
        for start, end in member.inpatient_stays if member else ():
            inside = (start <= claim.visit_date and (end is None or claim.visit_date <= end)) if edges else (
                start < claim.visit_date and (end is None or claim.visit_date < end))
            if inside:
                found.append(_claim_finding("inpatient_visit", claim, _("Outpatient settlement during an inpatient stay."),
                                            claim.insured, stay_start=start.isoformat()))
                break
    return found


def after_death(facts: Facts, params: dict) -> list[Finding]:
    """Jinan (二十): fake patients / someone else's identity — a visit after the member died."""
    found = []
    for claim in facts.claims:
        member = facts.members.get(claim.member_id)
        if facts.in_range(claim) and not claim.outside_relative and member and member.died_on and claim.visit_date > member.died_on:
            found.append(_claim_finding("after_death", claim, _("Settlement dated after the member's death."),
                                        claim.insured, died_on=member.died_on.isoformat()))
    return found


def repeated_prescribing(facts: Facts, params: dict) -> list[Finding]:
    """Jinan (十九) 重复开药: the same drug again, at any provider, before the last supply ran out."""
    tolerance, lookback = params["tolerance_days"], params["lookback_days"]
    earliest = facts.date_from - timedelta(days=lookback)
    by_member_code = defaultdict(list)
    for claim in facts.claims:
        if earliest <= claim.visit_date <= facts.date_to:
            for line in claim.lines:
                if line.code in facts.kb.supply:
                    by_member_code[(claim.member_id, line.code)].append((claim, line))
    found = []
    for (_member, code), dispensings in by_member_code.items():
        daily = facts.kb.supply[code][0]
        for claim, line in dispensings:
            if not facts.in_range(claim):
                continue
            previous = [
                (p_claim, p_line) for p_claim, p_line in dispensings
                if (p_claim.visit_date, p_claim.claim_id) < (claim.visit_date, claim.claim_id)
                and (claim.visit_date - p_claim.visit_date).days < supply_days(p_line.quantity, daily) - tolerance
            ]
            if previous:
                finding = _line_finding("repeated_prescribing", claim, line,
                                        _("The same drug was dispensed again before the previous supply ran out."),
                                        to_fen(line.amount), previous_lines=sorted(p.line_id for _c, p in previous))
                finding.claims = sorted({claim.claim_id, *(c.claim_id for c, _p in previous)})
                finding.lines = sorted({line.line_id, *(p.line_id for _c, p in previous)})
                found.append(finding)
    return found


def over_quantity(facts: Facts, params: dict) -> list[Finding]:
    """Jinan (十九) 超量开药: days' supply (quantity ÷ daily quantity) above 7 days acute / 30 chronic."""
    found = []
    for claim in facts.claims:
        if not facts.in_range(claim):
            continue
        for line in claim.lines:
            standard = facts.kb.supply.get(line.code)
            if standard is None:
                continue
            daily, chronic = standard
            limit = params["chronic_max_days"] if chronic else params["acute_max_days"]
            if supply_days(line.quantity, daily) > limit:
                found.append(_line_finding("over_quantity", claim, line, _("Days' supply above the limit."),
                                           excess_share(line.amount, line.quantity, daily * limit), max_days=limit))
    return found


def frequent_visits(facts: Facts, params: dict) -> list[Finding]:
    """More than N settlements in a calendar month for one member."""
    first, last = month_start(facts.date_from), month_end(facts.date_to)
    months = defaultdict(list)
    for claim in facts.claims:
        if first <= claim.visit_date <= last:
            months[(claim.member_id, month_start(claim.visit_date))].append(claim)
    found = []
    for (member_id, month), claims in months.items():
        if len(claims) > params["max_visits_per_month"] and any(facts.in_range(c) for c in claims):
            latest = max(claims, key=lambda c: (c.visit_date, c.claim_id))
            found.append(Finding(
                rule="frequent_visits", item_key=f"member:{member_id}:{month:%Y-%m}", day=month,
                message=_("More settlements in a month than the limit."),
                amount=to_fen(sum((c.insured for c in claims), ZERO)), provider_id=latest.provider_id,
                member_id=member_id, claims=sorted(c.claim_id for c in claims), details={"visits": len(claims)},
            ))
    return found


def two_places(facts: Facts, params: dict) -> list[Finding]:
    """Jinan (二十) 冒名就医: one member settles at providers in two districts on the same day."""
    days = defaultdict(list)
    for claim in facts.claims:
        if facts.in_range(claim) and claim.provider_id is not None:
            days[(claim.member_id, claim.visit_date)].append(claim)
    found = []
    for (member_id, day), claims in days.items():
        places = {c.provider_district for c in claims} if params["different_district_only"] else {c.provider_id for c in claims}
        if len(places) >= 2:
            latest = max(claims, key=lambda c: c.claim_id)
            found.append(Finding(
                rule="two_places", item_key=f"member:{member_id}:{day.isoformat()}", day=day,
                message=_("The member settled at two places far apart on the same day."),
                amount=to_fen(sum((c.insured for c in claims), ZERO)), provider_id=latest.provider_id,
                member_id=member_id, claims=sorted(c.claim_id for c in claims),
            ))
    return found


def _round_sum(total: Decimal, unit_fen: int) -> bool:
    return total > 0 and int(Decimal(total) * 100) % unit_fen == 0


def cash_out(facts: Facts, params: dict) -> list[Finding]:
    """Ziyang 第十七条 个人账户套现: pharmacy account spending in suspicious patterns."""
    unit_fen = int(Decimal(params["round_unit"]) * 100)
    drain_min = Decimal(params["drain_min_amount"])
    percent = Decimal(params["self_paid_percent"])
    first, last = month_start(facts.date_from), month_end(facts.date_to)
    rounds = defaultdict(list)
    found = []
    for claim in facts.claims:
        if claim.provider_kind != "pharmacy" or claim.account <= 0:
            continue
        if first <= claim.visit_date <= last and _round_sum(claim.total, unit_fen):
            rounds[(claim.member_id, month_start(claim.visit_date))].append(claim)
        if not facts.in_range(claim):
            continue
        if claim.account >= drain_min and claim.balance_after is not None and claim.balance_after == 0:
            found.append(_claim_finding("cash_out", claim, _("The personal account was drained at a pharmacy."),
                                        claim.account, key=f"drain:claim:{claim.claim_id}", pattern="drain"))
        if claim.total > 0 and claim.fully_self_paid * 100 >= claim.total * percent:
            found.append(_claim_finding("cash_out", claim, _("The personal account paid mostly for items outside the catalog."),
                                        claim.account, key=f"self_paid:claim:{claim.claim_id}", pattern="self_paid"))
    for (member_id, month), claims in rounds.items():
        if len(claims) >= params["round_sum_count"] and any(facts.in_range(c) for c in claims):
            latest = max(claims, key=lambda c: (c.visit_date, c.claim_id))
            found.append(Finding(
                rule="cash_out", item_key=f"round:member:{member_id}:{month:%Y-%m}", day=month,
                message=_("Repeated round-sum pharmacy purchases from the personal account."),
                amount=to_fen(sum((c.account for c in claims), ZERO)), provider_id=latest.provider_id,
                member_id=member_id, claims=sorted(c.claim_id for c in claims), details={"pattern": "round_sum"},
            ))
    return found


def price_above_platform_line(line: LineFact, provider_kind: str, params: dict) -> bool:
    if params["pharmacies_only"] and provider_kind != "pharmacy":
        return False
    if line.platform_price is None:
        return False
    return line.unit_price * 100 > line.platform_price * (100 + Decimal(params["tolerance_percent"]))


def price_excess(line: LineFact) -> Decimal:
    return to_fen((line.unit_price - line.platform_price) * line.quantity)


def price_above_platform(facts: Facts, params: dict) -> list[Finding]:
    """Ziyang 第二十一条: a pharmacy's price must not exceed the provincial platform price."""
    found = []
    for claim in facts.claims:
        if facts.in_range(claim):
            for line in claim.lines:
                if price_above_platform_line(line, claim.provider_kind, params):
                    found.append(_line_finding("price_above_platform", claim, line, _("Unit price above the platform price."),
                                               price_excess(line), platform_price=str(line.platform_price)))
    return found


def sex_restricted_drug(facts: Facts, params: dict) -> list[Finding]:
    """National rule library batch 1 (限定性别): a drug paid only for patients of one sex."""
    found = []
    for claim in facts.claims:
        member = facts.members.get(claim.member_id)
        if not facts.in_range(claim) or member is None or claim.outside_relative:
            continue
        for line in claim.lines:
            allowed = facts.kb.sex_drugs.get(line.code)
            if allowed and allowed != member.sex:
                found.append(_line_finding("sex_restricted_drug", claim, line, _("Drug restricted to the other sex."),
                                           to_fen(line.amount), restricted_to=allowed))
    return found


def chronic_registration_covers(registrations, diseases, day: date) -> bool:
    """Whether one of the member's registrations for one of `diseases` covers `day`."""
    return any(code in diseases and start <= day and (end is None or day <= end) for code, start, end in registrations)


def chronic_drug_unregistered(facts: Facts, params: dict) -> list[Finding]:
    """A chronic registration is a signal (issue 14, supervision): a drug the region's chronic
    policy lists in a disease's scope (antihypertensives and antidiabetics for 两病, Ziyang
    第九条) bought by a member with no registration for any disease whose scope lists it."""
    found = []
    for claim in facts.claims:
        if not facts.in_range(claim):
            continue
        member = facts.members.get(claim.member_id)
        registrations = member.chronic_registrations if member is not None else ()
        for line in claim.lines:
            diseases = facts.kb.chronic_drugs.get(line.code)
            if diseases and not chronic_registration_covers(registrations, diseases, claim.visit_date):
                found.append(_line_finding("chronic_drug_unregistered", claim, line,
                                           _("Chronic disease drug bought without a chronic disease registration."),
                                           to_fen(line.amount), diseases=sorted(diseases)))
    return found


def repeated_charge(facts: Facts, params: dict) -> list[Finding]:
    """National rule library batch 7 (重复收费): the included item charged with its main item."""
    pairs = defaultdict(set)  # included code → {(main code, scope)}
    for main, included, period in facts.kb.repeated_pairs:
        pairs[included].add((main, same_period_scope(period)))
    day_codes = defaultdict(lambda: defaultdict(list))  # (member, provider, day) → code → lines
    for claim in facts.claims:
        if facts.in_range(claim) and claim.provider_id is not None:
            for line in claim.lines:
                day_codes[(claim.member_id, claim.provider_id, claim.visit_date)][line.code].append((claim, line))
    found = []
    for claim in facts.claims:
        if not facts.in_range(claim):
            continue
        for line in claim.lines:
            mains = []
            for main, scope in pairs.get(line.code, ()):
                if scope == "visit":
                    mains += [(claim, m) for m in claim.lines if m.code == main and m.line_id != line.line_id]
                elif claim.provider_id is not None:
                    mains += [(c, m) for c, m in day_codes[(claim.member_id, claim.provider_id, claim.visit_date)].get(main, ())
                              if m.line_id != line.line_id]
            if mains:
                finding = _line_finding("repeated_charge", claim, line, _("Item charged again with the item that includes it."),
                                        to_fen(line.amount), main_lines=sorted({m.line_id for _c, m in mains}))
                finding.claims = sorted({claim.claim_id, *(c.claim_id for c, _m in mains)})
                finding.lines = sorted({line.line_id, *(m.line_id for _c, m in mains)})
                found.append(finding)
    return found


def frequency_limit(facts: Facts, params: dict) -> list[Finding]:
    """National rule library batch 8-1 (限定频次): more than the limit per day for one member."""
    groups = defaultdict(list)
    for claim in facts.claims:
        if facts.in_range(claim):
            for line in claim.lines:
                if line.code in facts.kb.frequency:
                    groups[(claim.member_id, line.code, claim.visit_date)].append((claim, line))
    found = []
    for (member_id, code, day), items in groups.items():
        max_count, unit = facts.kb.frequency[code]
        allowed = frequency_allowed(max_count, unit, params["hours_per_day"])
        quantity = sum((line.quantity for _c, line in items), Decimal(0))
        if quantity > allowed:
            amount = sum((line.amount for _c, line in items), ZERO)
            latest = max((c for c, _l in items), key=lambda c: c.claim_id)
            found.append(Finding(
                rule="frequency_limit", item_key=f"member:{member_id}:{code}:{day.isoformat()}", day=day,
                message=_("Item charged more often than its limit."), amount=excess_share(amount, quantity, allowed),
                provider_id=latest.provider_id, member_id=member_id, claims=sorted({c.claim_id for c, _l in items}),
                lines=sorted(line.line_id for _c, line in items), details={"quantity": str(quantity), "allowed": str(allowed)},
            ))
    return found


@dataclass(frozen=True)
class ProviderMonth:
    provider_id: int
    kind: str
    level: str
    month: date
    visits: int
    total: Decimal
    self_paid: Decimal


def _indicator_finding(m: ProviderMonth, indicator: str, message, amount, **details) -> Finding:
    return Finding(rule="provider_indicators", item_key=f"provider:{m.provider_id}:{m.month:%Y-%m}:{indicator}", day=m.month,
                   message=message, amount=max(to_fen(amount), ZERO), provider_id=m.provider_id,
                   details={"indicator": indicator, "visits": m.visits, "total": str(m.total), **details})


def indicator_findings(months: list[ProviderMonth], wanted: list[date], params: dict) -> list[Finding]:
    """Ziyang 第二十一条, Jinan (十七): a provider's monthly indicators beyond their bounds.

    - average cost per visit above `peer_ratio` × the average of providers of its kind and level;
    - total cost more than `growth_percent` % above the previous month;
    - out-of-catalog (fully self-paid) share above `out_of_catalog_percent` %.
    Only providers with at least `min_visits` visits in the month are judged.
    """
    ratio, growth = Decimal(params["peer_ratio"]), Decimal(params["growth_percent"])
    out_percent, min_visits = Decimal(params["out_of_catalog_percent"]), params["min_visits"]
    by_key = {(m.provider_id, m.month): m for m in months}
    peers = defaultdict(lambda: [0, ZERO])
    for m in months:
        peers[(m.kind, m.level, m.month)][0] += m.visits
        peers[(m.kind, m.level, m.month)][1] += m.total
    found = []
    for m in months:
        if m.month not in wanted or m.visits < min_visits:
            continue
        peer_visits, peer_total = peers[(m.kind, m.level, m.month)]
        bound = peer_total / peer_visits * ratio
        if m.total > bound * m.visits:
            found.append(_indicator_finding(m, "avg_cost", _("Average cost per visit above its peers."), m.total - bound * m.visits,
                                            peer_average=str(to_fen(peer_total / peer_visits))))
        before = by_key.get((m.provider_id, previous_month(m.month)))
        if before and before.total > 0 and m.total * 100 > before.total * (100 + growth):
            found.append(_indicator_finding(m, "growth", _("Month-on-month cost growth above the bound."),
                                            m.total - before.total * (100 + growth) / 100, previous_total=str(before.total)))
        if m.total > 0 and m.self_paid * 100 > m.total * out_percent:
            found.append(_indicator_finding(m, "out_of_catalog", _("Out-of-catalog share above the bound."),
                                            m.self_paid - m.total * out_percent / 100, self_paid=str(m.self_paid)))
    return found


def provider_indicators(facts: Facts, params: dict) -> list[Finding]:
    wanted = months_ending_in(facts.date_from, facts.date_to)
    if not wanted:
        return []
    first = previous_month(wanted[0])
    grouped = {}
    for claim in facts.claims:
        if claim.provider_id is None or not (first <= claim.visit_date <= month_end(wanted[-1])):
            continue
        key = (claim.provider_id, month_start(claim.visit_date))
        visits, total, self_paid, kind, level = grouped.get(key, (0, ZERO, ZERO, claim.provider_kind, claim.provider_level))
        grouped[key] = (visits + 1, total + claim.total, self_paid + claim.fully_self_paid, kind, level)
    months = [ProviderMonth(p, kind, level, month, visits, total, self_paid)
              for (p, month), (visits, total, self_paid, kind, level) in grouped.items()]
    return indicator_findings(months, wanted, params)


RULES: dict[str, RuleSpec] = {spec.code: spec for spec in [
    RuleSpec("inpatient_visit", "住院期间发生门诊或药店结算（住院期间不享受门诊统筹）",
             {"include_admission_and_discharge_days": False}, inpatient_visit),
    RuleSpec("after_death", "参保人死亡后仍发生结算（冒名就医）", {}, after_death),
    RuleSpec("repeated_prescribing", "同一药品在前次用药未用完前再次开药（任一定点机构，重复开药）",
             {"tolerance_days": 0, "lookback_days": 90}, repeated_prescribing),
    RuleSpec("over_quantity", "单次开药天数超过限量（急性病7天、慢性病30天，超量开药）",
             {"acute_max_days": 7, "chronic_max_days": 30}, over_quantity),
    RuleSpec("frequent_visits", "同一参保人一个月内就诊结算次数超过限值（频繁就医）",
             {"max_visits_per_month": 15}, frequent_visits),
    RuleSpec("two_places", "同一参保人同一天在相距较远的两地定点机构结算（冒名就医）",
             {"different_district_only": True}, two_places),
    RuleSpec("cash_out", "药店个人账户消费异常：反复整数金额、余额清零、主要购买目录外物品（个人账户套现）",
             {"round_unit": "100", "round_sum_count": 3, "drain_min_amount": "200", "self_paid_percent": "80"}, cash_out),
    RuleSpec("price_above_platform", "药店销售价格高于省级平台挂网价格", {"tolerance_percent": "0", "pharmacies_only": True},
             price_above_platform, single_visit=True),
    RuleSpec("sex_restricted_drug", "限定性别药品用于其他性别患者（国家规则库第一批）", {}, sex_restricted_drug, single_visit=True),
    RuleSpec("repeated_charge", "主项目与其包含的从项目在同一时段重复收费（国家规则库第七批）", {}, repeated_charge),
    RuleSpec("frequency_limit", "医疗服务项目超过限定频次收费（国家规则库第八批-1）", {"hours_per_day": 24}, frequency_limit,
             single_visit=True),
    RuleSpec("chronic_drug_unregistered", "参保人购买慢特病（两病）用药目录内药品（降压、降糖药等）但无有效慢特病认定",
             {}, chronic_drug_unregistered),
    RuleSpec("provider_indicators", "定点机构次均费用、费用环比增长、目录外费用占比超出合理范围",
             {"peer_ratio": "1.5", "growth_percent": "30", "out_of_catalog_percent": "20", "min_visits": 30},
             provider_indicators),
]}


def parameters_of(code: str, stored: dict | None) -> dict:
    """The rule's defaults overlaid with what the auditors stored."""
    return {**COMMON_DEFAULTS, **RULES[code].defaults, **(stored or {})}


def validate_parameters(code: str, parameters) -> list[str]:
    """Problems with a rule's stored parameters, as readable strings (empty when valid)."""
    if code not in RULES:
        return [_("Unknown rule code %(code)s.") % {"code": code}]
    if not isinstance(parameters, dict):
        return [_("Parameters must be an object.")]
    expected = {**COMMON_DEFAULTS, **RULES[code].defaults}
    problems = []
    for key, value in parameters.items():
        if key not in expected:
            problems.append(_("%(key)s: unknown parameter.") % {"key": key})
            continue
        default = expected[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else:  # a decimal written as a string
            try:
                ok = isinstance(value, (str, int)) and not isinstance(value, bool) and Decimal(str(value)) >= 0
            except InvalidOperation:
                ok = False
        if not ok:
            problems.append(_("%(key)s: expected a value like %(example)s.") % {"key": key, "example": repr(default)})
    return problems
