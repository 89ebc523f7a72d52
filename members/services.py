"""State changes of members and their personal accounts. One transaction each."""

import hashlib
import json
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.errors import Conflict, DomainError
from core.idnumber import mask_id_number, normalize_id_number, parse_id_number
from core.money import to_fen
from core.roles import Role, ensure_separated, require_role
from core.sql import Statement, columns, fields, for_update, insert, instance, one_of, statement

from . import crediting, credits
from .models import (
    AccountDecision,
    CreditPolicy,
    CreditRule,
    CreditRun,
    Enrollment,
    FamilyLink,
    LedgerEntry,
    Member,
    PersonalAccount,
    ReferenceValue,
)


class InsufficientBalance(DomainError):
    code = "insufficient_balance"
    default_message = _("The personal account balance is not enough.")


def account_lock(*, account_ids: list[int]) -> dict[int, PersonalAccount]:
    """Lock accounts in one fixed order (by pk) so two requests never deadlock."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    # Fixed SQL (core.sql): every settlement that pays from an account runs this.
    where, params = one_of('a."id"', ids)
    sql = (f'SELECT {columns(PersonalAccount, "a")} FROM "{PersonalAccount._meta.db_table}" a '
           f'WHERE {where} ORDER BY a."id"{for_update()}')
    locked = (instance(PersonalAccount, row) for row in statement(sql, tuple(fields(PersonalAccount))).rows(params))
    return {account.pk: account for account in locked}


# Move the balance in the database, only if the result stays at or above zero and a closed
# account is not debited (a reversal may still refund it); the new balance comes back in the
# same statement. No row back means the move was refused: the caller then finds out why.
# ROUND(…, 2): exact on PostgreSQL (numeric); on SQLite, whose decimal columns hold floats,
# it keeps the stored balance at the fen instead of letting 0.70 + 0.10 become 0.7999….
_ACCOUNT_MOVE = Statement(
    f'''UPDATE "{PersonalAccount._meta.db_table}" SET "balance" = ROUND("balance" + %s, 2)
        WHERE "id" = %s AND ROUND("balance" + %s, 2) >= 0 AND ("status" = %s OR %s)
        RETURNING "balance"''',
    [PersonalAccount._meta.get_field("balance")],
)


def account_post_entry(
    *,
    account: PersonalAccount,
    kind: str,
    amount: Decimal,
    reference: str = "",
    memo: str = "",
    period: date | None = None,
    reverses: LedgerEntry | None = None,
    user=None,
) -> LedgerEntry:
    """Post one signed entry and update the cached balance.

    The caller must hold the account's row lock (`account_lock`) inside its own
    transaction; the balance moves in the database (one UPDATE … RETURNING), never from a value
    held in memory, and a move that would go below zero or debit a closed account changes
    nothing and raises.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("account_post_entry must run inside a transaction holding the account lock")
    amount = to_fen(amount)
    if amount == 0:
        raise ValueError("a ledger entry moves money; zero is not an entry")
    may_move_closed = amount > 0 or kind == LedgerEntry.Kind.REVERSAL
    moved = _ACCOUNT_MOVE.first([amount, account.pk, amount, PersonalAccount.Status.OPEN, may_move_closed])
    if moved is None:
        balance, status = PersonalAccount.objects.filter(pk=account.pk).values_list("balance", "status").get()
        if status != PersonalAccount.Status.OPEN and not may_move_closed:
            raise Conflict(_("The personal account is closed."), code="account_closed")
        raise InsufficientBalance(details={"balance": str(balance), "amount": str(-amount)})
    new_balance = moved[0]
    entry = LedgerEntry(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        period=period,
        reference=reference,
        memo=memo,
        reverses=reverses,
        created_by=user if getattr(user, "pk", None) else None,
    )
    insert([entry])  # a new row only: LedgerEntry.save's guard is against changing one
    account.balance = new_balance
    return entry


