"""Chronic and special diseases (门诊慢特病, 两病): registrations and settlement.

Services use plain `transaction.atomic()` (they join the caller's transaction; the outermost
entry point — API view, admin action, command — is the durable one). Pure rules live in
claims/chronic_calculator.py; the policy format in claims/chronic_format.py.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.errors import DomainError, NotFound
from core.idnumber import mask_id_number, normalize_id_number
from core.roles import ensure_separated

from . import chronic_calculator as chronic_calc
from . import settlement_queries as queries
from .models import ChronicRegistration, Disease, PolicyVersion


class RegistrationRefused(DomainError):
    code = "registration_refused"


def chronic_policy_on(day: date, region: str | None = None) -> PolicyVersion | None:
    """The region's chronic_special version in force on `day`."""
    return queries.policy_version_on(region or settings.REGION, PolicyVersion.Kind.CHRONIC_SPECIAL, day)


# ---------------------------------------------------------------------------------------
# Registrations (认定/备案)


def _overlapping(queryset, valid_from: date, valid_to: date | None):
    """Registrations whose validity overlaps [valid_from, valid_to]."""
    queryset = queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
    if valid_to is not None:
        queryset = queryset.filter(valid_from__lte=valid_to)
    return queryset


def _check_dates(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise RegistrationRefused(_("The end date is before the start date."), code="invalid", details={"field": "valid_to"})


def registration_exclusion(*, registration: ChronicRegistration, pending: bool) -> list[ChronicRegistration]:
    """Apply the region's exclusion rule (Ziyang 第九条) to a new registration: refuse it, or
    return the member's approved registrations it ends. `pending`: it is only proposed (what
    it would end is not ended yet)."""
    policy = chronic_policy_on(registration.valid_from)
    parameters = policy.parameters if policy is not None else {}
    others = _overlapping(
        ChronicRegistration.objects.filter(member_id=registration.member_id, status=ChronicRegistration.Status.APPROVED)
        .exclude(pk=registration.pk).select_related("disease"),
        registration.valid_from, registration.valid_to,
    )
    others = list(others)
    decision = chronic_calc.exclusion(
        parameters, new_group=registration.disease.group, held_groups={other.disease.group for other in others}
    )
    if decision.refused_by_group is not None:
        raise RegistrationRefused(
            _("The region's policy does not allow this registration together with the member's {group} registration: the benefits may not be enjoyed twice.").format(
                group=Disease.Group(decision.refused_by_group).label),
            code="registration_excluded",
            details={"field": "disease", "held_group": decision.refused_by_group},
        )
    if pending:
        return []
    return [other for other in others if other.disease.group in decision.ends_groups]


def _end_excluded(*, registration: ChronicRegistration, ended: list[ChronicRegistration], user) -> None:
    """Ziyang 第九条: a special-disease registration ends the member's 两病 one on the day before
    it starts (revoked when it would not have started by then)."""
    last_day = registration.valid_from - timedelta(days=1)
    for other in ended:
        other.ended_by = registration
        if other.valid_from > last_day:
            other.status = ChronicRegistration.Status.REVOKED
            other.revoked_by = user if getattr(user, "pk", None) else None
            other.revoked_at = timezone.now()
            other.revoke_reason = f"superseded by registration {registration.pk} ({registration.disease.code})"[:300]
            other.save(update_fields=["ended_by", "status", "revoked_by", "revoked_at", "revoke_reason"])
        else:
            other.valid_to = last_day
            other.save(update_fields=["ended_by", "valid_to"])
        audit(actor=user, action="chronic_registration.end", target=other, label=str(other),
              ended_by=registration.pk, valid_to=str(other.valid_to), status=other.status)


@transaction.atomic
def registration_propose(
    *, user, member, disease: Disease, valid_from: date, valid_to: date | None = None,
    certified_by=None, designated_provider=None,
) -> ChronicRegistration:
    """A case worker proposes a registration; another approves it."""
    _check_dates(valid_from, valid_to)
    same = _overlapping(
        ChronicRegistration.objects.filter(member=member, disease=disease).exclude(status=ChronicRegistration.Status.REVOKED),
        valid_from, valid_to,
    )
    if same.exists():
        raise RegistrationRefused(
            _("The member already has a registration for this disease in these dates."),
            code="registration_overlaps", details={"field": "valid_from"},
        )
    registration = ChronicRegistration(
        member=member, disease=disease, valid_from=valid_from, valid_to=valid_to, certified_by=certified_by,
        designated_provider=designated_provider, status=ChronicRegistration.Status.PROPOSED,
        proposed_by=user, proposed_at=timezone.now(),
    )
    registration_exclusion(registration=registration, pending=True)
    registration.save()
    audit(actor=user, action="chronic_registration.propose", target=registration, label=str(registration),
          disease=disease.code, valid_from=str(valid_from), valid_to=str(valid_to))
    return registration


@transaction.atomic
def registration_approve(*, user, registration: ChronicRegistration) -> ChronicRegistration:
    """Another case worker approves (never the proposer: Ziyang 第十九条, separated duties)."""
    registration = ChronicRegistration.objects.select_for_update(of=("self",)).select_related("disease", "member").get(pk=registration.pk)
    if registration.status != ChronicRegistration.Status.PROPOSED:
        raise RegistrationRefused(
            _("Only a proposed registration can be approved."), code="invalid_state", details={"status": registration.status}
        )
    ensure_separated(proposer=registration.proposed_by, approver=user)
    ended = registration_exclusion(registration=registration, pending=False)
    registration.status = ChronicRegistration.Status.APPROVED
    registration.approved_by = user
    registration.approved_at = timezone.now()
    registration.save(update_fields=["status", "approved_by", "approved_at"])
    _end_excluded(registration=registration, ended=ended, user=user)
    audit(actor=user, action="chronic_registration.approve", target=registration, label=str(registration),
          ended=[other.pk for other in ended])
    return registration


@transaction.atomic
def registration_revoke(*, user, registration: ChronicRegistration, reason: str) -> ChronicRegistration:
    """Revoke with a reason: the registration no longer covers any day."""
    reason = (reason or "").strip()
    if not reason:
        raise RegistrationRefused(_("Give the reason for revoking."), code="reason_required", details={"field": "reason"})
    registration = ChronicRegistration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
    if registration.status == ChronicRegistration.Status.REVOKED:
        raise RegistrationRefused(_("The registration is already revoked."), code="invalid_state", details={"status": registration.status})
    registration.status = ChronicRegistration.Status.REVOKED
    registration.revoked_by = user
    registration.revoked_at = timezone.now()
    registration.revoke_reason = reason[:300]
    registration.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_reason"])
    audit(actor=user, action="chronic_registration.revoke", target=registration, label=str(registration), reason=reason[:300])
    return registration


def member_registrations(*, user, id_number: str) -> dict:
    """The member's chronic and special disease registrations (like the national 5301). Every
    read is logged with who asked."""
    from members.models import Member

    id_number = normalize_id_number(id_number)
    member = Member.objects.filter(id_number=id_number).first()
    audit(actor=user, action="member.registrations.read", target=member, label=mask_id_number(id_number))
    if member is None:
        raise NotFound(_("No member has this ID number."), code="member_not_found", details={"id_number": mask_id_number(id_number)})
    today = timezone.localdate()
    rows = (
        ChronicRegistration.objects.filter(member=member)
        .exclude(status=ChronicRegistration.Status.PROPOSED)
        .select_related("disease", "certified_by", "designated_provider")
        .order_by("-valid_from", "-pk")
    )
    return {
        "id_number": mask_id_number(member.id_number),
        "registrations": [
            {
                "disease_code": row.disease.code,
                "disease_name": row.disease.name,
                "group": row.disease.group,
                "valid_from": row.valid_from.isoformat(),
                "valid_to": row.valid_to.isoformat() if row.valid_to else None,
                "status": row.status,
                "valid_today": row.covers(today),
                "certified_by_code": row.certified_by.code if row.certified_by else None,
                "designated_provider_code": row.designated_provider.code if row.designated_provider else None,
                "designated_provider_name": row.designated_provider.name if row.designated_provider else None,
            }
            for row in rows
        ],
    }
