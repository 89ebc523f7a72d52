"""Chronic and special diseases: the presets, the three imports, registrations (propose,
approve by another, revoke with a reason, Ziyang 第九条's exclusion) and
GET /api/v1/members/{id}/registrations."""

import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from claims import chronic
from claims.models import ChronicRegistration, Disease, MemberYear, PolicyVersion
from claims.policy_services import PolicyFileInvalid, policy_load
from core.errors import DutyConflict, Forbidden
from core.models import AuditEvent
from tests.claims.conftest import client_for, make_member
from tests.factories import ProviderFactory, UserFactory
from tests.imports.helpers import write_csv

pytestmark = pytest.mark.django_db

PRESETS = Path(__file__).resolve().parents[2] / "claims" / "policies" / "chronic_special"
REGIONS = ["zaozhuang", "ziyang", "henan", "yangzhou", "jinan"]


def chronic_preset(region: str) -> dict:
    return json.loads((PRESETS / f"{region}.json").read_text(encoding="utf-8"))


def run(name, path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, str(path), *args, stdout=out, stderr=err, verbosity=0)
    return out.getvalue(), err.getvalue()


def run_failing(name, path):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(name, str(path), stdout=io.StringIO(), stderr=err, verbosity=0)
    return err.getvalue()


@pytest.fixture
def case_workers(db):
    return UserFactory(roles=["经办"]), UserFactory(roles=["经办"])


# --- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_every_chronic_preset_loads_twice_with_no_change(settings, region):
    settings.REGION = region
    first = policy_load(data=chronic_preset(region))
    assert first["created"] == 1
    second = policy_load(data=chronic_preset(region))
    assert second["created"] == 0 and second["unchanged"] == 1 and second["diseases"] == 0
    version = PolicyVersion.objects.get(region=region, kind=PolicyVersion.Kind.CHRONIC_SPECIAL)
    # None of the texts gives a disease's money parameters: they ship empty.
    for terms in version.parameters["groups"].values():
        assert terms["deductible"] is None and terms["ratio_percent"] is None and terms["annual_limit"] is None


def test_ziyang_preset_lists_the_two_diseases_and_the_article_9_exclusion(settings):
    """Ziyang 第九条: 两病 (hypertension, diabetes); a 两病 patient meeting a special-disease
    standard is managed as special disease, never both."""
    settings.REGION = "ziyang"
    policy_load(data=chronic_preset("ziyang"))
    assert set(Disease.objects.filter(region="ziyang").values_list("code", "group")) == {
        ("M03900", "two_diseases"), ("M01600", "two_diseases")}
    version = PolicyVersion.objects.get(region="ziyang", kind="chronic_special")
    assert version.parameters["exclusions"] == [
        {"group": "two_diseases", "excluded_by": "special", "on_new_excluded": "refuse", "on_new_excluding": "end_excluded"}]


def test_a_malformed_chronic_file_is_refused_naming_the_path(settings):
    data = chronic_preset("jinan")
    data["versions"][0]["parameters"]["groups"]["special"]["annual_limit"] = "5000.555"
    data["versions"][0]["parameters"]["groups"]["chronic"]["tally"] = "member"
    with pytest.raises(PolicyFileInvalid) as refused:
        policy_load(data=data)
    problems = "\n".join(refused.value.details["problems"])
    assert "groups.special.annual_limit" in problems and "groups.chronic.tally" in problems
    assert not PolicyVersion.objects.filter(kind="chronic_special").exists()


# --- imports ------------------------------------------------------------------------------


def test_import_diseases_creates_then_changes_nothing_and_names_bad_rows(settings, tmp_path):
    settings.REGION = "jinan"
    good = write_csv(tmp_path / "d.csv", [["病种编码", "病种名称", "病种类别"],
                                          ["M00100", "恶性肿瘤门诊治疗", "特殊病"], ["M03900", "高血压", "chronic"]])
    run("import_diseases", good)
    assert set(Disease.objects.values_list("region", "code", "group")) == {
        ("jinan", "M00100", "special"), ("jinan", "M03900", "chronic")}
    out, _ = run("import_diseases", good)
    assert "未变 2" in out  # 2 unchanged
    bad = write_csv(tmp_path / "bad.csv", [["code", "name", "group"], ["M1", "x", "chronic"], ["M2", "y", "rare"]])
    err = run_failing("import_diseases", bad)
    assert "row 3, column group" in err
    assert not Disease.objects.filter(code="M1").exists()  # nothing written


