"""What every step of the designation workflow shares: state checks, reasons, the transition record."""

import logging

from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.roles import Role, require_role

from ..access import staff_link
from ..models import (
    Application,
    ApplicationDocument,
    Provider,
    WorkflowTransition,
)

logger = logging.getLogger("gongji.pharmacies")

# Documents an application must carry before it can be submitted.
REQUIRED_DOCUMENTS = {
    Provider.Kind.INSTITUTION: [ApplicationDocument.Kind.PRACTISING_LICENCE],
    Provider.Kind.PHARMACY: [ApplicationDocument.Kind.DRUG_TRADING_LICENCE],
}
# Graded hospitals prove their grade.
LEVELS_NEEDING_CERTIFICATE = {
    Provider.Level.LEVEL_2,
    Provider.Level.LEVEL_3,
    Provider.Level.PROVINCIAL_TERTIARY_A,
}
EDITABLE_FIELDS = (
    "name",
    "level",
    "parent",
    "district",
    "outpatient_pooling",
    "contact_name",
    "contact_phone",
    "contact_email",
)



class InvalidState(Conflict):
    code = "invalid_state"
    default_message = _("This step is not possible in the current state.")


class AdmissionConditionsUnmet(DomainError):
    code = "admission_conditions_unmet"
    default_message = _(
        "A pharmacy joining outpatient pooling must meet every admission condition."
    )


# --- helpers ------------------------------------------------------------------------------


def _acts_for_provider(actor) -> Provider | None:
    """The provider a provider-staff user acts for, or None for agency staff."""
    link = staff_link(actor)
    if link is None:
        return None
    if link.provider_id is None:  # the cross-region platform files no applications
        raise Forbidden()
    return link.provider


def _check_may_file(actor, application: Application | None = None) -> Provider | None:
    """Provider staff act on their own provider's applications only; otherwise a case worker."""
    own = _acts_for_provider(actor)
    if own is not None:
        if application is not None and application.provider_id != own.pk:
            # Another provider's application does not exist for this user.
            raise NotFound()
        return own
    require_role(actor, Role.CASE_WORKER)
    return None


def _lock_application(application: Application) -> Application:
    return Application.objects.select_for_update(of=("self",)).get(pk=application.pk)


def _expect(obj, *statuses) -> None:
    if obj.status not in statuses:
        raise InvalidState(details={"status": obj.status, "expected": list(statuses)})


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            _("A reason is required."), code="reason_required", details={"reason": "required"}
        )
    return reason


def _record(
    *,
    actor,
    action,
    from_status,
    to_status,
    reason="",
    application=None,
    agreement=None,
    provider=None,
):
    WorkflowTransition.objects.create(
        application=application,
        agreement=agreement,
        provider=provider,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        reason=reason,
    )
    target = application or agreement or provider
    audit(
        actor=actor,
        action=AuditAction(f"workflow_{action}"),
        target=target,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
    )


