"""Service agreements (协议): signing, bringing into force, renewal."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError
from core.roles import Role, require_role

from ..models import (
    Agreement,
    Application,
    Provider,
)
from .common import InvalidState, _expect, _lock_application, _reason_required, _record
from .notifications import _notify


def _check_agreement_terms(*, period_from: date, period_to: date, payment_method: str) -> None:
    if period_to < period_from:
        raise DomainError(
            _("The agreement must end after it starts."),
            code="invalid_period",
            details={"period_to": "before_period_from"},
        )
    if payment_method not in Agreement.PaymentMethod.values:
        raise DomainError(code="invalid", details={"payment_method": "invalid"})


def _agreement_values(agreement: Agreement, name: str, code: str, **extra) -> dict:
    return {
        "name": name,
        "code": code,
        "period_from": agreement.period_from.isoformat(),
        "period_to": agreement.period_to.isoformat(),
        "payment_method": str(agreement.get_payment_method_display()),
        "pooling": gettext("yes") if agreement.outpatient_pooling else gettext("no"),
        **extra,
    }


@transaction.atomic
def agreement_sign(
    *,
    application: Application,
    actor,
    period_from: date,
    period_to: date,
    payment_method: str,
    outpatient_pooling: bool,
) -> Agreement:
    """approved → signed: record the agreement the approval allows."""
    require_role(actor, Role.CASE_WORKER)
    application = _lock_application(application)
    _expect(application, Application.Status.APPROVED)
    _check_agreement_terms(
        period_from=period_from, period_to=period_to, payment_method=payment_method
    )
    if outpatient_pooling and not application.outpatient_pooling:
        # Pooling is granted only to who applied for it (and, for a pharmacy, proved the conditions).
        raise DomainError(
            _("Outpatient pooling was not applied for."),
            code="pooling_not_applied",
            details={"outpatient_pooling": "not_applied"},
        )
    agreement = Agreement.objects.create(
        provider=application.provider,
        application=application,
        period_from=period_from,
        period_to=period_to,
        payment_method=payment_method,
        outpatient_pooling=outpatient_pooling,
        signed_by=actor,
    )
    before = application.status
    application.status = Application.Status.SIGNED
    application.save(update_fields=["status"])
    _record(
        actor=actor,
        action="sign",
        from_status=before,
        to_status=application.status,
        application=application,
        agreement=agreement,
    )
    with translation.override(settings.LANGUAGE_CODE):
        values = _agreement_values(
            agreement, application.name, application.code, number=application.pk
        )
    _notify(
        application=application,
        message="signed",
        values=values,
    )
    return agreement


def _lock_agreement(agreement: Agreement) -> Agreement:
    return Agreement.objects.select_for_update(of=("self",)).get(pk=agreement.pk)


@transaction.atomic
def agreement_activate(*, agreement: Agreement, actor, today: date | None = None) -> Provider:
    """signed → active: the agreement comes into force; the registry row is created or updated."""
    require_role(actor, Role.CASE_WORKER)
    today = today or timezone.localdate()
    agreement = _lock_agreement(agreement)
    _expect(agreement, Agreement.Status.SIGNED)
    if not agreement.period_from <= today <= agreement.period_to:
        raise DomainError(
            _("The agreement is not in its period."),
            code="agreement_not_in_period",
            details={
                "period_from": agreement.period_from.isoformat(),
                "period_to": agreement.period_to.isoformat(),
            },
        )
    application = _lock_application(agreement.application) if agreement.application_id else None
    if application is not None:
        _expect(application, Application.Status.SIGNED)
    code = application.code if application is not None else agreement.provider.code
    provider = Provider.objects.select_for_update(of=("self",)).filter(code=code).first()
    if provider is not None and provider.status == Provider.Status.SUSPENDED:
        raise InvalidState(
            _("The provider is suspended; reinstate it first."), code="provider_suspended"
        )
    created = provider is None
    if created:
        provider = Provider(code=code)
    provider_before = "" if created else provider.status
    if application is not None:
        provider.name = application.name
        provider.kind = application.kind
        provider.level = application.level
        provider.parent = application.parent
        provider.district = application.district
    provider.outpatient_pooling = agreement.outpatient_pooling
    provider.status = Provider.Status.ACTIVE
    provider.full_clean(validate_unique=False, validate_constraints=False)
    provider.save()
    # The agreement it replaces (renewal, or a new application of a provider under agreement).
    for older in (
        Agreement.objects.select_for_update(of=("self",))
        .filter(provider=provider, status__in=[Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED])
        .order_by("pk")
    ):
        older_before = older.status
        older.status = Agreement.Status.RENEWED
        older.status_reason = gettext("replaced by agreement no. %(number)s") % {
            "number": agreement.pk
        }
        older.save(update_fields=["status", "status_reason"])
        _record(
            actor=actor,
            action="replace",
            from_status=older_before,
            to_status=older.status,
            agreement=older,
            provider=provider,
        )
    agreement.provider = provider
    agreement.status = Agreement.Status.ACTIVE
    agreement.save(update_fields=["provider", "status"])
    if application is not None:
        application.provider = provider
        application.status = Application.Status.ACTIVE
        application.save(update_fields=["provider", "status"])
        _record(
            actor=actor,
            action="activate",
            from_status=Application.Status.SIGNED,
            to_status=application.status,
            application=application,
            agreement=agreement,
            provider=provider,
        )
    _record(
        actor=actor,
        action="activate_provider",
        from_status=provider_before,
        to_status=provider.status,
        agreement=agreement,
        provider=provider,
    )
    _notify(
        provider=provider,
        application=application,
        message="in_force",
        values={
            "name": provider.name,
            "code": provider.code,
            "period_from": agreement.period_from.isoformat(),
            "period_to": agreement.period_to.isoformat(),
        },
    )
    return provider


@transaction.atomic
def agreement_renew(
    *,
    agreement: Agreement,
    actor,
    period_to: date,
    reason: str,
    period_from: date | None = None,
    payment_method: str | None = None,
    outpatient_pooling: bool | None = None,
) -> Agreement:
    """Sign the next agreement of a provider in force (协议续签); it replaces this one on activation."""
    require_role(actor, Role.CASE_WORKER)
    reason = _reason_required(reason)
    agreement = _lock_agreement(agreement)
    _expect(agreement, Agreement.Status.ACTIVE)
    if Agreement.objects.filter(previous=agreement).exists():
        raise Conflict(_("This agreement has already been renewed."), code="already_renewed")
    period_from = period_from or agreement.period_to + timedelta(days=1)
    payment_method = payment_method or agreement.payment_method
    outpatient_pooling = (
        agreement.outpatient_pooling if outpatient_pooling is None else outpatient_pooling
    )
    _check_agreement_terms(
        period_from=period_from, period_to=period_to, payment_method=payment_method
    )
    if period_from <= agreement.period_from:
        raise DomainError(
            _("A renewal starts after the agreement it renews."),
            code="invalid_period",
            details={"period_from": "not_after_current"},
        )
    if outpatient_pooling and not agreement.outpatient_pooling:
        # Joining pooling needs an application (and a pharmacy's admission conditions).
        raise DomainError(
            _("Outpatient pooling was not applied for."),
            code="pooling_not_applied",
            details={"outpatient_pooling": "not_applied"},
        )
    renewal = Agreement.objects.create(
        provider=agreement.provider,
        previous=agreement,
        period_from=period_from,
        period_to=period_to,
        payment_method=payment_method,
        outpatient_pooling=outpatient_pooling,
        signed_by=actor,
        status_reason=reason,
    )
    _record(
        actor=actor,
        action="renew",
        from_status="",
        to_status=renewal.status,
        reason=reason,
        agreement=renewal,
        provider=agreement.provider,
    )
    provider = agreement.provider
    with translation.override(settings.LANGUAGE_CODE):
        values = _agreement_values(renewal, provider.name, provider.code, reason=reason)
    _notify(
        provider=provider,
        message="renewed",
        values=values,
    )
    return renewal


# --- sanctions on a provider in force ---------------------------------------------------