def account_reverse_entry(*, entry: LedgerEntry, reference: str = "", memo: str = "", user=None) -> LedgerEntry:
    """Correct a mistake: post the opposite amount, linked to the entry it reverses.

    Reversing twice returns the first reversal.
    """
    existing = LedgerEntry.objects.filter(reverses=entry).first()
    if existing is not None:
        return existing
    return account_post_entry(
        account=entry.account,
        kind=LedgerEntry.Kind.REVERSAL if entry.kind != LedgerEntry.Kind.SETTLEMENT_PAYMENT
        else LedgerEntry.Kind.SETTLEMENT_REFUND,
        amount=-entry.amount,
        reference=reference or entry.reference,
        memo=memo,
        reverses=entry,
        user=user,
    )


# Family links (家庭共济) --------------------------------------------------------------------


def family_link_check(*, member, relative, relation: str) -> None:
    """Refuse a link that would break the family rules; raise Conflict naming the rule.

    A link is never to oneself, a pair is linked once, and each side has at most one
    spouse at a time. Called by `family_link_create` and by forms before they save.
    """
    if member.pk is not None and member.pk == relative.pk:
        raise Conflict(_("A member cannot be linked to themselves."), code="family_link_self",
                       details={"relative": _("the member themselves")})
    if relation not in FamilyLink.Relation.values:
        raise DomainError(_("Unknown relation."), code="invalid", details={"relation": relation})
    if member.pk is not None and FamilyLink.objects.filter(
        Q(member=member, relative=relative) | Q(member=relative, relative=member)
    ).exists():
        raise Conflict(_("These two members are already linked."), code="family_link_exists")
    if relation == FamilyLink.Relation.SPOUSE:
        for side in (member, relative):
            if side.pk is not None and FamilyLink.objects.filter(
                member=side, relation=FamilyLink.Relation.SPOUSE
            ).exists():
                raise Conflict(
                    _("%(member)s already has a spouse.") % {"member": side},
                    code="family_link_second_spouse",
                )


@transaction.atomic
def family_link_create(*, member, relative, relation: str, user=None):
    """Link two members both ways: `relation` is what the relative is to the member,
    and the inverse link (parent ↔ child, spouse ↔ spouse) is added with it.

    Not durable: the admin's change form, which already holds a transaction, calls it
    while it saves the member page.
    """
    # Lock both members (fixed order) so two clerks cannot each add a spouse at once.
    list(Member.objects.filter(pk__in=[member.pk, relative.pk]).order_by("pk").select_for_update())
    family_link_check(member=member, relative=relative, relation=relation)
    link = FamilyLink.objects.create(member=member, relative=relative, relation=relation)
    FamilyLink.objects.create(member=relative, relative=member, relation=FamilyLink.INVERSE[relation])
    audit(actor=user, action="family_link.create", target=link, label=f"{member} → {relative}",
          member_id=member.pk, relative_id=relative.pk, relation=relation)
    return link


@transaction.atomic
def family_link_delete(*, link, user=None) -> None:
    """Remove a family link and its inverse together (a link is never one-sided)."""
    pair = FamilyLink.objects.filter(
        Q(member_id=link.member_id, relative_id=link.relative_id)
        | Q(member_id=link.relative_id, relative_id=link.member_id)
    )
    audit(actor=user, action="family_link.delete", target=link,
          member_id=link.member_id, relative_id=link.relative_id, relation=link.relation)
    pair.delete()
# ---------------------------------------------------------------------------------------------
# Account-credit policy (§3.1) as data
# ---------------------------------------------------------------------------------------------

POLICY_KIND = "account_credit"
_RULE_KEYS = {
    "cite", "credit", "from", "to", "employment_status", "category", "sector", "civil_servant_only",
    "min_age", "max_age", "basis", "percent", "divisor", "reference_year", "reference_sector",
    "anchor_month", "skip_reason", "note",
}


class InvalidPolicy(DomainError):
    code = "invalid_policy"
    default_message = _("The credit policy file is not valid.")


