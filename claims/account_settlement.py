"""Account-only settlement (个人账户支付; national med_type 41): preview and settle.

CONTRACT.md "Account-only settlement". Zaozhuang 第八条, Ziyang 第六条, Yangzhou 二(三)2,
Jinan (十五): the personal account pays the member's own and their spouse's, parents' and
children's personal burden at designated institutions and purchases at designated pharmacies.
The pooled fund pays nothing and the member's year is untouched.

`member` on the claim is the person treated when they are in the registry, else the account's
owner (with `relative_link`, `treated_id_number` and `treated_name` naming the relative);
`payer` is set whenever the paying account is not the treated person's own (family_account).

Settle runs in claims.services.settle_once's plain `transaction.atomic()` (joining the
caller's; the outermost entry point makes it durable): lock the paying account (the pooling lock order without the year
row: accounts by pk), compute with claims.account_calculator, write the claim and lines,
debit the account, audit. Every refusal raises before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import NotFound
from core.idnumber import mask_id_number, parse_id_number
from core.money import ZERO
from members.models import FamilyLink, LedgerEntry, Member, PersonalAccount
from members.services import account_lock, account_post_entry

from . import account_calculator as acalc
from . import settlement_queries as queries
from .explanation import explain
from .models import CatalogItem, Claim
from .services import (
    Caller,
    SettlementRefused,
    SettlementRequest,
    _money,
    _refuse,
    _valid_id_number,
    insert_claim,
    line_inputs,
    new_claim,
    prepare_caller,
    prepare_items,
    prepare_visit,
    settle_once,
    visit_warnings,
)


@dataclass
class AccountPrepared:
    caller: Caller
    treated: Member | None  # None: a relative outside the registry
    treated_id_number: str
    link: FamilyLink | None  # the family link used, when the account is a relative's
    owner: Member  # the paying account's owner
    account_id: int
    items: list[CatalogItem]
    lines: tuple[acalc.AccountLineInput, ...]

    @property
    def family(self) -> bool:
        return self.treated is None or self.treated.pk != self.owner.pk

    @property
    def claim_member(self) -> Member:
        return self.treated if self.treated is not None else self.owner


def _account_of(owner: Member, visit_date, field: str) -> PersonalAccount:
    """The owner's account, refused unless it is open and its owner was alive on the visit date."""
    account = getattr(owner, "account", None) if hasattr(owner, "account") else None
    if account is None:
        _refuse("payer_has_no_account", _("The payer has no open personal account."), field=field)
    deceased = owner.status == Member.Status.DECEASED and (owner.died_on is None or visit_date > owner.died_on)
    if account.status != PersonalAccount.Status.OPEN or deceased:
        _refuse("account_closed", _("The personal account is closed, or its owner has died."), field=field)
    return account


def _prepare(*, user, request: SettlementRequest) -> AccountPrepared:
    caller = prepare_caller(user=user, request=request, pooling=False)
    id_number = prepare_visit(request)
    catalog = prepare_items(request)

    treated = queries.member_on(id_number, request.visit_date)
    payer_id = _valid_id_number(request.payer_id_number, "payer_id_number") if request.payer_id_number else id_number
    link = None
    if payer_id == id_number:
        if treated is None:
            raise NotFound(_("No member has this ID number."), code="member_not_found",
                           details={"member_id_number": mask_id_number(id_number)})
        owner = treated
    else:
        owner = queries.member_on(payer_id, request.visit_date)
        # 家庭共济: the treated person is the owner's linked spouse, parent or child, in the
        # registry or outside it (a relative insured elsewhere or not at all).
        if owner is not None:
            outside = Q(relative__isnull=True, relative_id_number=id_number)
            link = FamilyLink.objects.filter(
                Q(relative=treated) | outside if treated is not None else outside, member=owner
            ).first()
        if link is None:
            if treated is None:
                raise NotFound(
                    _("The person treated is neither a member nor a linked relative of the payer."),
                    code="member_not_found", details={"member_id_number": mask_id_number(id_number)},
                )
            _refuse("payer_not_relative", _("The payer is not a linked spouse, parent or child of the member."), field="payer_id_number")
    account = _account_of(owner, request.visit_date, "payer_id_number" if link is not None else "member_id_number")

    lines = tuple(
        acalc.AccountLineInput(line=line, account_payable=catalog[item.code].account_payable)
        for line, item in zip(line_inputs(request, catalog), request.items, strict=True)
    )
    return AccountPrepared(
        caller=caller, treated=treated, treated_id_number=id_number, link=link, owner=owner,
        account_id=account.pk, items=[catalog[item.code] for item in request.items], lines=lines,
    )


def _compute(prepared: AccountPrepared, request: SettlementRequest, balance: Decimal) -> acalc.AccountResult:
    try:
        return acalc.settle_account_only(
            prepared.lines, balance=balance, other_insurance_paid=request.other_insurance_paid or ZERO,
            family=prepared.family,
        )
    except acalc.AccountCalculationRefused as refused:
        messages = {
            "other_insurance_exceeds_total": _("The amount paid by the person's own insurance is more than the bill."),
            "account_empty": _("The personal account can pay nothing of this bill (no balance, or no item it may pay)."),
        }
        details = dict(refused.details)
        if refused.code == "other_insurance_exceeds_total":
            details["field"] = "other_insurance_paid"
        raise SettlementRefused(messages[refused.code], code=refused.code, details=details) from None


def _age_and_sex(prepared: AccountPrepared, request: SettlementRequest) -> tuple[int, str]:
    if prepared.treated is not None:
        return prepared.treated.age_on(request.visit_date), prepared.treated.sex
    facts = parse_id_number(prepared.treated_id_number)
    born = facts.birth_date
    day = request.visit_date
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day)), facts.sex


