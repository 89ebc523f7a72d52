"""Lawful uses of the personal account: premiums the region's policy allows."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.money import to_fen
from core.roles import Role, require_role

from ..models import (
    FamilyLink,
    LedgerEntry,
    Member,
    PersonalAccount,
)
from .credit_runs import credit_policy_in_force
from .ledger import account_lock, account_post_entry

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


@transaction.atomic
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
    audit(actor=user, action=AuditAction.ACCOUNT_PAY_PREMIUM, target=account, purpose=purpose, amount=str(amount),
          entry=entry.pk)
    return entry


