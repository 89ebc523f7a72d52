"""State changes of the designation workflow (定点申请 → 评估 → 协议 → 定点). One transaction each.

Who does what (Ziyang 第十九条: handling and audit are incompatible duties, 经办和稽核分离):

- file, edit a draft, upload documents, answer the admission conditions, submit
  (`application_create`, `application_update`, `application_add_document`,
  `application_remove_document`, `application_answer_condition`, `application_submit`):
  the provider's own staff in the portal, or a case worker (经办) in the admin;
- take up the review and record the site inspection (`application_start_review`,
  `application_record_inspection`): a case worker (经办); whoever takes it up is the reviewer;
- approve or reject (`application_approve`, `application_reject`): an auditor (稽核), never
  the reviewer (`ensure_separated`, also for a superuser or a person holding both roles);
- sign the agreement, bring it into force, renew it (`agreement_sign`, `agreement_activate`,
  `agreement_renew`): a case worker (经办), carrying out an approved decision within it;
- suspend, reinstate, terminate a provider (`provider_suspend`, `provider_reinstate`,
  `provider_terminate`): an auditor (稽核): sanctions follow inspections and audits.

The approval is the decision, so it goes to the audit role and to a different person from
the reviewer. Signing records the agreement the decision allows: it may not grant outpatient
pooling that was not applied for (and, for a pharmacy, proved by the admission conditions).

Every transition: locks the row it changes, re-reads its state, refuses with a stable code
when the state or the role is wrong (nothing written), writes a `WorkflowTransition` row and
an audit event, and tells the provider (portal notification + e-mail after commit).

Draft edits (`application_create`, `application_update`) are plain `atomic`, not durable:
the admin's change form calls them inside its own transaction. They change no state.
"""

import logging
from datetime import date, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import Token

from core.audit import audit
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.roles import Role, ensure_separated, require_role

from .access import staff_link
from .documents import inspect_upload
from .models import (
    AdmissionCondition,
    Agreement,
    Application,
    ApplicationDocument,
    Notification,
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


# What the provider is told at each decision (subject, body); rendered in LANGUAGE_CODE.
MESSAGES = {
    "received": (
        gettext_noop("Application no. %(number)s for %(name)s received"),
        gettext_noop(
            "Your application no. %(number)s for the designation of %(name)s (%(code)s) has been "
            "received and awaits review by the agency."
        ),
    ),
    "under_review": (
        gettext_noop("Application no. %(number)s for %(name)s is under review"),
        gettext_noop(
            "The agency has started reviewing your application no. %(number)s for %(name)s "
            "(%(code)s). A site inspection may follow."
        ),
    ),
    "approved": (
        gettext_noop("Application no. %(number)s for %(name)s approved"),
        gettext_noop(
            "Your application no. %(number)s for %(name)s (%(code)s) has been approved. The agency "
            "will contact you to sign the agreement. %(reason)s"
        ),
    ),
    "rejected": (
        gettext_noop("Application no. %(number)s for %(name)s rejected"),
        gettext_noop(
            "Your application no. %(number)s for %(name)s (%(code)s) has been rejected. Reasons: "
            "%(reason)s"
        ),
    ),
    "signed": (
        gettext_noop("Agreement signed with %(name)s"),
        gettext_noop(
            "The agreement with %(name)s (%(code)s) has been signed: valid from %(period_from)s to "
            "%(period_to)s, payment method %(payment_method)s, outpatient pooling: %(pooling)s."
        ),
    ),
    "in_force": (
        gettext_noop("%(name)s is a designated provider"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) is in force from %(period_from)s to %(period_to)s."
        ),
    ),
    "renewed": (
        gettext_noop("Agreement of %(name)s renewed"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) has been renewed: valid from %(period_from)s to "
            "%(period_to)s, payment method %(payment_method)s, outpatient pooling: %(pooling)s. "
            "Reason: %(reason)s"
        ),
    ),
    "suspended": (
        gettext_noop("Agreement of %(name)s suspended"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) is suspended; settlements are refused until it is "
            "reinstated. Reason: %(reason)s"
        ),
    ),
    "reinstated": (
        gettext_noop("Agreement of %(name)s reinstated"),
        gettext_noop("The agreement of %(name)s (%(code)s) is in force again. Reason: %(reason)s"),
    ),
    "terminated": (
        gettext_noop("Agreement of %(name)s terminated"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) has been terminated. Reason: %(reason)s"
        ),
    ),
}


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
        action=f"workflow_{action}",
        target=target,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
    )