class MissingReferenceData(DomainError):
    code = "missing_reference"
    status = 409
    default_message = _("Reference data the credit rules need is missing; nothing was credited.")


def _month(value, where: str) -> date:
    try:
        year, month = str(value)[:7].split("-")
        return date(int(year), int(month), 1)
    except (ValueError, TypeError):
        raise InvalidPolicy(details={where: f"not a month (YYYY-MM): {value!r}"}) from None


def _rule_fields(raw: dict, index: int) -> dict:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise InvalidPolicy(details={where: "not an object"})
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise InvalidPolicy(details={where: f"unknown keys: {', '.join(sorted(unknown))}"})
    basis = raw.get("basis")
    if basis not in CreditRule.Basis.values:
        raise InvalidPolicy(details={f"{where}.basis": f"one of {', '.join(CreditRule.Basis.values)}"})
    if not raw.get("cite"):
        raise InvalidPolicy(details={f"{where}.cite": "every rule cites its article"})
    choices = {
        "credit": LedgerEntry.CREDIT_KINDS,
        "employment_status": ("", *Enrollment.EmploymentStatus.values),
        "category": ("", *Enrollment.Category.values),
        "sector": ("", *Enrollment.Sector.values),
        "reference_sector": CreditRule.ReferenceSector.values,
    }
    for key, allowed in choices.items():
        if key in raw and raw[key] not in allowed:
            raise InvalidPolicy(details={f"{where}.{key}": f"one of {', '.join(map(str, allowed))}"})
    percent = raw.get("percent")
    if percent is not None:
        try:
            percent = Decimal(str(percent))
            credits.ratio_of_percent(percent)
        except (ArithmeticError, ValueError):
            raise InvalidPolicy(details={f"{where}.percent": "a percentage with at most two decimals"}) from None
    if basis in ("average_pension", "own_credits_of_year") and not raw.get("reference_year"):
        raise InvalidPolicy(details={f"{where}.reference_year": "required for this basis"})
    if basis == "own_credits_of_year" and not raw.get("divisor"):
        raise InvalidPolicy(details={f"{where}.divisor": "required for this basis"})
    if basis == "civil_servant_base" and not raw.get("anchor_month"):
        raise InvalidPolicy(details={f"{where}.anchor_month": "required for this basis"})
    return {
        "position": index,
        "credit_kind": raw.get("credit", LedgerEntry.Kind.MONTHLY_CREDIT),
        "cite": raw["cite"],
        "valid_from": _month(raw.get("from"), f"{where}.from"),
        "valid_to": _month(raw["to"], f"{where}.to") if raw.get("to") else None,
        "employment_status": raw.get("employment_status", ""),
        "category": raw.get("category", ""),
        "sector": raw.get("sector", ""),
        "civil_servant_only": bool(raw.get("civil_servant_only", False)),
        "min_age": raw.get("min_age"),
        "max_age": raw.get("max_age"),
        "basis": basis,
        "percent": percent,
        "divisor": raw.get("divisor"),
        "reference_year": raw.get("reference_year"),
        "reference_sector": raw.get("reference_sector", ""),
        "anchor_month": _month(raw["anchor_month"], f"{where}.anchor_month") if raw.get("anchor_month") else None,
        "skip_reason": raw.get("skip_reason", ""),
        "note": raw.get("note", ""),
    }