def test_import_chronic_registrations_refuses_a_file_with_a_bad_row_and_writes_nothing(settings, tmp_path):
    settings.REGION = "jinan"
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤门诊治疗", group="special")
    hospital = ProviderFactory()
    member = make_member()
    path = write_csv(tmp_path / "r.csv", [
        ["id_number", "disease_code", "valid_from", "valid_to", "certified_by_code", "designated_provider_code"],
        [member.id_number, disease.code, "2023-01-01", "2023-12-31", hospital.code, hospital.code],
        [member.id_number, "NOPE", "2023-01-01", "", hospital.code, ""],
        [member.id_number, disease.code, "2024-01-01", "", "X999", ""],
    ])
    err = run_failing("import_chronic_registrations", path)
    assert "row 3, column disease_code" in err
    assert "row 4, column certified_by_code" in err
    assert not ChronicRegistration.objects.exists()


def test_import_chronic_registrations_is_idempotent_and_imports_approved(settings, tmp_path):
    settings.REGION = "jinan"
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤门诊治疗", group="special")
    hospital = ProviderFactory()
    member = make_member()
    path = write_csv(tmp_path / "r.csv", [
        ["身份证号", "病种编码", "开始日期", "结束日期", "认定机构编码", "定点机构编码"],
        [member.id_number, disease.code, "2023-01-01", "2023-06-30", hospital.code, hospital.code],
    ])
    run("import_chronic_registrations", path)
    run("import_chronic_registrations", path)
    registration = ChronicRegistration.objects.get()
    assert registration.status == "approved" and registration.imported
    assert registration.valid_to == date(2023, 6, 30) and registration.designated_provider == hospital


def test_import_applies_ziyang_article_9_a_special_disease_ends_the_two_diseases_registration(settings, tmp_path):
    """Ziyang 第九条: the imported special-disease registration ends the member's 两病 one the
    day before it starts; a 两病 row for a member holding a special disease is a bad row."""
    settings.REGION = "ziyang"
    policy_load(data=chronic_preset("ziyang"))
    Disease.objects.create(region="ziyang", code="S001", name="恶性肿瘤门诊放化疗", group="special")
    hospital = ProviderFactory()
    member, other = make_member(), make_member()
    header = ["id_number", "disease_code", "valid_from", "valid_to", "certified_by_code"]
    run("import_chronic_registrations", write_csv(tmp_path / "a.csv", [
        header, [member.id_number, "M03900", "2023-01-01", "", hospital.code],
        [other.id_number, "S001", "2023-01-01", "", hospital.code]]))
    run("import_chronic_registrations", write_csv(tmp_path / "b.csv", [
        header, [member.id_number, "S001", "2023-05-01", "", hospital.code]]))
    two = ChronicRegistration.objects.get(member=member, disease__code="M03900")
    assert two.valid_to == date(2023, 4, 30) and two.ended_by.disease.code == "S001"
    err = run_failing("import_chronic_registrations", write_csv(tmp_path / "c.csv", [
        header, [other.id_number, "M01600", "2023-03-01", "", hospital.code]]))
    assert "row 2, column disease_code" in err
    assert not ChronicRegistration.objects.filter(member=other, disease__code="M01600").exists()


