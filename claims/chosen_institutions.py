"""Members' chosen institutions (人员定点备案): register, end, change. Jinan (四).

Until 2023-12-31 a Jinan member used outpatient pooling only at the designated institutions
they had chosen, limited in number; from 2024-01 不受定点数量限制. Whether the policy version in
force requires chosen institutions, and how many a member may have at once, is its
`chosen_institutions` parameter (FORMAT.md). The number is the agency's: the text says a limit
applied, not its value, so while a version that requires chosen institutions leaves
`max_count` empty, registering under it is refused naming the parameter (settlement itself
never needs the number). Every change is audited and joins the caller's transaction.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.roles import Role, has_role, require_role
from members.models import Member
from pharmacies.access import staff_link
from pharmacies.models import Provider

from . import calculator as calc
from .models import ChosenInstitution, Claim, PolicyVersion


class ChosenInstitutionRefused(DomainError):
    code = "chosen_institution_refused"


def _require_actor(user, *, provider_id: int) -> None:
    """Who may register or end a chosen institution: a case worker (README "Roles": 经办; 稽核 and
    财务 only read), the institution itself through the national interface (2505/2506: it
    registers a person at itself only), or a system caller (`user` None: a command or a task)."""
    if user is None or has_role(user, Role.CASE_WORKER):
        return
    link = staff_link(user)
    if link is not None and link.provider_id is not None and link.provider_id == provider_id:
        return
    require_role(user, Role.CASE_WORKER)


def chosen_on(*, member_id: int, provider_id: int, day: date) -> bool:
    """Whether the provider is among the member's chosen institutions on `day` (one query)."""
    return ChosenInstitution.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=day), cancelled=False, member_id=member_id, provider_id=provider_id, valid_from__lte=day,
    ).exists()


def _overlapping(queryset, valid_from: date, valid_to: date | None):
    queryset = queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from), cancelled=False)
    return queryset.filter(valid_from__lte=valid_to) if valid_to is not None else queryset


def _check_limit(*, member: Member, valid_from: date, valid_to: date | None, exclude_pk: int | None = None) -> None:
    """The number of chosen institutions at once, by every version in force during the span
    that requires them (Jinan (四): 定点数量限制 until 2023-12-31)."""
    versions = PolicyVersion.objects.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=valid_from),
        kind=PolicyVersion.Kind.OUTPATIENT_POOLING, region=_region(),
    )
    if valid_to is not None:
        versions = versions.filter(effective_from__lte=valid_to)
    for version in versions.order_by("effective_from"):
        rule = calc.chosen_institutions_rule(version.parameters)
        if not rule.get("required"):
            continue
        limit = rule.get("max_count")
        if limit is None:
            raise ChosenInstitutionRefused(
                _("The region's policy from {date} requires chosen institutions but leaves their number empty "
                  "(chosen_institutions.max_count). A case worker must set it before registering.").format(
                    date=version.effective_from.isoformat()),
                code=calc.PolicyParameterMissing.code,
                details={"parameter": "chosen_institutions.max_count", "policy_version": version.pk, "article": "济南 (四)"},
            )
        start = max(valid_from, version.effective_from)
        end = min(d for d in (valid_to, version.effective_to) if d is not None) if (valid_to or version.effective_to) else None
        others = _overlapping(ChosenInstitution.objects.filter(member=member), start, end)
        if exclude_pk is not None:
            others = others.exclude(pk=exclude_pk)
        spans = [(max(row.valid_from, start), row.valid_to) for row in others] + [(start, end)]
        if calc.most_at_once(spans) > limit:
            raise ChosenInstitutionRefused(
                _("The member may have at most {count} chosen institutions at once (policy from {date}); end one first.").format(
                    count=limit, date=version.effective_from.isoformat()),
                code="chosen_institutions_limit",
                details={"field": "provider", "max_count": limit, "policy_version": version.pk, "article": "济南 (四)"},
            )


def _region() -> str:
    from django.conf import settings

    return settings.REGION