@transaction.atomic
def credit_policy_load(*, data: dict, user=None) -> CreditPolicy:
    """Load one version of a region's account-credit policy from its data file (idempotent).

    The same file again changes nothing. A changed file for a version that a credit run has
    already used is refused: load it as a new version with a later `effective_from`.
    """
    if not isinstance(data, dict) or data.get("kind") != POLICY_KIND:
        raise InvalidPolicy(details={"kind": f"must be {POLICY_KIND!r}"})
    region = data.get("region")
    if region not in settings.REGIONS:
        raise InvalidPolicy(details={"region": f"one of {', '.join(settings.REGIONS)}"})
    version = str(data.get("version") or "").strip()
    if not version:
        raise InvalidPolicy(details={"version": "required"})
    try:
        effective_from = date.fromisoformat(str(data.get("effective_from")))
    except ValueError:
        raise InvalidPolicy(details={"effective_from": "a date (YYYY-MM-DD)"}) from None
    retiree_rates_from = data.get("retiree_rates_from", CreditPolicy.RetireeRatesFrom.RETIREMENT_MONTH)
    if retiree_rates_from not in CreditPolicy.RetireeRatesFrom.values:
        raise InvalidPolicy(details={"retiree_rates_from": f"one of {', '.join(CreditPolicy.RetireeRatesFrom.values)}"})
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise InvalidPolicy(details={"rules": "a non-empty list"})
    rules = [_rule_fields(raw, index) for index, raw in enumerate(raw_rules)]
    premiums = data.get("premiums", [])
    for index, premium in enumerate(premiums):
        if premium.get("premium") not in PREMIUMS or not set(premium.get("for", [])) <= {"self", "family"}:
            raise InvalidPolicy(details={f"premiums[{index}]": f"premium one of {', '.join(PREMIUMS)}; for ⊆ self, family"})
    content_hash = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    policy = CreditPolicy.objects.select_for_update().filter(region=region, version=version).first()
    if policy is not None and policy.content_hash == content_hash:
        return policy
    if policy is not None and policy.runs.exclude(status=CreditRun.Status.REFUSED).exists():
        raise Conflict(
            _("This policy version has already been used to credit accounts; load a new version."),
            code="policy_in_use", details={"region": region, "version": version},
        )
    fields = {
        "title": data.get("title", ""), "source": data.get("source", ""), "effective_from": effective_from,
        "retiree_rates_from": retiree_rates_from, "allowed_premiums": premiums, "data": data,
        "content_hash": content_hash, "loaded_by": user if getattr(user, "pk", None) else None,
    }
    if policy is None:
        policy = CreditPolicy.objects.create(region=region, version=version, **fields)
    else:
        for key, value in fields.items():
            setattr(policy, key, value)
        policy.save()
        policy.rules.all().delete()
    CreditRule.objects.bulk_create(CreditRule(policy=policy, **rule) for rule in rules)
    audit(actor=user, action="credit_policy.load", target=policy, rules=len(rules), content_hash=content_hash)
    return policy


def credit_policy_in_force(*, region: str, month: date) -> CreditPolicy | None:
    return (
        CreditPolicy.objects.filter(region=region, effective_from__lte=credits.last_day(month))
        .order_by("-effective_from").prefetch_related("rules").first()
    )


def credit_policy_as_pure(policy: CreditPolicy) -> credits.Policy:
    return credits.Policy(
        region=policy.region,
        version=policy.version,
        retiree_rates_from=policy.retiree_rates_from,
        rules=tuple(
            credits.Rule(
                cite=rule.cite, valid_from=rule.valid_from, valid_to=rule.valid_to, basis=rule.basis,
                credit_kind=rule.credit_kind, employment_status=rule.employment_status, category=rule.category,
                sector=rule.sector, civil_servant_only=rule.civil_servant_only, min_age=rule.min_age,
                max_age=rule.max_age, percent=rule.percent, divisor=rule.divisor,
                reference_year=rule.reference_year, reference_sector=rule.reference_sector,
                anchor_month=rule.anchor_month, skip_reason=rule.skip_reason,
            )
            for rule in sorted(policy.rules.all(), key=lambda r: r.position)
        ),
    )


def reference_values() -> dict[tuple[str, int, str], Decimal]:
    return {(kind, year, sector): value for kind, year, sector, value in
            ReferenceValue.objects.values_list("kind", "year", "sector", "value")}


