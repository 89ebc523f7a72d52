"""Primary-care registration (基层首诊 / 家庭医生签约): the member's chosen provider, on which
capitation (按人头付费) pays (Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六))."""

from datetime import date, timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError

from ..models import Member, PrimaryCareRegistration


def primary_care_check(*, member: Member, provider, valid_from: date):
    """Refuse a registration that would rewrite the history (naming the field); the member's
    latest registration, or None."""
    latest = PrimaryCareRegistration.objects.filter(member=member).order_by("-valid_from").first() if member.pk else None
    if latest is None:
        return None
    if valid_from <= latest.valid_from:
        raise Conflict(
            _("A registration starts after the member's latest one (%(day)s).") % {"day": latest.valid_from},
            code="primary_care_not_after_latest",
            details={"valid_from": valid_from.isoformat(), "latest_valid_from": latest.valid_from.isoformat()},
        )
    if latest.provider_id == provider.pk and (latest.valid_to is None or latest.valid_to >= valid_from):
        raise Conflict(
            _("The member is already registered with this provider."), code="primary_care_same_provider",
            details={"provider": provider.pk},
        )
    return latest


@transaction.atomic
def primary_care_register(*, member: Member, provider, valid_from: date, user=None) -> PrimaryCareRegistration:
    """Register the member with `provider` from `valid_from`; a current registration with
    another provider ends the day before (a change). History is never rewritten: a start on or
    before the current registration's start is refused, naming the field."""
    if provider is None or getattr(provider, "pk", None) is None:
        raise DomainError(_("Choose the primary-care provider."), code="invalid", details={"provider": ""})
    if valid_from is None:
        raise DomainError(_("Enter the date the registration starts."), code="invalid", details={"valid_from": ""})
    # The member's row serialises two changes of the same member.
    Member.objects.select_for_update(of=("self",)).filter(pk=member.pk).first()
    latest = primary_care_check(member=member, provider=provider, valid_from=valid_from)
    if latest is not None:
        if latest.valid_to is None or latest.valid_to >= valid_from:
            latest.valid_to = valid_from - timedelta(days=1)
            latest.save(update_fields=["valid_to"])
    registration = PrimaryCareRegistration.objects.create(
        member=member, provider=provider, valid_from=valid_from, registered_by=user if getattr(user, "pk", None) else None,
    )
    audit(actor=user, action=AuditAction.PRIMARY_CARE_REGISTER, target=registration, member=member.pk, provider=provider.pk,
          valid_from=valid_from.isoformat(), previous=latest.provider_id if latest else None)
    return registration


@transaction.atomic
def primary_care_end(*, member: Member, valid_to: date, user=None) -> PrimaryCareRegistration:
    """End the member's current registration on `valid_to` (the member leaves primary care)."""
    Member.objects.select_for_update(of=("self",)).filter(pk=member.pk).first()
    current = PrimaryCareRegistration.objects.filter(member=member, valid_to__isnull=True).first()
    if current is None:
        raise Conflict(_("The member has no current primary-care registration."), code="primary_care_none",
                       details={"member": member.pk})
    if valid_to < current.valid_from:
        raise DomainError(_("A registration cannot end before it starts."), code="invalid",
                          details={"valid_to": valid_to.isoformat()})
    current.valid_to = valid_to
    current.save(update_fields=["valid_to"])
    audit(actor=user, action=AuditAction.PRIMARY_CARE_END, target=current, member=member.pk, valid_to=valid_to.isoformat())
    return current


def primary_care_provider_on(member: Member, day: date):
    """The member's primary-care registration on `day`, or None."""
    return PrimaryCareRegistration.objects.filter(member=member).covering(day).first()