def test_import_inpatient_totals_replaces_the_years_figures(tmp_path):
    member = make_member()
    MemberYear.objects.create(member=member, year=2023, fund_paid=Decimal("120.00"))
    header = ["id_number", "year", "compliant_burden", "fund_paid", "as_of"]
    run("import_inpatient_totals", write_csv(tmp_path / "a.csv", [header, [member.id_number, "2023", "3000.50", "9000", "2023-06-30"]]))
    run("import_inpatient_totals", write_csv(tmp_path / "b.csv", [
        ["身份证号", "年度", "住院合规个人负担", "住院统筹支付"], [member.id_number, "2023", "3500.00", "9800.00"],
        [member.id_number, "2024", "10.00", "0"]]))
    year = MemberYear.objects.get(member=member, year=2023)
    assert (year.inpatient_compliant_burden, year.inpatient_fund_paid) == (Decimal("3500.00"), Decimal("9800.00"))
    assert year.fund_paid == Decimal("120.00")  # the outpatient figures are not the import's
    assert MemberYear.objects.get(member=member, year=2024).inpatient_compliant_burden == Decimal("10.00")
    err = run_failing("import_inpatient_totals", write_csv(tmp_path / "c.csv", [header, [member.id_number, "2023", "-1", "0", ""]]))
    assert "row 2, column compliant_burden" in err
    assert MemberYear.objects.get(member=member, year=2023).inpatient_compliant_burden == Decimal("3500.00")


# --- registrations: propose, approve, revoke ---------------------------------------------


def test_a_registration_is_approved_by_another_case_worker_only(settings, case_workers):
    settings.REGION = "jinan"
    proposer, approver = case_workers
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤", group="special")
    registration = chronic.registration_propose(user=proposer, member=make_member(), disease=disease, valid_from=date(2023, 1, 1))
    assert registration.status == "proposed"
    with pytest.raises(DutyConflict):
        chronic.registration_approve(user=proposer, registration=registration)
    registration.refresh_from_db()
    assert registration.status == "proposed"
    chronic.registration_approve(user=approver, registration=registration)
    registration.refresh_from_db()
    assert (registration.status, registration.approved_by) == ("approved", approver)
    assert AuditEvent.objects.filter(action="chronic_registration.approve", target_id=str(registration.pk)).exists()


@pytest.mark.parametrize("role", ["稽核", "财务"])
def test_only_a_case_worker_proposes_approves_or_revokes(settings, case_workers, role):
    # README "Roles": registrations are the case workers' (经办); 稽核 and 财务 only read them. The
    # service refuses them itself, not only the admin (which hides the actions).
    settings.REGION = "jinan"
    proposer, _approver = case_workers
    other = UserFactory(roles=[role])
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤", group="special")
    member = make_member()
    with pytest.raises(Forbidden) as refused:
        chronic.registration_propose(user=other, member=member, disease=disease, valid_from=date(2023, 1, 1))
    assert refused.value.code == "forbidden" and refused.value.details == {"required_roles": ["经办"]}
    assert not ChronicRegistration.objects.exists()
    registration = chronic.registration_propose(user=proposer, member=member, disease=disease, valid_from=date(2023, 1, 1))
    events = AuditEvent.objects.count()
    with pytest.raises(Forbidden) as refused:
        chronic.registration_approve(user=other, registration=registration)
    assert refused.value.code == "forbidden"
    with pytest.raises(Forbidden) as refused:
        chronic.registration_revoke(user=other, registration=registration, reason="认定材料不实")
    assert refused.value.code == "forbidden"
    registration.refresh_from_db()
    assert (registration.status, registration.approved_by, registration.revoked_by, registration.revoke_reason) == (
        "proposed", None, None, "")
    assert AuditEvent.objects.count() == events


def test_revoking_needs_a_reason(settings, case_workers):
    settings.REGION = "jinan"
    proposer, approver = case_workers
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤", group="special")
    registration = chronic.registration_propose(user=proposer, member=make_member(), disease=disease, valid_from=date(2023, 1, 1))
    with pytest.raises(chronic.RegistrationRefused) as refused:
        chronic.registration_revoke(user=approver, registration=registration, reason="  ")
    assert refused.value.code == "reason_required"
    chronic.registration_revoke(user=approver, registration=registration, reason="认定材料不实")
    registration.refresh_from_db()
    assert (registration.status, registration.revoke_reason) == ("revoked", "认定材料不实")