@transaction.atomic
def chosen_institution_register(
    *, user, member: Member, provider: Provider, valid_from: date, valid_to: date | None = None,
    source: str = ChosenInstitution.Source.ADMIN, sort_no: str = "", application_type: str = "", memo: str = "",
) -> ChosenInstitution:
    """Register a chosen institution for the member from `valid_from` (人员定点备案, 2505)."""
    _require_actor(user, provider_id=provider.pk)
    if valid_to is not None and valid_to < valid_from:
        raise ChosenInstitutionRefused(_("The end date is before the start date."), code="dates_out_of_order",
                                       details={"field": "valid_to"})
    if provider.kind != Provider.Kind.INSTITUTION:
        raise ChosenInstitutionRefused(_("Only a designated medical institution can be chosen, not a pharmacy."),
                                       code="not_an_institution", details={"field": "provider", "provider": provider.code})
    # One registration at a time per member: lock the member row (two concurrent registrations
    # must not both pass the limit).
    member = Member.objects.select_for_update().get(pk=member.pk)
    if _overlapping(ChosenInstitution.objects.filter(member=member, provider=provider), valid_from, valid_to).exists():
        raise ChosenInstitutionRefused(
            _("The member has already chosen this institution for these dates."),
            code="chosen_institution_overlaps", details={"field": "provider", "provider": provider.code},
        )
    _check_limit(member=member, valid_from=valid_from, valid_to=valid_to)
    chosen = ChosenInstitution.objects.create(
        member=member, provider=provider, valid_from=valid_from, valid_to=valid_to, source=source,
        sort_no=sort_no[:3], application_type=application_type[:3], memo=memo[:500], created_by=user,
    )
    audit(actor=user, action=AuditAction.CHOSEN_INSTITUTION_REGISTER, target=chosen, label=f"{member.masked_id_number} · {provider.code}",
          provider=provider.code, valid_from=str(valid_from), valid_to=str(valid_to), source=source)
    return chosen


@transaction.atomic
def chosen_institution_end(*, user, chosen: ChosenInstitution, last_day: date, reason: str = "") -> ChosenInstitution:
    """End a chosen institution on `last_day` (2506 cancels it from its first day: nothing left).
    A day on which it paid a settled visit is never taken away."""
    chosen = ChosenInstitution.objects.select_for_update().select_related("member", "provider").get(pk=chosen.pk)
    _require_actor(user, provider_id=chosen.provider_id)
    if chosen.cancelled:
        raise ChosenInstitutionRefused(_("The chosen institution was cancelled."), code="already_ended", details={"field": "valid_to"})
    if chosen.valid_to is not None and chosen.valid_to <= last_day:
        raise ChosenInstitutionRefused(_("The chosen institution already ends on {date}.").format(date=chosen.valid_to.isoformat()),
                                       code="already_ended", details={"field": "valid_to"})
    if last_day < chosen.valid_from - timedelta(days=1):
        raise ChosenInstitutionRefused(_("The end date is before the start date."), code="dates_out_of_order",
                                       details={"field": "valid_to"})
    used = Claim.objects.filter(
        member_id=chosen.member_id, provider_id=chosen.provider_id, status=Claim.Status.SETTLED, visit_date__gt=last_day,
        visit_date__gte=chosen.valid_from,
    )
    if chosen.valid_to is not None:
        used = used.filter(visit_date__lte=chosen.valid_to)
    first = used.order_by("visit_date").values_list("visit_date", flat=True).first()
    if first is not None:
        raise ChosenInstitutionRefused(
            _("A settled visit on {date} relied on this chosen institution: end it on that day or later, or reverse the visit first.").format(
                date=first.isoformat()),
            code="chosen_institution_in_use", details={"field": "valid_to", "visit_date": first.isoformat()},
        )
    previous = chosen.valid_to
    chosen.valid_to = last_day
    chosen.ended_by = user
    chosen.ended_at = timezone.now()
    chosen.end_reason = reason[:500]
    if last_day < chosen.valid_from:
        # Cancelled before it began (2506, or a change on its first day): it never applied.
        chosen.valid_to = previous
        chosen.cancelled = True
        chosen.save(update_fields=["valid_to", "ended_by", "ended_at", "end_reason", "cancelled"])
        audit(actor=user, action=AuditAction.CHOSEN_INSTITUTION_CANCEL, target=chosen, label=str(chosen), reason=reason[:200])
        return chosen
    chosen.save(update_fields=["valid_to", "ended_by", "ended_at", "end_reason"])
    audit(actor=user, action=AuditAction.CHOSEN_INSTITUTION_END, target=chosen, label=str(chosen),
          last_day=str(last_day), previous_valid_to=str(previous), reason=reason[:200])
    return chosen


@transaction.atomic
def chosen_institution_change(
    *, user, chosen: ChosenInstitution, provider: Provider, from_day: date, reason: str = "",
    source: str = ChosenInstitution.Source.ADMIN,
) -> ChosenInstitution:
    """Change a chosen institution from `from_day`: the old one ends the day before, the new one
    starts that day (with the old one's end, if it had one)."""
    _require_actor(user, provider_id=chosen.provider_id)
    _require_actor(user, provider_id=provider.pk)
    old_end = chosen.valid_to
    chosen_institution_end(user=user, chosen=chosen, last_day=from_day - timedelta(days=1), reason=reason or str(_("changed")))
    return chosen_institution_register(
        user=user, member=chosen.member, provider=provider, valid_from=from_day,
        valid_to=old_end if old_end is not None and old_end >= from_day else None, source=source, memo=reason,
    )