def _recipients(*, provider: Provider | None, application: Application | None) -> list[str]:
    emails = set()
    if provider is not None:
        emails.update(
            get_user_model()
            .objects.filter(provider_staff__provider=provider, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    if application is not None and application.contact_email:
        emails.add(application.contact_email)
    return sorted(emails)


def _send(subject: str, body: str, recipients: list[str]) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # the decision stands; the notification is in the portal
        logger.exception("notification e-mail failed: %s", subject)


def _notify(*, message: str, values: dict, provider=None, application=None) -> Notification:
    """Tell the provider: a portal notification now, an e-mail once the transaction commits.

    Provider staff read Chinese: the text is rendered in the deployment's language
    (LANGUAGE_CODE, zh-hans), whatever language the acting case worker's request used.
    """
    provider = provider or (application.provider if application is not None else None)
    subject_template, body_template = MESSAGES[message]
    with translation.override(settings.LANGUAGE_CODE):
        subject = gettext(subject_template) % values
        body = gettext(body_template) % values
    recipients = _recipients(provider=provider, application=application)
    notification = Notification.objects.create(
        provider=provider,
        application=application,
        subject=subject[:200],
        body=body,
        emailed_to=", ".join(recipients),
    )
    if recipients:
        transaction.on_commit(partial(_send, subject, body, recipients))
    return notification


def _app_values(application: Application, **extra) -> dict:
    return {"name": application.name, "code": application.code, "number": application.pk, **extra}


def _validate_particulars(application: Application) -> None:
    """Code, kind, level and parent agree with each other (refused with field details)."""
    errors = {}
    try:
        Provider._meta.get_field("code").run_validators(application.code)
    except Exception:
        errors["code"] = "invalid"
    if application.kind not in Provider.Kind.values:
        errors["kind"] = "required"
    prefix = "H" if application.kind == Provider.Kind.INSTITUTION else "P"
    if "code" not in errors and "kind" not in errors and not application.code.startswith(prefix):
        errors["code"] = "kind_mismatch"
    if application.kind == Provider.Kind.INSTITUTION and not application.level:
        errors["level"] = "required"
    if application.kind == Provider.Kind.PHARMACY and application.level:
        errors["level"] = "pharmacies_have_no_level"
    if application.level == Provider.Level.INTERNET_HOSPITAL:
        # Jinan (十二): an internet hospital follows the physical institution it relies on.
        parent = application.parent
        if parent is None:
            errors["parent"] = "required"
        elif (
            parent.kind != Provider.Kind.INSTITUTION
            or parent.level == Provider.Level.INTERNET_HOSPITAL
        ):
            errors["parent"] = "must_be_physical_institution"
    elif application.parent_id is not None:
        errors["parent"] = "only_internet_hospitals"
    if not (application.name or "").strip():
        errors["name"] = "required"
    if errors:
        raise DomainError(
            _("The provider's particulars are not consistent."),
            code="invalid_particulars",
            details=errors,
        )


def _ensure_conditions(application: Application) -> None:
    if application.needs_admission_conditions:
        for condition in AdmissionCondition.Condition.values:
            AdmissionCondition.objects.get_or_create(application=application, condition=condition)


# --- filing (provider staff or case worker) -----------------------------------------------


@transaction.atomic
def application_create(
    *,
    actor,
    name: str,
    kind: str = "",
    code: str = "",
    level: str = "",
    parent: Provider | None = None,
    district: str = "",
    outpatient_pooling: bool = False,
    contact_name: str = "",
    contact_phone: str = "",
    contact_email: str = "",
) -> Application:
    """File a draft. Provider staff file for their own provider (its code and kind)."""
    own = _check_may_file(actor)
    if own is not None:
        code, kind, provider = own.code, own.kind, own
    else:
        provider = Provider.objects.filter(code=code).first()
        if provider is not None and kind and kind != provider.kind:
            raise DomainError(
                _("The provider's particulars are not consistent."),
                code="invalid_particulars",
                details={"kind": "kind_mismatch"},
            )
        kind = kind or (provider.kind if provider else "")
    application = Application(
        provider=provider,
        code=code,
        name=name,
        kind=kind,
        level=level,
        parent=parent,
        district=district,
        outpatient_pooling=outpatient_pooling,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        filed_by=actor,
    )
    _validate_particulars(application)
    open_one = Application.objects.filter(code=code, status__in=Application.OPEN_STATUSES).first()
    if open_one is not None:
        raise Conflict(
            _("This provider already has an open application."),
            code="application_open",
            details={"application": open_one.pk},
        )
    application.save()
    _ensure_conditions(application)
    _record(
        actor=actor,
        action="create",
        from_status="",
        to_status=application.status,
        application=application,
    )
    return application


@transaction.atomic
def application_update(*, application: Application, actor, **changes) -> Application:
    """Change a draft's particulars (code and kind only for a new provider, by a case worker)."""
    own = _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    allowed = set(EDITABLE_FIELDS)
    if own is None and application.provider_id is None:
        allowed |= {"code", "kind"}
    unknown = set(changes) - allowed
    if unknown:
        raise Forbidden(details={"fields": sorted(unknown)})
    for field, value in changes.items():
        setattr(application, field, value)
    _validate_particulars(application)
    application.save()
    _ensure_conditions(application)
    audit(actor=actor, action="application_update", target=application, fields=sorted(changes))
    return application


@transaction.atomic(durable=True)
def application_add_document(
    *, application: Application, actor, kind: str, upload
) -> ApplicationDocument:
    """Attach a document to a draft: PDF, JPEG or PNG, sniffed from its bytes, size-limited."""
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    if kind not in ApplicationDocument.Kind.values:
        raise DomainError(code="invalid", details={"kind": "invalid"})
    content_type = inspect_upload(upload)
    document = ApplicationDocument(
        application=application,
        kind=kind,
        original_name=(upload.name or "")[-200:],
        content_type=content_type,
        size=upload.size,
        uploaded_by=actor,
    )
    document.file.save(upload.name, upload, save=False)
    try:
        document.save()
    except Exception:
        document.file.storage.delete(document.file.name)  # no orphan file for a row never written
        raise
    audit(
        actor=actor,
        action="application_add_document",
        target=application,
        document=document.pk,
        kind=kind,
    )
    return document


@transaction.atomic(durable=True)
def application_remove_document(*, document: ApplicationDocument, actor) -> None:
    application = document.application
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    name = document.file.name
    audit(
        actor=actor, action="application_remove_document", target=application, document=document.pk
    )
    document.delete()
    # The file goes only once the row is gone for good.
    transaction.on_commit(partial(document.file.storage.delete, name))


@transaction.atomic(durable=True)
def application_answer_condition(
    *,
    application: Application,
    actor,
    condition: str,
    met: bool,
    evidence_text: str = "",
    evidence_document: ApplicationDocument | None = None,
) -> AdmissionCondition:
    """Answer one admission condition (Ziyang 第十四条, Jinan (十)) with its evidence."""
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    if not application.needs_admission_conditions:
        raise DomainError(
            _("Only a pharmacy joining outpatient pooling answers admission conditions."),
            code="conditions_not_applicable",
        )
    if evidence_document is not None and evidence_document.application_id != application.pk:
        raise NotFound(details={"evidence_document": "not_found"})
    answer, _created = AdmissionCondition.objects.get_or_create(
        application=application, condition=condition
    )
    answer.met = met
    answer.evidence_text = evidence_text.strip()
    answer.evidence_document = evidence_document
    answer.save()
    audit(
        actor=actor,
        action="application_answer_condition",
        target=application,
        condition=condition,
        met=met,
    )
    return answer


def unmet_conditions(application: Application) -> list[dict]:
    """The admission conditions a pharmacy joining outpatient pooling lacks, and why."""
    if not application.needs_admission_conditions:
        return []
    answers = {answer.condition: answer for answer in application.conditions.all()}
    missing = []
    for condition in AdmissionCondition.Condition:
        answer = answers.get(condition.value)
        if answer is None or answer.met is None:
            problem = "unanswered"
        elif not answer.met:
            problem = "not_met"
        elif not answer.has_evidence:
            problem = "no_evidence"
        else:
            continue
        missing.append(
            {"condition": condition.value, "label": str(condition.label), "problem": problem}
        )
    return missing


def missing_documents(application: Application) -> list[str]:
    required = list(REQUIRED_DOCUMENTS.get(application.kind, []))
    if application.level in LEVELS_NEEDING_CERTIFICATE:
        required.append(ApplicationDocument.Kind.LEVEL_CERTIFICATE)
    present = set(application.documents.values_list("kind", flat=True))
    return [kind for kind in required if kind not in present]


@transaction.atomic(durable=True)
def application_submit(*, application: Application, actor) -> Application:
    """draft → submitted, once particulars, documents and admission conditions are complete."""
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    _validate_particulars(application)
    missing = missing_documents(application)
    if missing:
        labels = "、".join(str(ApplicationDocument.Kind(kind).label) for kind in missing)
        raise DomainError(
            _("Documents missing: %(documents)s.") % {"documents": labels},
            code="documents_missing",
            details={"missing": missing},
        )
    # Ziyang 第十四条, Jinan (十), Ziyang 第二十一条: a pharmacy joins outpatient pooling only if
    # every admission condition is met, each with its evidence.
    unmet = unmet_conditions(application)
    if unmet:
        labels = "；".join(item["label"] for item in unmet)
        raise AdmissionConditionsUnmet(
            _(
                "A pharmacy joining outpatient pooling must meet every admission condition, with evidence. "
                "Missing: %(conditions)s."
            )
            % {"conditions": labels},
            details={
                "conditions": [{k: v for k, v in item.items() if k != "label"} for item in unmet]
            },
        )
    before = application.status
    application.status = Application.Status.SUBMITTED
    application.submitted_at = timezone.now()
    application.save(update_fields=["status", "submitted_at"])
    _record(
        actor=actor,
        action="submit",
        from_status=before,
        to_status=application.status,
        application=application,
    )
    _notify(
        application=application,
        message="received",
        values=_app_values(application),
    )
    return application


# --- review and decision (agency) ---------------------------------------------------------


@transaction.atomic(durable=True)
def application_start_review(*, application: Application, actor) -> Application:
    """submitted → under_review; the case worker who takes it up is the reviewer."""
    require_role(actor, Role.CASE_WORKER)
    application = _lock_application(application)
    _expect(application, Application.Status.SUBMITTED)
    before = application.status
    application.status = Application.Status.UNDER_REVIEW
    application.reviewer = actor
    application.review_started_at = timezone.now()
    application.save(update_fields=["status", "reviewer", "review_started_at"])
    _record(
        actor=actor,
        action="start_review",
        from_status=before,
        to_status=application.status,
        application=application,
    )
    _notify(
        application=application,
        message="under_review",
        values=_app_values(application),
    )
    return application


@transaction.atomic(durable=True)
def application_record_inspection(
    *, application: Application, actor, inspected_on: date, notes: str
) -> Application:
    """Record the site inspection (现场评估) of an application under review."""
    require_role(actor, Role.CASE_WORKER)
    application = _lock_application(application)
    _expect(application, Application.Status.UNDER_REVIEW)
    notes = (notes or "").strip()
    if not notes:
        raise DomainError(
            _("The inspection notes are required."),
            code="notes_required",
            details={"notes": "required"},
        )
    application.inspected_on = inspected_on
    application.inspection_notes = notes
    application.save(update_fields=["inspected_on", "inspection_notes"])
    _record(
        actor=actor,
        action="record_inspection",
        from_status=application.status,
        to_status=application.status,
        reason=notes,
        application=application,
    )
    return application


def _decide(*, application: Application, actor, approve: bool, reason: str) -> Application:
    require_role(actor, Role.AUDITOR)
    application = _lock_application(application)
    _expect(application, Application.Status.UNDER_REVIEW)
    # Ziyang 第十九条: handling and audit are separated; the reviewer never decides.
    ensure_separated(proposer=application.reviewer, approver=actor)
    if approve and not application.inspection_notes:
        raise DomainError(
            _("Record the site inspection before approving."), code="inspection_missing"
        )
    if approve and unmet_conditions(application):
        raise AdmissionConditionsUnmet()
    before = application.status
    application.status = Application.Status.APPROVED if approve else Application.Status.REJECTED
    application.decided_by = actor
    application.decided_at = timezone.now()
    application.decision_reason = reason
    application.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _record(
        actor=actor,
        action="approve" if approve else "reject",
        from_status=before,
        to_status=application.status,
        reason=reason,
        application=application,
    )
    return application


@transaction.atomic(durable=True)
def application_approve(*, application: Application, actor, reason: str = "") -> Application:
    """under_review → approved, by an auditor who is not the reviewer."""
    application = _decide(
        application=application, actor=actor, approve=True, reason=(reason or "").strip()
    )
    _notify(
        application=application,
        message="approved",
        values=_app_values(application, reason=application.decision_reason),
    )
    return application


@transaction.atomic(durable=True)
def application_reject(*, application: Application, actor, reason: str) -> Application:
    """under_review → rejected, with reasons, by an auditor who is not the reviewer."""
    reason = _reason_required(reason)
    application = _decide(application=application, actor=actor, approve=False, reason=reason)
    _notify(
        application=application,
        message="rejected",
        values=_app_values(application, reason=reason),
    )
    return application


# --- agreement (协议管理) -------------------------------------------------------------------


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


@transaction.atomic(durable=True)
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


@transaction.atomic(durable=True)
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


@transaction.atomic(durable=True)
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


@transaction.atomic(durable=True)
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


@transaction.atomic(durable=True)
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


@transaction.atomic(durable=True)
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


# --- notifications and API tokens (portal) -----------------------------------------------


@transaction.atomic(durable=True)
def notifications_mark_read(*, actor, provider: Provider) -> int:
    if _acts_for_provider(actor) != provider:
        raise NotFound()
    return (
        Notification.objects.for_provider(provider)
        .filter(read_at__isnull=True)
        .update(read_at=timezone.now())
    )


def _check_token_owner(*, user, actor):
    if actor.pk != user.pk:
        require_role(actor, Role.ADMINISTRATOR)
    if staff_link(user) is None:
        # API tokens are for the users of designated providers and of the cross-region platform.
        raise Forbidden(details={"user": "not_provider_staff"})
    # Serialise concurrent rotations of one user's token.
    get_user_model().objects.select_for_update().get(pk=user.pk)


@transaction.atomic(durable=True)
def api_token_create(*, user, actor) -> Token:
    """Give a provider user an API token; the existing one if it has one."""
    _check_token_owner(user=user, actor=actor)
    token, created = Token.objects.get_or_create(user=user)
    if created:
        audit(actor=actor, action="api_token_create", target=user, label=user.get_username())
    return token


@transaction.atomic(durable=True)
def api_token_rotate(*, user, actor) -> Token:
    """Replace a provider user's API token; the old one stops working at once."""
    _check_token_owner(user=user, actor=actor)
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit(actor=actor, action="api_token_rotate", target=user, label=user.get_username())
    return token
