"""Region credit policies and the monthly credit run (set-based, in chunks)."""

import hashlib
import json
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError

from .. import account_credit_sql, account_credits
from ..models import (
    CreditPolicy,
    CreditRule,
    CreditRun,
    Enrollment,
    LedgerEntry,
    Member,
    ReferenceValue,
)

POLICY_KIND = "account_credit"
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
            account_credits.ratio_of_percent(percent)
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
    audit(actor=user, action=AuditAction.CREDIT_POLICY_LOAD, target=policy, rules=len(rules), content_hash=content_hash)
    return policy


def credit_policy_in_force(*, region: str, month: date) -> CreditPolicy | None:
    return (
        CreditPolicy.objects.filter(region=region, effective_from__lte=account_credits.last_day(month))
        .order_by("-effective_from").prefetch_related("rules").first()
    )


def credit_policy_as_pure(policy: CreditPolicy) -> account_credits.Policy:
    return account_credits.Policy(
        region=policy.region,
        version=policy.version,
        retiree_rates_from=policy.retiree_rates_from,
        rules=tuple(
            account_credits.Rule(
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


def credit_plan_for(*, region: str, month: date) -> tuple[CreditPolicy | None, account_credits.Plan | None, list[str]]:
    """The policy in force, the month's plan and what is missing to apply it."""
    policy = credit_policy_in_force(region=region, month=month)
    if policy is None:
        return None, None, [f"{region}: no account-credit policy in force in {month:%Y-%m} (load_policy)"]
    plan = account_credits.credit_plan(credit_policy_as_pure(policy), month, reference_values())
    return policy, plan, []


# ---------------------------------------------------------------------------------------------
# The monthly run (set-based; see members.account_credit_sql)
# ---------------------------------------------------------------------------------------------

DEFAULT_CHUNK_SIZE = 50_000


@transaction.atomic
def _credit_run_prepare(*, month: date, region: str, user, chunk_size: int) -> tuple[CreditRun, list[str]]:
    policy, plan, missing = credit_plan_for(region=region, month=month)
    if plan is not None:
        # Missing reference data stops the run before anything is credited — but only data that
        # some member of the month actually needs.
        needed = [formula for formula in plan.formulas if formula.missing]
        if needed:
            missing += account_credit_sql.missing_in_use(plan)
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
    audit(actor=user, action=AuditAction.CREDIT_RUN_START, target=run, month=f"{month:%Y-%m}", missing=missing)
    return run, missing


def credit_month_start(*, month: date, user=None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> CreditRun:
    """Open a credit run for `month` (the deployment's region). Raises `MissingReferenceData`,
    naming what is missing, before anything is credited; the refused run stays on record."""
    month = account_credits.month_start(month)
    run, missing = _credit_run_prepare(month=month, region=settings.REGION, user=user, chunk_size=chunk_size)
    if missing:
        raise MissingReferenceData(details={"missing": missing, "credit_run": run.pk})
    return run


def credit_run_chunk_bounds(run: CreditRun) -> list[tuple[int, int]]:
    return [
        (run.first_member_id + n * run.chunk_size, run.first_member_id + (n + 1) * run.chunk_size)
        for n in range(run.chunks_total)
    ]


@transaction.atomic
def credit_run_chunk(*, run_id: int, low: int, high: int) -> dict:
    """Credit the members with low <= pk < high: one transaction, set-based SQL.

    Exactly once per (account, kind, month) by the ledger's unique constraint; a chunk that
    fails leaves nothing behind and is simply run again (by this run or a later one).
    """
    run = CreditRun.objects.select_related("policy").get(pk=run_id)
    if run.status not in (CreditRun.Status.RUNNING, CreditRun.Status.INTERRUPTED):
        raise Conflict(_("This credit run is not running."), code="credit_run_not_running", details={"run": run_id})
    plan = account_credits.credit_plan(credit_policy_as_pure(run.policy), run.month, reference_values())
    stats = account_credit_sql.credit_range(
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
        audit(actor=None, action=AuditAction.CREDIT_RUN_COMPLETE, target=run, members_credited=run.members_credited,
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
