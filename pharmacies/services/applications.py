"""Designation applications (定点申请): filing, review, decision."""

from datetime import date
from functools import partial

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.roles import Role, ensure_separated, require_role

from ..documents import inspect_upload
from ..models import (
    AdmissionCondition,
    Application,
    ApplicationDocument,
    Provider,
)
from .common import (
    EDITABLE_FIELDS,
    LEVELS_NEEDING_CERTIFICATE,
    REQUIRED_DOCUMENTS,
    AdmissionConditionsUnmet,
    _check_may_file,
    _expect,
    _lock_application,
    _reason_required,
    _record,
)
from .notifications import _notify


def _app_values(application: Application, **extra) -> dict:
    return {"name": application.name, "code": application.code, "number": application.pk, **extra}


def validate_particulars(application: Application) -> None:
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
    validate_particulars(application)
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
    validate_particulars(application)
    application.save()
    _ensure_conditions(application)
    audit(actor=actor, action=AuditAction.APPLICATION_UPDATE, target=application, fields=sorted(changes))
    return application


@transaction.atomic
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
        action=AuditAction.APPLICATION_ADD_DOCUMENT,
        target=application,
        document=document.pk,
        kind=kind,
    )
    return document


@transaction.atomic
def application_remove_document(*, document: ApplicationDocument, actor) -> None:
    application = document.application
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    name = document.file.name
    audit(
        actor=actor, action=AuditAction.APPLICATION_REMOVE_DOCUMENT, target=application, document=document.pk
    )
    document.delete()
    # The file goes only once the row is gone for good.
    transaction.on_commit(partial(document.file.storage.delete, name))


@transaction.atomic
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
        action=AuditAction.APPLICATION_ANSWER_CONDITION,
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


@transaction.atomic
def application_submit(*, application: Application, actor) -> Application:
    """draft → submitted, once particulars, documents and admission conditions are complete."""
    _check_may_file(actor, application)
    application = _lock_application(application)
    _expect(application, Application.Status.DRAFT)
    validate_particulars(application)
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


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
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


