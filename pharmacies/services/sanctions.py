"""Suspending, reinstating and terminating a designated provider."""

from django.db import transaction

from core.roles import Role, require_role

from ..models import (
    Agreement,
    Provider,
)
from .common import _expect, _reason_required, _record
from .notifications import _notify


def _change_provider_status(
    *,
    provider: Provider,
    actor,
    reason: str,
    action: str,
    expected: tuple,
    to_status: str,
    agreement_to: str,
) -> Provider:
    require_role(actor, Role.AUDITOR)
    reason = _reason_required(reason)
    provider = Provider.objects.select_for_update(of=("self",)).get(pk=provider.pk)
    _expect(provider, *expected)
    before = provider.status
    provider.status = to_status
    provider.save(update_fields=["status"])
    in_force = (
        Agreement.objects.select_for_update(of=("self",))
        .filter(provider=provider, status__in=[Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED])
        .order_by("pk")
        .first()
    )
    if in_force is not None:
        agreement_before = in_force.status
        in_force.status = agreement_to
        in_force.status_reason = reason
        in_force.save(update_fields=["status", "status_reason"])
        _record(
            actor=actor,
            action=action,
            from_status=agreement_before,
            to_status=agreement_to,
            reason=reason,
            agreement=in_force,
            provider=provider,
        )
    _record(
        actor=actor,
        action=f"{action}_provider",
        from_status=before,
        to_status=to_status,
        reason=reason,
        provider=provider,
    )
    return provider


@transaction.atomic
def provider_suspend(*, provider: Provider, actor, reason: str) -> Provider:
    """active → suspended: settlement refuses the provider until reinstated."""
    provider = _change_provider_status(
        provider=provider,
        actor=actor,
        reason=reason,
        action="suspend",
        expected=(Provider.Status.ACTIVE,),
        to_status=Provider.Status.SUSPENDED,
        agreement_to=Agreement.Status.SUSPENDED,
    )
    _notify(
        provider=provider,
        message="suspended",
        values={"name": provider.name, "code": provider.code, "reason": reason.strip()},
    )
    return provider


@transaction.atomic
def provider_reinstate(*, provider: Provider, actor, reason: str) -> Provider:
    """suspended → active."""
    provider = _change_provider_status(
        provider=provider,
        actor=actor,
        reason=reason,
        action="reinstate",
        expected=(Provider.Status.SUSPENDED,),
        to_status=Provider.Status.ACTIVE,
        agreement_to=Agreement.Status.ACTIVE,
    )
    _notify(
        provider=provider,
        message="reinstated",
        values={"name": provider.name, "code": provider.code, "reason": reason.strip()},
    )
    return provider


@transaction.atomic
def provider_terminate(*, provider: Provider, actor, reason: str) -> Provider:
    """active or suspended → terminated (解除协议)."""
    provider = _change_provider_status(
        provider=provider,
        actor=actor,
        reason=reason,
        action="terminate",
        expected=(Provider.Status.ACTIVE, Provider.Status.SUSPENDED),
        to_status=Provider.Status.TERMINATED,
        agreement_to=Agreement.Status.TERMINATED,
    )
    _notify(
        provider=provider,
        message="terminated",
        values={"name": provider.name, "code": provider.code, "reason": reason.strip()},
    )
    return provider