def test_an_overlapping_registration_for_the_same_disease_is_refused(settings, case_workers):
    settings.REGION = "jinan"
    proposer, _approver = case_workers
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤", group="special")
    member = make_member()
    chronic.registration_propose(user=proposer, member=member, disease=disease, valid_from=date(2023, 1, 1), valid_to=date(2023, 12, 31))
    with pytest.raises(chronic.RegistrationRefused) as refused:
        chronic.registration_propose(user=proposer, member=member, disease=disease, valid_from=date(2023, 6, 1))
    assert refused.value.code == "registration_overlaps"
    assert ChronicRegistration.objects.count() == 1


def test_ziyang_article_9_two_diseases_refused_while_special_held_and_special_ends_two_diseases(settings, case_workers):
    """Ziyang 第九条: 两病 and special disease are never enjoyed together."""
    settings.REGION = "ziyang"
    policy_load(data=chronic_preset("ziyang"))
    proposer, approver = case_workers
    special = Disease.objects.create(region="ziyang", code="S001", name="恶性肿瘤门诊放化疗", group="special")
    hypertension = Disease.objects.get(region="ziyang", code="M03900")
    member = make_member()
    two = chronic.registration_propose(user=proposer, member=member, disease=hypertension, valid_from=date(2023, 1, 1))
    chronic.registration_approve(user=approver, registration=two)
    new = chronic.registration_propose(user=proposer, member=member, disease=special, valid_from=date(2023, 7, 1))
    two.refresh_from_db()
    assert two.valid_to is None  # a proposal ends nothing yet
    chronic.registration_approve(user=approver, registration=new)
    two.refresh_from_db()
    assert two.valid_to == date(2023, 6, 30) and two.ended_by == new
    with pytest.raises(chronic.RegistrationRefused) as refused:
        chronic.registration_propose(user=proposer, member=member, disease=Disease.objects.get(code="M01600"), valid_from=date(2023, 8, 1))
    assert refused.value.code == "registration_excluded"


def test_zaozhuang_has_no_exclusion_between_groups(settings, case_workers):
    settings.REGION = "zaozhuang"
    policy_load(data=chronic_preset("zaozhuang"))
    proposer, approver = case_workers
    member = make_member()
    for code, group in (("T1", "two_diseases"), ("S1", "special")):
        disease = Disease.objects.create(region="zaozhuang", code=code, name=code, group=group)
        chronic.registration_approve(user=approver, registration=chronic.registration_propose(
            user=proposer, member=member, disease=disease, valid_from=date(2023, 1, 1)))
    assert ChronicRegistration.objects.filter(member=member, status="approved", valid_to__isnull=True).count() == 2


# --- API ------------------------------------------------------------------------------------


def test_member_registrations_api_lists_decided_registrations_and_logs_the_read(settings, provider_client, case_workers):
    settings.REGION = "jinan"
    proposer, approver = case_workers
    hospital = ProviderFactory()
    disease = Disease.objects.create(region="jinan", code="M00100", name="恶性肿瘤", group="special")
    member = make_member()
    registration = chronic.registration_propose(
        user=proposer, member=member, disease=disease, valid_from=date(2023, 1, 1), designated_provider=hospital)
    chronic.registration_approve(user=approver, registration=registration)
    chronic.registration_propose(user=proposer, member=member, disease=Disease.objects.create(
        region="jinan", code="M2", name="x", group="chronic"), valid_from=date(2023, 1, 1))  # only proposed
    client = provider_client(hospital)
    response = client.get(f"/api/v1/members/{member.id_number}/registrations")
    assert response.status_code == 200
    body = response.json()
    assert body["id_number"].startswith(member.id_number[:4]) and "*" in body["id_number"]
    assert body["registrations"] == [{
        "disease_code": "M00100", "disease_name": "恶性肿瘤", "group": "special", "valid_from": "2023-01-01",
        "valid_to": None, "status": "approved", "valid_today": True, "certified_by_code": None,
        "designated_provider_code": hospital.code, "designated_provider_name": hospital.name,
    }]
    assert AuditEvent.objects.filter(action="member.registrations.read", target_id=str(member.pk)).exists()
    missing = client.get("/api/v1/members/110101199003074514/registrations")
    assert missing.status_code == 404 and missing.json()["code"] == "member_not_found"
    assert client_for(UserFactory()).get(f"/api/v1/members/{member.id_number}/registrations").status_code == 403
