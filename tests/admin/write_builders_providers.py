"""Write-path builders for the designation workflow's admin (pharmacies/admin_workflow.py),
registered into tests/admin/test_write_paths.py's BUILDERS by `register`.

Each workflow action is offered only to the role its service allows (core.roles): a case
worker (经办) submits, takes up the review, records the site inspection, signs, brings an
agreement into force and renews it; an auditor (稽核) who is not the reviewer approves or rejects
(Ziyang 第十九条) and suspends, reinstates or terminates a provider. The test posts the action as
every other role too: not offered, it is answered as an unknown action and nothing is written
(`allowed` names who must be offered it). Each builder makes an
application or agreement in the state its action needs, through the services, and submits the
action with its intermediate form when it has one (a reason, the inspection, the agreement's
terms); the check reads the new state and the audit event the acting user left.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta

from django.utils import timezone

from core.models import AuditEvent
from core.roles import Role

_MEDIA = None  # the documents' folder for these tests (removed with the process)


def _media(w):
    global _MEDIA
    if _MEDIA is None:
        _MEDIA = tempfile.TemporaryDirectory(prefix="write-paths-media-")
    w.settings.MEDIA_ROOT = _MEDIA.name


def _user(role):
    from tests.factories import UserFactory

    return UserFactory(roles=[role])


def _has(role):
    def allowed(user) -> bool:
        return user.is_superuser or user.groups.filter(name=role.value).exists()

    allowed.__name__ = f"has_{role.name.lower()}"
    return allowed


_case_worker, _auditor = _has(Role.CASE_WORKER), _has(Role.AUDITOR)


def _audited(obj, action, response):
    """The audit event `action` on `obj`, left by the user who submitted the action."""
    user = response.wsgi_request.user
    assert AuditEvent.objects.filter(action=action, target_type=obj._meta.label_lower, target_id=str(obj.pk),
                                     actor=user.pk).exists(), (
        f"no {action} audit event on {obj._meta.label} {obj.pk} by {user}: "
        f"{list(AuditEvent.objects.filter(target_id=str(obj.pk)).values_list('action', 'target_type', 'actor'))}")


def _checked(allowed, done):
    """The action's check: for a role the service refuses (the test calls it with the rows as
    they were selected), the rows keep their state; otherwise `done` reads what was done."""

    def check(w, objects, response):
        fresh = [type(obj)._default_manager.get(pk=obj.pk) for obj in objects]
        if not allowed(response.wsgi_request.user):
            assert [obj.status for obj in fresh] == [obj.status for obj in objects], "refused, yet changed"
            return
        done(w, fresh, response)

    return check


# ---------------------------------------------------------------------------------------
# Applications in each state, through the services


def _draft(w):
    """A pharmacy's draft to join outpatient pooling, filed by its staff: licence uploaded,
    every admission condition met with evidence (Ziyang 第十四条)."""
    from pharmacies.models import Provider
    from tests.factories import ProviderFactory, ProviderStaffFactory
    from tests.pharmacies.workflow.helpers import filled_pharmacy_application

    _media(w)
    pharmacy = ProviderFactory(kind=Provider.Kind.PHARMACY, outpatient_pooling=False)
    staff = ProviderStaffFactory(provider=pharmacy).user
    return filled_pharmacy_application(staff), staff


def _submitted(w):
    from pharmacies import services

    application, staff = _draft(w)
    return services.application_submit(application=application, actor=staff)


def _under_review(w, *, inspected=True):
    from pharmacies import services
    from tests.pharmacies.workflow.helpers import review

    application, reviewer = _submitted(w), _user(Role.CASE_WORKER)
    if inspected:
        return review(application, reviewer)
    return services.application_start_review(application=application, actor=reviewer)


def _approved(w):
    from pharmacies import services

    return services.application_approve(application=_under_review(w), actor=_user(Role.AUDITOR), reason="同意")


def _signed(w):
    """An approved application whose agreement is signed, in its period from today."""
    from tests.pharmacies.workflow.helpers import sign

    application = _approved(w)
    agreement = sign(application, _user(Role.CASE_WORKER))
    application.refresh_from_db()
    return application, agreement


def _application_case(make, *, status, audit, allowed, confirm=None, fields=None):
    """`fields(user)`: what else the step records on the application (its decider, notes...)."""

    def case(w):
        from tests.admin.test_write_paths import ActionCase

        application = make(w)

        def check(w, objects, response):
            assert objects[0].status == status, f"application {objects[0].status}, not {status}"
            for name, value in (fields(response.wsgi_request.user) if fields else {}).items():
                assert getattr(objects[0], name) == value, f"{name}: {getattr(objects[0], name)!r}, not {value!r}"
            _audited(objects[0], audit, response)

        return ActionCase(objects=[application], confirm=confirm, check=_checked(allowed, check), allowed=allowed)

    return case


def _activate_agreement(w):
    from tests.admin.test_write_paths import ActionCase

    application, agreement = _signed(w)

    def check(w, objects, response):
        from pharmacies.models import Provider

        agreement.refresh_from_db()
        assert (objects[0].status, agreement.status) == ("active", "active")
        provider = Provider.objects.get(code=application.code)
        assert (provider.status, provider.outpatient_pooling, agreement.provider_id) == ("active", True, provider.pk)
        _audited(objects[0], "workflow_activate", response)

    return ActionCase(objects=[application], check=_checked(_case_worker, check), allowed=_case_worker)


def _today():
    return timezone.localdate()


APPLICATION_ACTIONS = {
    "submit": _application_case(lambda w: _draft(w)[0], status="submitted", audit="workflow_submit",
                                allowed=_case_worker),
    "start_review": _application_case(_submitted, status="under_review", audit="workflow_start_review",
                                      allowed=_case_worker, fields=lambda user: {"reviewer": user}),
    "record_inspection": _application_case(
        lambda w: _under_review(w, inspected=False), status="under_review", audit="workflow_record_inspection",
        allowed=_case_worker, confirm={"apply": "1", "inspected_on": "2026-11-20", "notes": "现场核验通过"},
        fields=lambda user: {"inspected_on": date(2026, 11, 20), "inspection_notes": "现场核验通过"}),
    "approve": _application_case(_under_review, status="approved", audit="workflow_approve", allowed=_auditor,
                                 confirm={"apply": "1", "reason": "同意"},
                                 fields=lambda user: {"decided_by": user, "decision_reason": "同意"}),
    "reject": _application_case(_under_review, status="rejected", audit="workflow_reject", allowed=_auditor,
                                confirm={"apply": "1", "reason": "进销存系统未对接"},
                                fields=lambda user: {"decided_by": user, "decision_reason": "进销存系统未对接"}),
    "activate_agreement": _activate_agreement,
}


def _sign_agreement(w):
    from tests.admin.test_write_paths import ActionCase

    application = _approved(w)
    period_from, period_to = _today(), _today() + timedelta(days=364)

    def check(w, objects, response):
        assert objects[0].status == "signed"
        agreement = objects[0].agreements.get()
        assert (agreement.status, agreement.period_from, agreement.period_to, agreement.payment_method,
                agreement.outpatient_pooling) == ("signed", period_from, period_to, "per_item", True)
        _audited(objects[0], "workflow_sign", response)

    return ActionCase(objects=[application], check=_checked(_case_worker, check), allowed=_case_worker, confirm={
        "apply": "1", "period_from": period_from.isoformat(), "period_to": period_to.isoformat(),
        "payment_method": "per_item", "outpatient_pooling": "on"})


APPLICATION_ACTIONS["sign_agreement"] = _sign_agreement


def _document(w):
    """An application's document, downloaded from the admin (never from MEDIA_URL) by every
    role that views applications. The view writes nothing and answers any method."""
    from tests.admin.test_write_paths import ViewCase
    from tests.pharmacies.workflow.conftest import PDF

    application, _staff = _draft(w)
    document = application.documents.get()

    def check(w, response):
        assert response["Content-Disposition"].startswith("attachment"), response["Content-Disposition"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == PDF

    return ViewCase(args=[document.file.name], status=200, check=check, allowed=lambda user: True)


# ---------------------------------------------------------------------------------------
# Agreements


def _in_force(w):
    """A provider under an active agreement (2026–2027) with outpatient pooling."""
    from pharmacies.models import Agreement
    from tests.factories import ProviderFactory

    return Agreement.objects.create(
        provider=ProviderFactory(), period_from=date(2026, 1, 1), period_to=date(2027, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=_user(Role.CASE_WORKER))


def _suspended(w):
    from pharmacies import services

    agreement = _in_force(w)
    services.provider_suspend(provider=agreement.provider, actor=_user(Role.AUDITOR), reason="违规使用基金")
    agreement.refresh_from_db()
    return agreement


def _activate(w):
    from tests.admin.test_write_paths import ActionCase

    _application, agreement = _signed(w)

    def check(w, objects, response):
        assert objects[0].status == "active" and objects[0].provider.status == "active"
        _audited(objects[0], "workflow_activate_provider", response)

    return ActionCase(objects=[agreement], check=_checked(_case_worker, check), allowed=_case_worker)


def _renew(w):
    from tests.admin.test_write_paths import ActionCase

    agreement = _in_force(w)

    def check(w, objects, response):
        from pharmacies.models import Agreement

        renewal = Agreement.objects.get(previous=objects[0])
        assert (renewal.status, renewal.period_from, renewal.period_to, renewal.payment_method) == (
            "signed", date(2028, 1, 1), date(2029, 12, 31), "per_disease")
        assert objects[0].status == "active"  # replaced only when the renewal comes into force
        _audited(renewal, "workflow_renew", response)

    return ActionCase(objects=[agreement], check=_checked(_case_worker, check), allowed=_case_worker, confirm={
        "apply": "1", "period_to": "2029-12-31", "payment_method": "per_disease", "reason": "年度考核合格，续签"})


def _sanction(make, *, status, audit):
    def case(w):
        from tests.admin.test_write_paths import ActionCase

        agreement = make(w)

        def check(w, objects, response):
            assert (objects[0].status, objects[0].provider.status) == (status, status)
            assert objects[0].status_reason == "写路径测试"
            _audited(objects[0], audit, response)
            _audited(objects[0].provider, f"{audit}_provider", response)

        return ActionCase(objects=[agreement], check=_checked(_auditor, check), allowed=_auditor,
                          confirm={"apply": "1", "reason": "写路径测试"})

    return case


AGREEMENT_ACTIONS = {
    "activate": _activate,
    "renew": _renew,
    "suspend_provider": _sanction(_in_force, status="suspended", audit="workflow_suspend"),
    "reinstate_provider": _sanction(_suspended, status="active", audit="workflow_reinstate"),
    "terminate_provider": _sanction(_in_force, status="terminated", audit="workflow_terminate"),
}


def register(wp) -> None:
    """Add the workflow's action and view builders to `wp.BUILDERS` (wp: the test module)."""
    wp.BUILDERS["pharmacies.Application"].actions.update(APPLICATION_ACTIONS)
    wp.BUILDERS["pharmacies.Application"].views["document"] = _document
    wp.BUILDERS["pharmacies.Agreement"].actions.update(AGREEMENT_ACTIONS)