def credit_plan_for(*, region: str, month: date) -> tuple[CreditPolicy | None, credits.Plan | None, list[str]]:
    """The policy in force, the month's plan and what is missing to apply it."""
    policy = credit_policy_in_force(region=region, month=month)
    if policy is None:
        return None, None, [f"{region}: no account-credit policy in force in {month:%Y-%m} (load_policy)"]
    plan = credits.credit_plan(credit_policy_as_pure(policy), month, reference_values())
    return policy, plan, []


# ---------------------------------------------------------------------------------------------
# The monthly run (set-based; see members.crediting)
# ---------------------------------------------------------------------------------------------

DEFAULT_CHUNK_SIZE = 50_000


@transaction.atomic(durable=True)
def _credit_run_prepare(*, month: date, region: str, user, chunk_size: int) -> tuple[CreditRun, list[str]]:
    policy, plan, missing = credit_plan_for(region=region, month=month)
    if plan is not None:
        # Missing reference data stops the run before anything is credited — but only data that
        # some member of the month actually needs.
        needed = [formula for formula in plan.formulas if formula.missing]
        if needed:
            missing += crediting.missing_in_use(plan)
    bounds = Member.objects.aggregate(low=Min("pk"), high=Max("pk"))
    low, high = bounds["low"] or 0, bounds["high"] or -1
    chunks = 0 if high < low else (high - low) // chunk_size + 1
    CreditRun.objects.filter(month=month, region=region, status=CreditRun.Status.RUNNING).update(
        status=CreditRun.Status.INTERRUPTED, finished_at=timezone.now(),
    )
    run = CreditRun.objects.create(
        month=month, region=region, policy=policy, started_by=user if getattr(user, "pk", None) else None,
        first_member_id=low, chunk_size=chunk_size, chunks_total=chunks,
        status=CreditRun.Status.REFUSED if missing else CreditRun.Status.RUNNING,
    )
    if missing:
        run.message = "\n".join(missing)
        run.finished_at = timezone.now()
        run.save(update_fields=["message", "finished_at"])
    elif chunks == 0:
        run.status, run.finished_at = CreditRun.Status.COMPLETED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
    audit(actor=user, action="credit_run.start", target=run, month=f"{month:%Y-%m}", missing=missing)
    return run, missing