def _render(prepared: AccountPrepared, result: acalc.AccountResult, request: SettlementRequest) -> dict:
    age, sex = _age_and_sex(prepared, request)
    warnings = visit_warnings(
        request=request, caller_provider=prepared.caller.provider, provider_kind=prepared.caller.provider_kind,
        age=age, sex=sex, lines=result.lines, items=prepared.items,
    )
    for index, (line, payable) in enumerate(zip(result.lines, result.payable, strict=True)):
        if not payable:
            warnings.append({
                "rule": acalc.NOT_ACCOUNT_PAYABLE,
                "message": str(_("Item {index} ({code}) may not be paid by the personal account: paid in cash.")).format(
                    index=index, code=line.code),
                "item": index,
            })
    zero = _money(ZERO)
    response = {
        "total": _money(result.total),
        "fully_self_paid": _money(result.fully_self_paid),
        "over_limit": _money(result.over_limit),
        "class_b_prepay": _money(result.class_b_prepay),
        "policy_scope": _money(result.policy_scope),
        "temporary_visit_prepay": zero,
        "deductible": zero,
        "ratio": zero,
        "fund": zero,
        "large_expense_subsidy": zero,
        "large_expense_subsidy_pending": zero,
        "personal_burden": _money(result.personal_burden),
        "account": _money(result.account),
        "family_account": _money(result.family_account),
        "cash": _money(result.cash),
        "balance_after": _money(result.balance_after),
        "denied_reason": None,
        "year": None,
        "other_insurance_paid": _money(result.other_insurance_paid),
        "not_account_payable": _money(result.not_account_payable),
        "lines": [
            {
                "code": line.code,
                "quantity": str(line.quantity),
                "unit_price": _money(line.unit_price),
                "amount": _money(line.amount),
                "fully_self_paid": _money(line.fully_self_paid),
                "over_limit": _money(line.over_limit),
                "class_b_prepay": _money(line.class_b_prepay),
                "policy_scope": _money(line.policy_scope),
                "account_payable": payable,
                "cash_reason": None if payable else acalc.NOT_ACCOUNT_PAYABLE,
            }
            for line, payable in zip(result.lines, result.payable, strict=True)
        ],
        "policy_version": None,
        "warnings": warnings,
    }
    rendered = response
    rendered["explanation"] = [step.as_dict() for step in explain(rendered, settings.REGION, Claim.Benefit.PERSONAL_ACCOUNT)]
    return rendered


# ---------------------------------------------------------------------------------------
# Services


def account_only_preview(*, user, request: SettlementRequest) -> dict:
    """预结算 of an account-only sale: computed as settlement would, nothing written or locked."""
    prepared = _prepare(user=user, request=request)
    balance = PersonalAccount.objects.filter(pk=prepared.account_id).values_list("balance", flat=True).first()
    return _render(prepared, _compute(prepared, request, balance), request)


def account_only_settle(*, user, request: SettlementRequest, savepoint: bool = True) -> tuple[dict, bool]:
    """结算 of an account-only sale. Returns (response, created); idempotent by the provider's
    external_ref like every settlement (claims.services.settle_once, which holds the
    transaction; `savepoint` as there); reversed by claims.services.claim_reverse."""
    return settle_once(user=user, request=request, settle=_settle, savepoint=savepoint)


def _settle(*, user, request: SettlementRequest, fingerprint: str) -> dict:
    # In settle_once's transaction.atomic().
    prepared = _prepare(user=user, request=request)
    # Lock order as in pooling (year row, then accounts by pk); there is no year row here.
    account = account_lock(account_ids=[prepared.account_id])[prepared.account_id]
    if account.status != PersonalAccount.Status.OPEN:  # closed since it was read
        _refuse("account_closed", _("The personal account is closed, or its owner has died."), field="payer_id_number")
    result = _compute(prepared, request, account.balance)
    response = _render(prepared, result, request)
    member = prepared.claim_member
    claim = new_claim(
        user=user, caller=prepared.caller, request=request, fingerprint=fingerprint, member=member,
        payer=prepared.owner if prepared.family else None, policy_version=None, result=result, response=response,
        benefit=Claim.Benefit.PERSONAL_ACCOUNT,
        relative_link=prepared.link,
        treated_id_number=prepared.treated_id_number if prepared.treated is None else "",
        treated_name=prepared.link.relative_name if prepared.treated is None else "",
        use_account=True,
        other_insurance_paid=result.other_insurance_paid,
        not_account_payable=result.not_account_payable,
    )
    insert_claim(claim, result.lines, prepared.items)
    paid = result.account + result.family_account
    account_post_entry(
        account=account,
        kind=LedgerEntry.Kind.FAMILY_SHARING_PAYMENT if prepared.family else LedgerEntry.Kind.SETTLEMENT_PAYMENT,
        amount=-paid,
        reference=claim.ledger_reference,
        memo=f"{prepared.caller.submitter}/{request.external_ref}"[:200],
        user=user,
    )
    audit(
        actor=user,
        action=AuditAction.CLAIM_SETTLE,
        target=claim,
        label=f"{prepared.caller.submitter}/{request.external_ref}",
        benefit=Claim.Benefit.PERSONAL_ACCOUNT.value,
        member=member.masked_id_number,
        treated=mask_id_number(prepared.treated_id_number),
        account=response["account"],
        family_account=response["family_account"],
        cash=response["cash"],
    )
    return {"settlement_id": claim.pk, **response}
