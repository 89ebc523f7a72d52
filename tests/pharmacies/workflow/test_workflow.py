"""The designation workflow: each step by its role, separated duties, refusals write nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.errors import DomainError, DutyConflict, Forbidden, NotFound
from core.models import AuditEvent
from core.roles import Role
from pharmacies import services
from pharmacies.models import (
    AdmissionCondition,
    Agreement,
    Application,
    ApplicationDocument,
    Notification,
    Provider,
    WorkflowTransition,
)
from tests.factories import ProviderFactory, UserFactory

from .conftest import pdf
from .helpers import filled_pharmacy_application, review, sign

pytestmark = pytest.mark.django_db


def _written():
    """Everything a transition writes; a refused one must leave all of it unchanged."""
    return (
        WorkflowTransition.objects.count(),
        AuditEvent.objects.count(),
        Notification.objects.count(),
        Agreement.objects.count(),
        list(
            Application.objects.values_list("pk", "status", "reviewer", "decided_by").order_by("pk")
        ),
        list(Provider.objects.values_list("pk", "status", "outpatient_pooling").order_by("pk")),
    )


def test_pharmacy_joins_outpatient_pooling_each_step_by_its_role(
    pharmacy, pharmacy_user, case_worker, auditor, django_capture_on_commit_callbacks, settings
):
    """Ziyang 第十四条 / 第十九条: filed by the pharmacy, reviewed by 经办, approved by 稽核, signed, active."""
    settings.SITE_URL = "https://gongji.example.gov.cn"
    with django_capture_on_commit_callbacks(execute=True):
        application = filled_pharmacy_application(pharmacy_user)
        services.application_submit(application=application, actor=pharmacy_user)
        review(application, case_worker)
        services.application_approve(application=application, actor=auditor, reason="条件具备")
        agreement = sign(application, case_worker, payment_method="capitation")
        provider = services.agreement_activate(agreement=agreement, actor=case_worker)

    application.refresh_from_db()
    agreement.refresh_from_db()
    assert provider.pk == pharmacy.pk
    assert (provider.status, provider.outpatient_pooling) == ("active", True)
    assert application.status == "active"
    assert application.reviewer == case_worker and application.decided_by == auditor
    assert (agreement.status, agreement.payment_method, agreement.provider) == (
        "active",
        "capitation",
        pharmacy,
    )
    steps = list(application.transitions.values_list("action", "from_status", "to_status", "actor"))
    assert steps == [
        ("create", "", "draft", pharmacy_user.pk),
        ("submit", "draft", "submitted", pharmacy_user.pk),
        ("start_review", "submitted", "under_review", case_worker.pk),
        ("record_inspection", "under_review", "under_review", case_worker.pk),
        ("approve", "under_review", "approved", auditor.pk),
        ("sign", "approved", "signed", case_worker.pk),
        ("activate", "signed", "active", case_worker.pk),
    ]
    # One e-mail per decision told to the provider, to its staff and the application's contact.
    assert len(mail.outbox) == 5  # received, under review, approved, signed, in force
    assert all(
        sorted(m.to) == ["apply@pharmacy.example", "staff@pharmacy.example"] for m in mail.outbox
    )
    assert Notification.objects.for_provider(pharmacy).count() == 5
    # Each e-mail ends with the absolute address of the application's page in the portal.
    page = f"在门户中查看：https://gongji.example.gov.cn/portal/applications/{application.pk}/"
    assert [m.body.rsplit("\n\n", 1)[1] for m in mail.outbox] == [page] * 5


def test_the_reviewer_may_not_approve_separated_duties(pharmacy_user, auditor):
    """Ziyang 第十九条: handling and audit are separated; one person holding both roles is refused."""
    # One person may no longer hold both roles (core.roles.INCOMPATIBLE_ROLES); a superuser does.
    both = UserFactory(is_superuser=True, roles=[Role.AUDITOR])
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, both)
    before = _written()

    with pytest.raises(DutyConflict) as refused:
        services.application_approve(application=application, actor=both)
    assert refused.value.code == "separated_duties"
    with pytest.raises(DutyConflict):
        services.application_reject(application=application, actor=both, reason="自己驳回")
    assert _written() == before

    services.application_approve(application=application, actor=auditor)
    application.refresh_from_db()
    assert application.status == "approved" and application.decided_by == auditor


def test_a_superuser_who_reviewed_is_still_refused_as_approver(pharmacy_user):
    """Ziyang 第十九条: even a superuser (every role) never approves what they reviewed."""
    root = UserFactory(is_superuser=True, is_staff=True)
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, root)
    with pytest.raises(DutyConflict):
        services.application_approve(application=application, actor=root)


@pytest.mark.parametrize(
    ("step", "who"),
    [
        ("start_review", "pharmacy_user"),
        ("start_review", "auditor"),
        ("approve", "case_worker"),
        ("approve", "pharmacy_user"),
    ],
)
def test_wrong_role_is_refused_and_nothing_written(request, step, who, pharmacy_user, case_worker):
    actor = request.getfixturevalue(who)
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    if step == "approve":
        review(application, UserFactory(roles=[Role.CASE_WORKER]))
    before = _written()
    call = {
        "start_review": services.application_start_review,
        "approve": services.application_approve,
    }[step]
    with pytest.raises(Forbidden) as refused:
        call(application=application, actor=actor)
    assert refused.value.code == "forbidden"
    assert _written() == before


def test_signing_and_sanctions_belong_to_their_roles(pharmacy, pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    before = _written()
    with pytest.raises(Forbidden):
        sign(application, auditor)
    with pytest.raises(Forbidden):
        sign(application, pharmacy_user)
    with pytest.raises(Forbidden):
        services.provider_suspend(provider=pharmacy, actor=case_worker, reason="检查发现问题")
    assert _written() == before


def test_pharmacy_missing_an_admission_condition_cannot_submit(pharmacy_user):
    """Ziyang 第十四条, Jinan (十): every condition met, with evidence, before submission."""
    application = filled_pharmacy_application(pharmacy_user)
    services.application_answer_condition(
        application=application,
        actor=pharmacy_user,
        condition="drug_traceability",
        met=False,
        evidence_text="追溯系统尚在建设",
    )
    before = _written()
    with pytest.raises(DomainError) as refused:
        services.application_submit(application=application, actor=pharmacy_user)
    assert refused.value.code == "admission_conditions_unmet"
    assert refused.value.details == {
        "conditions": [{"condition": "drug_traceability", "problem": "not_met"}]
    }
    assert str(AdmissionCondition.Condition.DRUG_TRACEABILITY.label) in str(refused.value.message)
    assert _written() == before
    assert len(mail.outbox) == 0


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"skip": ("platform_pricing",)}, "unanswered"),
        ({"evidence": False}, "no_evidence"),
    ],
)
def test_a_condition_without_answer_or_evidence_refuses_submission(pharmacy_user, kwargs, problem):
    """Ziyang 第十四条, 第二十一条 (platform price): a yes without evidence is not enough."""
    application = filled_pharmacy_application(pharmacy_user, **kwargs)
    with pytest.raises(DomainError) as refused:
        services.application_submit(application=application, actor=pharmacy_user)
    assert refused.value.code == "admission_conditions_unmet"
    assert {item["problem"] for item in refused.value.details["conditions"]} == {problem}
    application.refresh_from_db()
    assert application.status == "draft"


def test_a_condition_proved_by_a_document_alone_is_enough(pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user, skip=("inventory_connected",))
    evidence = services.application_add_document(
        application=application,
        actor=pharmacy_user,
        kind=ApplicationDocument.Kind.CONDITION_EVIDENCE,
        upload=pdf("对接证明.pdf"),
    )
    services.application_answer_condition(
        application=application,
        actor=pharmacy_user,
        condition="inventory_connected",
        met=True,
        evidence_document=evidence,
    )
    assert (
        services.application_submit(application=application, actor=pharmacy_user).status
        == "submitted"
    )


def test_a_pharmacy_not_joining_pooling_answers_no_conditions(pharmacy_user, case_worker, auditor):
    application = services.application_create(
        actor=pharmacy_user, name="康宁大药房", outpatient_pooling=False
    )
    services.application_add_document(
        application=application, actor=pharmacy_user, kind="drug_trading_licence", upload=pdf()
    )
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    # Signing may not grant pooling that was not applied for (and proved).
    with pytest.raises(DomainError) as refused:
        sign(application, case_worker, outpatient_pooling=True)
    assert refused.value.code == "pooling_not_applied"


def test_submission_needs_the_licence(pharmacy_user):
    application = services.application_create(actor=pharmacy_user, name="康宁大药房")
    with pytest.raises(DomainError) as refused:
        services.application_submit(application=application, actor=pharmacy_user)
    assert refused.value.code == "documents_missing"
    assert refused.value.details == {"missing": ["drug_trading_licence"]}


def test_rejection_needs_reasons_and_tells_the_provider(
    pharmacy, pharmacy_user, case_worker, auditor, django_capture_on_commit_callbacks
):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    services.application_start_review(application=application, actor=case_worker)
    with pytest.raises(DomainError) as refused:
        services.application_reject(application=application, actor=auditor, reason="  ")
    assert refused.value.code == "reason_required"
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.application_reject(
            application=application, actor=auditor, reason="药品追溯码无法扫描"
        )
    application.refresh_from_db()
    assert (application.status, application.decision_reason) == ("rejected", "药品追溯码无法扫描")
    assert len(mail.outbox) == 1
    assert "药品追溯码无法扫描" in mail.outbox[0].body
    assert "staff@pharmacy.example" in mail.outbox[0].to
    assert (
        Notification.objects.for_provider(pharmacy)
        .filter(body__contains="药品追溯码无法扫描")
        .exists()
    )


def test_approval_needs_the_site_inspection(pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    services.application_start_review(application=application, actor=case_worker)
    with pytest.raises(DomainError) as refused:
        services.application_approve(application=application, actor=auditor)
    assert refused.value.code == "inspection_missing"


def test_a_transition_out_of_order_is_refused(pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    before = _written()
    with pytest.raises(DomainError) as refused:
        services.application_start_review(application=application, actor=case_worker)
    assert refused.value.code == "invalid_state"
    with pytest.raises(DomainError):
        services.application_approve(application=application, actor=auditor)
    assert _written() == before


@pytest.mark.parametrize(
    ("particulars", "errors"),
    [
        ({"code": "P37040099999", "kind": ""}, {"kind": "required"}),
        ({"code": "H37040099999", "kind": "pharmacy"}, {"code": "kind_mismatch"}),
        ({"code": "H3704", "kind": "institution", "level": "level_1"}, {"code": "invalid"}),
        ({"code": "H37040099999", "kind": "institution"}, {"level": "required"}),
        (
            {"code": "P37040099999", "kind": "pharmacy", "level": "level_1"},
            {"level": "pharmacies_have_no_level"},
        ),
    ],
)
def test_inconsistent_particulars_are_refused_with_the_field(case_worker, particulars, errors):
    with pytest.raises(DomainError) as refused:
        services.application_create(actor=case_worker, name="某机构", **particulars)
    assert (refused.value.code, refused.value.details) == ("invalid_particulars", errors)
    assert not Application.objects.exists()


def test_a_draft_is_refused_once_another_application_is_open(pharmacy_user):
    filled_pharmacy_application(pharmacy_user)
    with pytest.raises(DomainError) as refused:
        services.application_create(actor=pharmacy_user, name="重复申请")
    assert refused.value.code == "application_open"


def test_provider_staff_never_act_on_another_providers_application(
    pharmacy_user, other_provider_user
):
    application = filled_pharmacy_application(pharmacy_user)
    before = _written()
    with pytest.raises(NotFound):
        services.application_submit(application=application, actor=other_provider_user)
    with pytest.raises(NotFound):
        services.application_add_document(
            application=application, actor=other_provider_user, kind="other", upload=pdf()
        )
    assert _written() == before


def test_new_internet_hospital_filed_by_case_worker_becomes_a_registry_row(case_worker, auditor):
    """Jinan (十二): an internet hospital relies on a physical institution; the row appears on activation."""
    hospital = ProviderFactory(level=Provider.Level.LEVEL_2)
    with pytest.raises(DomainError) as refused:
        services.application_create(
            actor=case_worker,
            code="H37040099999",
            kind="institution",
            name="互联网医院",
            level="internet_hospital",
        )
    assert refused.value.details == {"parent": "required"}
    application = services.application_create(
        actor=case_worker,
        code="H37040099999",
        kind="institution",
        name="某某互联网医院",
        level="internet_hospital",
        parent=hospital,
        outpatient_pooling=True,
    )
    assert application.provider is None
    services.application_add_document(
        application=application, actor=case_worker, kind="practising_licence", upload=pdf()
    )
    services.application_submit(application=application, actor=case_worker)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    agreement = sign(application, case_worker, payment_method="per_disease")
    assert not Provider.objects.filter(code="H37040099999").exists()
    provider = services.agreement_activate(agreement=agreement, actor=case_worker)
    provider.refresh_from_db()
    assert (provider.code, provider.level, provider.parent, provider.status) == (
        "H37040099999",
        "internet_hospital",
        hospital,
        "active",
    )
    assert provider.policy_level == Provider.Level.LEVEL_2
    application.refresh_from_db()
    assert application.provider == provider


def test_activation_outside_the_agreement_period_is_refused(pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    tomorrow = timezone.localdate() + timedelta(days=1)
    agreement = sign(
        application, case_worker, period_from=tomorrow, period_to=tomorrow + timedelta(days=30)
    )
    with pytest.raises(DomainError) as refused:
        services.agreement_activate(agreement=agreement, actor=case_worker)
    assert refused.value.code == "agreement_not_in_period"
    assert (
        services.agreement_activate(agreement=agreement, actor=case_worker, today=tomorrow).status
        == "active"
    )


@pytest.fixture
def active_pharmacy(pharmacy, pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    agreement = sign(application, case_worker)
    services.agreement_activate(agreement=agreement, actor=case_worker)
    agreement.refresh_from_db()
    return agreement


def test_suspending_the_provider_sets_its_status(
    active_pharmacy, pharmacy, auditor, django_capture_on_commit_callbacks, settings
):
    """A suspended provider leaves the active registry; settlement refuses it."""
    settings.SITE_URL = "https://gongji.example.gov.cn"
    mail.outbox.clear()
    with pytest.raises(DomainError) as refused:
        services.provider_suspend(provider=pharmacy, actor=auditor, reason="")
    assert refused.value.code == "reason_required"
    with django_capture_on_commit_callbacks(execute=True):
        services.provider_suspend(provider=pharmacy, actor=auditor, reason="稽核发现串换药品")
    pharmacy.refresh_from_db()
    active_pharmacy.refresh_from_db()
    assert pharmacy.status == Provider.Status.SUSPENDED
    assert not Provider.objects.active().filter(pk=pharmacy.pk).exists()
    assert (active_pharmacy.status, active_pharmacy.status_reason) == (
        "suspended",
        "稽核发现串换药品",
    )
    assert "稽核发现串换药品" in mail.outbox[0].body
    # A step of the provider's agreement links to its agreement page.
    assert mail.outbox[0].body.endswith("\n\n在门户中查看：https://gongji.example.gov.cn/portal/agreement/")
    last = WorkflowTransition.objects.filter(provider=pharmacy).last()
    assert (last.action, last.from_status, last.to_status, last.actor) == (
        "suspend_provider",
        "active",
        "suspended",
        auditor,
    )

    services.provider_reinstate(provider=pharmacy, actor=auditor, reason="整改完成")
    pharmacy.refresh_from_db()
    assert pharmacy.status == "active"
    services.provider_terminate(provider=pharmacy, actor=auditor, reason="协议期内再次违规")
    pharmacy.refresh_from_db()
    active_pharmacy.refresh_from_db()
    assert (pharmacy.status, active_pharmacy.status) == ("terminated", "terminated")
    with pytest.raises(DomainError) as refused:
        services.provider_suspend(provider=pharmacy, actor=auditor, reason="再次")
    assert refused.value.code == "invalid_state"


def test_renewal_replaces_the_agreement_when_it_comes_into_force(
    active_pharmacy, pharmacy, case_worker
):
    with pytest.raises(DomainError) as refused:
        services.agreement_renew(
            agreement=active_pharmacy,
            actor=case_worker,
            reason="",
            period_to=active_pharmacy.period_to + timedelta(days=365),
        )
    assert refused.value.code == "reason_required"
    renewal = services.agreement_renew(
        agreement=active_pharmacy,
        actor=case_worker,
        reason="年度考核合格",
        period_to=active_pharmacy.period_to + timedelta(days=365),
    )
    assert renewal.period_from == active_pharmacy.period_to + timedelta(days=1)
    assert (renewal.status, renewal.payment_method, renewal.outpatient_pooling) == (
        "signed",
        "per_item",
        True,
    )
    with pytest.raises(DomainError) as refused:
        services.agreement_renew(
            agreement=active_pharmacy,
            actor=case_worker,
            reason="again",
            period_to=active_pharmacy.period_to + timedelta(days=400),
        )
    assert refused.value.code == "already_renewed"
    services.agreement_activate(agreement=renewal, actor=case_worker, today=renewal.period_from)
    active_pharmacy.refresh_from_db()
    renewal.refresh_from_db()
    assert (active_pharmacy.status, renewal.status) == ("renewed", "active")
    assert pharmacy.agreements.filter(status__in=["active", "suspended"]).count() == 1


def test_a_transition_reads_in_beijing_time_at_half_past_midnight(pharmacy_user):
    """At 00:30 Beijing the stored time is 16:30 UTC of the day before: a transition's label (the
    admin's and the history's) is the Beijing date and hour."""
    from datetime import datetime

    import time_machine

    from tests.conftest import BEIJING

    with time_machine.travel(datetime(2026, 12, 4, 0, 30, tzinfo=BEIJING), tick=False):
        application = filled_pharmacy_application(pharmacy_user)
    transition = WorkflowTransition.objects.get(application=application, action="create")
    assert transition.at.isoformat() == "2026-12-03T16:30:00+00:00"  # as the database gives it back
    assert str(transition).startswith("2026-12-04 00:30 ")