def credit_month_start(*, month: date, user=None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> CreditRun:
    """Open a credit run for `month` (the deployment's region). Raises `MissingReferenceData`,
    naming what is missing, before anything is credited; the refused run stays on record."""
    month = credits.month_start(month)
    run, missing = _credit_run_prepare(month=month, region=settings.REGION, user=user, chunk_size=chunk_size)
    if missing:
        raise MissingReferenceData(details={"missing": missing, "credit_run": run.pk})
    return run


def credit_run_chunk_bounds(run: CreditRun) -> list[tuple[int, int]]:
    return [
        (run.first_member_id + n * run.chunk_size, run.first_member_id + (n + 1) * run.chunk_size)
        for n in range(run.chunks_total)
    ]


@transaction.atomic(durable=True)
def credit_run_chunk(*, run_id: int, low: int, high: int) -> dict:
    """Credit the members with low <= pk < high: one transaction, set-based SQL.

    Exactly once per (account, kind, month) by the ledger's unique constraint; a chunk that
    fails leaves nothing behind and is simply run again (by this run or a later one).
    """
    run = CreditRun.objects.select_related("policy").get(pk=run_id)
    if run.status not in (CreditRun.Status.RUNNING, CreditRun.Status.INTERRUPTED):
        raise Conflict(_("This credit run is not running."), code="credit_run_not_running", details={"run": run_id})
    plan = credits.credit_plan(credit_policy_as_pure(run.policy), run.month, reference_values())
    stats = crediting.credit_range(
        plan=plan, low=low, high=high, reference=run.reference, user_id=run.started_by_id,
    )
    run = CreditRun.objects.select_for_update().get(pk=run_id)
    run.chunks_done += 1
    run.accounts_opened += stats["accounts_opened"]
    run.members_credited += stats["members_credited"]
    run.total += stats["total"]
    run.civil_servant_total += stats["civil_servant_total"]
    skipped = dict(run.skipped)
    for reason, count in stats["skipped"].items():
        skipped[reason] = skipped.get(reason, 0) + count
    run.skipped = skipped
    fields = ["chunks_done", "accounts_opened", "members_credited", "total", "civil_servant_total", "skipped"]
    if run.chunks_done >= run.chunks_total and run.status == CreditRun.Status.RUNNING:
        run.status, run.finished_at = CreditRun.Status.COMPLETED, timezone.now()
        fields += ["status", "finished_at"]
        audit(actor=None, action="credit_run.complete", target=run, members_credited=run.members_credited,
              total=str(run.total))
    run.save(update_fields=fields)
    return stats


def credit_month(*, month: date, user=None, chunk_size: int = DEFAULT_CHUNK_SIZE, progress=None) -> CreditRun:
    """Credit a month in this process, chunk after chunk (the command and the tests)."""
    run = credit_month_start(month=month, user=user, chunk_size=chunk_size)
    for low, high in credit_run_chunk_bounds(run):
        credit_run_chunk(run_id=run.pk, low=low, high=high)
        if progress is not None:
            progress(1)
    run.refresh_from_db()
    return run


# ---------------------------------------------------------------------------------------------
# Lawful uses of the account (§3.2, §3.3)
# ---------------------------------------------------------------------------------------------

# Premiums a region's policy may list (its file's "premiums"); the policy decides which apply.
PREMIUMS = (
    "resident_medical_insurance",  # 城乡居民基本医疗保险
    "long_term_care_insurance",  # 长期护理保险
    "inclusive_commercial_insurance",  # 政府指导的普惠型商业医疗保险
    "supplementary_medical_insurance",  # 补充医疗保险 (Ziyang 第六条)
    "critical_illness_insurance",  # 大病保险 (Ziyang 第六条, Yangzhou 二(三))
    "large_expense_subsidy",  # 职工大额医疗费用补助 (Yangzhou 二(三))
    "government_medical_insurance",  # other government-run medical social insurance (Ziyang 第六条)
)
# Every region, e.g. Zaozhuang 第八条: never public health, fitness, wellness or health-keeping.
FORBIDDEN_USES = ("public_health", "fitness", "wellness")


class UseRefused(DomainError):
    code = "use_refused"
    default_message = _("The personal account may not pay for this.")


def account_pay_premium(
    *, account: PersonalAccount, purpose: str, amount: Decimal, reference: str, insured: Member | None = None,
    on: date | None = None, user,
) -> LedgerEntry:
    """Pay an insurance premium from the account (§3.2), when the region's policy lists it.

    Refused with a reason code, balance unchanged: `forbidden_use` (public health, fitness,
    wellness — every region), `premium_not_allowed` (not on the region's list), `not_family`
    (the insured is not the member's linked spouse, parent or child), `premium_not_for_insured`
    (e.g. Yangzhou 二(三): large-amount subsidy premiums only for the member). The same
    `reference` again returns the first payment.
    """
    require_role(user, Role.CASE_WORKER)
    on = on or timezone.localdate()
    if purpose in FORBIDDEN_USES:
        raise UseRefused(
            _("The personal account may not pay public health, fitness or wellness spending."),
            code="forbidden_use", details={"purpose": purpose},
        )
    policy = credit_policy_in_force(region=settings.REGION, month=on)
    allowed = {item["premium"]: set(item.get("for", [])) for item in (policy.allowed_premiums if policy else [])}
    if purpose not in allowed:
        raise UseRefused(
            _("The region's policy does not let the personal account pay this premium."),
            code="premium_not_allowed", details={"purpose": purpose, "allowed": sorted(allowed)},
        )
    whose = "self" if insured is None or insured.pk == account.member_id else "family"
    if whose == "family" and not FamilyLink.objects.filter(member_id=account.member_id, relative=insured).exists():
        raise UseRefused(_("The insured person is not the member's spouse, parent or child."), code="not_family")
    if whose not in allowed[purpose]:
        raise UseRefused(
            _("The region's policy does not let the account pay this premium for this person."),
            code="premium_not_for_insured", details={"purpose": purpose, "insured": whose},
        )
    amount = to_fen(amount)
    if amount <= 0:
        raise DomainError(_("The amount must be positive."), code="invalid_amount", details={"amount": str(amount)})
    if not reference:
        raise DomainError(_("A premium payment needs the premium bill's reference."), code="reference_required")
    return _premium_post(account=account, purpose=purpose, amount=amount, reference=reference,
                         insured=insured, user=user)


@transaction.atomic(durable=True)
def _premium_post(*, account, purpose, amount, reference, insured, user) -> LedgerEntry:
    full_reference = f"premium:{reference}"[:64]
    account = account_lock(account_ids=[account.pk])[account.pk]
    existing = LedgerEntry.objects.filter(
        account=account, kind=LedgerEntry.Kind.PREMIUM_PAYMENT, reference=full_reference,
    ).first()
    if existing is not None:
        return existing
    entry = account_post_entry(
        account=account, kind=LedgerEntry.Kind.PREMIUM_PAYMENT, amount=-amount, reference=full_reference,
        memo=f"{purpose}" + (f" {insured.masked_id_number}" if insured is not None else ""), user=user,
    )
    audit(actor=user, action="account.pay_premium", target=account, purpose=purpose, amount=str(amount),
          entry=entry.pk)
    return entry


def _clean_heirs(heirs) -> list[dict]:
    if not isinstance(heirs, list) or not heirs:
        raise DomainError(_("Record at least one heir."), code="invalid_heirs")
    cleaned, total = [], Decimal(0)
    for index, heir in enumerate(heirs):
        try:
            id_number = normalize_id_number(str(heir.get("id_number", "")))
            parse_id_number(id_number)
            share = Decimal(str(heir.get("share_percent")))
            name = str(heir["name"]).strip()
        except (KeyError, ArithmeticError, TypeError, ValueError, DjangoValidationError, AttributeError):
            raise DomainError(_("Each heir needs a name, a valid ID number and a share."), code="invalid_heirs",
                              details={"heir": index}) from None
        if not name or share <= 0:
            raise DomainError(_("Each heir needs a name, a valid ID number and a share."), code="invalid_heirs",
                              details={"heir": index})
        cleaned.append({"name": name, "id_number": id_number, "share_percent": str(share)})
        total += share
    if total != 100:
        raise DomainError(_("The heirs' shares must add up to 100%."), code="invalid_heirs",
                          details={"total": str(total)})
    return cleaned


@transaction.atomic(durable=True)
def account_withdrawal_propose(
    *, account: PersonalAccount, reason: str, destination: str = "", heirs: list | None = None, note: str = "",
    user,
) -> AccountDecision:
    """Propose paying the balance out (Zaozhuang 第九条): only for a transfer to another pooling
    region, relocation, settling abroad or death (inheritance). Another case worker approves."""
    require_role(user, Role.CASE_WORKER)
    if reason not in AccountDecision.Reason.values:
        raise UseRefused(
            _("The personal account may not be paid out for this reason."),
            code="withdrawal_not_allowed", details={"reason": reason, "allowed": list(AccountDecision.Reason.values)},
        )
    account = account_lock(account_ids=[account.pk])[account.pk]
    if account.status != PersonalAccount.Status.OPEN:
        raise Conflict(_("The personal account is closed."), code="account_closed")
    if AccountDecision.objects.filter(account=account, status=AccountDecision.Status.PROPOSED).exists():
        raise Conflict(_("A decision on this account is already waiting for approval."), code="decision_pending")
    cleaned_heirs = []
    if reason == AccountDecision.Reason.DEATH:
        if account.member.status != Member.Status.DECEASED:
            raise UseRefused(_("The member is not recorded as deceased."), code="member_not_deceased")
        cleaned_heirs = _clean_heirs(heirs)
    if reason == AccountDecision.Reason.TRANSFER_TO_ANOTHER_REGION and not destination.strip():
        raise DomainError(_("Name the pooling region the account is transferred to."), code="destination_required")
    decision = AccountDecision.objects.create(
        account=account, reason=reason, destination=destination.strip(), heirs=cleaned_heirs, note=note,
        proposed_by=user,
    )
    audit(actor=user, action="account.withdrawal_propose", target=decision, reason=reason, heirs=len(cleaned_heirs))
    return decision


_PAYOUT_KIND = {
    AccountDecision.Reason.TRANSFER_TO_ANOTHER_REGION: LedgerEntry.Kind.TRANSFER_OUT,
    AccountDecision.Reason.RELOCATION: LedgerEntry.Kind.WITHDRAWAL,
    AccountDecision.Reason.SETTLING_ABROAD: LedgerEntry.Kind.WITHDRAWAL,
    AccountDecision.Reason.DEATH: LedgerEntry.Kind.INHERITANCE,
}


@transaction.atomic(durable=True)
def account_withdrawal_approve(*, decision: AccountDecision, user) -> AccountDecision:
    """Approve and execute: the whole balance is paid out (to the heirs by their shares on death)
    and the account is closed. The approver is never the proposer (separated duties)."""
    require_role(user, Role.CASE_WORKER)
    decision = AccountDecision.objects.select_for_update().get(pk=decision.pk)
    ensure_separated(proposer=decision.proposed_by, approver=user)
    if decision.status != AccountDecision.Status.PROPOSED:
        raise Conflict(_("This decision has already been decided."), code="already_decided")
    account = account_lock(account_ids=[decision.account_id])[decision.account_id]
    balance = account.balance
    kind = _PAYOUT_KIND[decision.reason]
    if balance > 0:
        if decision.reason == AccountDecision.Reason.DEATH:
            remaining = balance
            for index, heir in enumerate(decision.heirs):
                last = index == len(decision.heirs) - 1
                # Each share rounds to the fen; the last heir takes what is left, so the sum is exact.
                share = remaining if last else to_fen(balance * Decimal(heir["share_percent"]) / 100)
                if share > 0:
                    account_post_entry(account=account, kind=kind, amount=-share, reference=decision.reference,
                                       memo=f"{heir['name']} {mask_id_number(heir['id_number'])}", user=user)
                remaining -= share
        else:
            account_post_entry(account=account, kind=kind, amount=-balance, reference=decision.reference,
                               memo=decision.destination[:200], user=user)
    PersonalAccount.objects.filter(pk=account.pk).update(
        status=PersonalAccount.Status.CLOSED, closed_on=timezone.localdate(),
    )
    decision.status, decision.amount = AccountDecision.Status.EXECUTED, balance
    decision.decided_by, decision.decided_at = user, timezone.now()
    decision.save(update_fields=["status", "amount", "decided_by", "decided_at"])
    audit(actor=user, action="account.withdrawal_approve", target=decision, reason=decision.reason,
          amount=str(balance))
    return decision


@transaction.atomic(durable=True)
def account_withdrawal_reject(*, decision: AccountDecision, reason: str, user) -> AccountDecision:
    require_role(user, Role.CASE_WORKER)
    decision = AccountDecision.objects.select_for_update().get(pk=decision.pk)
    ensure_separated(proposer=decision.proposed_by, approver=user)
    if decision.status != AccountDecision.Status.PROPOSED:
        raise Conflict(_("This decision has already been decided."), code="already_decided")
    decision.status, decision.rejection_reason = AccountDecision.Status.REJECTED, reason[:300]
    decision.decided_by, decision.decided_at = user, timezone.now()
    decision.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at"])
    audit(actor=user, action="account.withdrawal_reject", target=decision)
    return decision
