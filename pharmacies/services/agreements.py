"""Service agreements (协议): signing, bringing into force, renewal."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
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


# --- credit and renewal (Ziyang 第二十一条(二)) -----------------------------------------------


def provider_credit(provider: Provider, year: int | None = None):
    """The provider's latest credit score (with `year`: that year's), or None: read through
    settings.PROVIDER_CREDIT_READER (a dotted path to a function of the provider and an optional
    year returning an object with year, score and grade), because the scores live in
    supervision, which pharmacies may not import (README, Layout)."""
    path = getattr(settings, "PROVIDER_CREDIT_READER", "")
    if not path:
        return None
    reader = import_string(path)
    return reader(provider) if year is None else reader(provider, year=year)


def _renewal_credit_check(provider: Provider):
    """Ziyang 第二十一条(二): the use of the fund is part of credit management and the assessment
    results are tied to the renewal of the agreement. A provider whose latest credit grade is one
    of settings.AGREEMENT_RENEWAL_REFUSED_GRADES (the agency's choice; the text fixes none) is
    not renewed; any other grade is recorded with the renewal."""
    credit = provider_credit(provider)
    if credit is not None and credit.grade in getattr(settings, "AGREEMENT_RENEWAL_REFUSED_GRADES", ()):
        raise DomainError(
            _("The provider's credit grade does not allow renewing its agreement."),
            code="credit_grade_refuses_renewal",
            details={"provider": provider.code, "year": credit.year, "score": credit.score, "grade": credit.grade},
        )
    return credit


def _with_credit(reason: str, credit) -> str:
    if credit is None:
        return reason
    return f"{reason} " + gettext("(credit %(year)s: %(score)s, grade %(grade)s)") % {
        "year": credit.year, "score": credit.score, "grade": credit.grade,
    }


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
    credit = _renewal_credit_check(agreement.provider)
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
        reason=_with_credit(reason, credit),
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




# --- expiry ---------------------------------------------------------------------------------


@transaction.atomic
def agreements_expire_due(*, today: date | None = None) -> list[int]:
    """Agreements in force whose period ended before today expire (the daily beat task,
    pharmacies.expire_agreements). A provider left with no agreement in force becomes
    `expired`: settlement refuses it (code agreement_expired) until a renewal is activated.
    Safe to run again: an expired agreement is not in force any more. The ids expired."""
    today = today or timezone.localdate()
    due = list(
        Agreement.objects.filter(
            status__in=[Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED], period_to__lt=today,
        ).order_by("pk").values_list("pk", "provider_id")
    )
    expired = []
    for agreement_id, provider_id in due:
        # Sanctions' lock order: the provider, then its agreement; state re-read after the locks.
        provider = Provider.objects.select_for_update(of=("self",)).filter(pk=provider_id).first()
        agreement = Agreement.objects.select_for_update(of=("self",)).get(pk=agreement_id)
        if agreement.status not in (Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED) or agreement.period_to >= today:
            continue
        before = agreement.status
        agreement.status = Agreement.Status.EXPIRED
        agreement.status_reason = gettext("its period ended on %(date)s") % {"date": agreement.period_to.isoformat()}
        agreement.save(update_fields=["status", "status_reason"])
        _record(actor=None, action="expire", from_status=before, to_status=agreement.status,
                reason=agreement.status_reason, agreement=agreement, provider=provider)
        expired.append(agreement.pk)
        if provider is None:
            continue
        # A suspended provider stays suspended (the sanction is lifted by an auditor); an active
        # one can no longer settle.
        if provider.status == Provider.Status.ACTIVE:
            provider.status = Provider.Status.EXPIRED
            provider.save(update_fields=["status"])
            _record(actor=None, action="expire_provider", from_status=Provider.Status.ACTIVE,
                    to_status=provider.status, reason=agreement.status_reason, provider=provider)
        _notify(provider=provider, message="expired", values={
            "name": provider.name, "code": provider.code, "period_to": agreement.period_to.isoformat(),
        })
    return expired


def agreements_expiring(*, within_days: int | None = None, today: date | None = None):
    """Agreements in force ending within the warning window (settings.AGREEMENT_EXPIRY_WARNING_DAYS)
    and not yet renewed: the portal and the workbench show them."""
    today = today or timezone.localdate()
    days = getattr(settings, "AGREEMENT_EXPIRY_WARNING_DAYS", 90) if within_days is None else within_days
    return (
        Agreement.objects.filter(
            status__in=[Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED],
            period_to__gte=today, period_to__lte=today + timedelta(days=days), renewal__isnull=True,
        )
        .select_related("provider").order_by("period_to", "pk")
    )
