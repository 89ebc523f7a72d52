"""The admin of chronic and special diseases: a case worker proposes a registration through
the add form, another approves it with the action; the proposer cannot; the member page lists
it; the disease list imports through the admin with the commands' parser."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from claims.models import ChronicRegistration, Disease
from core.roles import Role
from tests.claims.conftest import make_member
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _region(settings):
    settings.REGION = "jinan"


def case_worker():
    user = UserFactory(roles=[Role.CASE_WORKER])
    user.is_staff = True
    user.save()
    return user


def test_propose_in_the_admin_then_another_case_worker_approves(client):
    proposer, approver = case_worker(), case_worker()
    disease = Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤", group="special")
    member = make_member()
    client.force_login(proposer)
    response = client.post("/admin/claims/chronicregistration/add/", {
        "member": member.pk, "disease": disease.pk, "valid_from": "2023-01-01", "valid_to": "",
        "certified_by": "", "designated_provider": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    registration = ChronicRegistration.objects.get()
    assert (registration.status, registration.proposed_by) == ("proposed", proposer)
    client.post("/admin/claims/chronicregistration/", {"action": "approve", ACTION_CHECKBOX_NAME: [registration.pk]})
    registration.refresh_from_db()
    assert registration.status == "proposed"  # the proposer may not approve
    client.force_login(approver)
    client.post("/admin/claims/chronicregistration/", {"action": "approve", ACTION_CHECKBOX_NAME: [registration.pk]})
    registration.refresh_from_db()
    assert (registration.status, registration.approved_by) == ("approved", approver)
    page = client.get(f"/admin/members/member/{member.pk}/change/")
    assert page.status_code == 200 and "恶性肿瘤" in page.content.decode()


def test_an_overlapping_proposal_is_refused_on_the_form_and_writes_nothing(client):
    disease = Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤", group="special")
    member = make_member()
    ChronicRegistration.objects.create(member=member, disease=disease, valid_from=date(2023, 1, 1), status="approved")
    client.force_login(case_worker())
    response = client.post("/admin/claims/chronicregistration/add/", {
        "member": member.pk, "disease": disease.pk, "valid_from": "2023-06-01", "valid_to": "",
        "certified_by": "", "designated_provider": "",
    })
    assert response.status_code == 200
    page = response.content.decode()
    assert "registration_overlaps" not in page  # a person reads the message, never the code
    assert "该参保人在此期间已有该病种的认定。" in page
    assert ChronicRegistration.objects.count() == 1


def test_the_disease_list_has_an_import_page(client):
    client.force_login(case_worker())
    assert client.get("/admin/claims/disease/import/").status_code == 200
    assert client.get("/admin/claims/chronicregistration/import/").status_code == 200


# --- 住院费用导入: the inpatient system's yearly totals, through the admin ----------------------


def _upload_inpatient(client, text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.imports.formats import IMPORT_FORMATS, DetectingCSV

    return client.post("/admin/claims/memberyear/import/", {
        "resource": "0", "format": str(IMPORT_FORMATS.index(DetectingCSV)),
        "import_file": SimpleUploadedFile("inpatient.csv", text.encode("utf-8"), content_type="text/csv"),
    }, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_inpatient_totals_import_page_previews_refuses_a_bad_row_naming_it_and_writes_nothing(client):
    """Jinan (七): the agency brings in the inpatient system's compliant burden per member and
    year. A bad row is shown with its row and field in the preview; nothing is written."""
    from decimal import Decimal

    from claims.models import MemberYear
    from core.models import AuditEvent

    from .conftest import make_member

    member, other = make_member(), make_member()
    MemberYear.objects.create(member=member, year=2023, fund_paid=Decimal("120.00"))
    client.force_login(case_worker())
    changelist = client.get("/admin/claims/memberyear/").content.decode()
    assert "/admin/claims/memberyear/import/" in changelist

    bad = ("id_number,year,compliant_burden,fund_paid,as_of\n"
           f"{member.id_number},2023,3000.50,9000,2023-06-30\n"
           f"{other.id_number},2023,-1,0,\n")
    preview = _upload_inpatient(client, bad)
    assert preview.status_code == 200
    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [3]
    assert "住院合规个人负担 (compliant_burden)" in result.invalid_rows[0].error_dict
    assert not preview.context.get("confirm_form")
    assert MemberYear.objects.get(member=member, year=2023).inpatient_compliant_burden == 0
    assert not MemberYear.objects.filter(member=other).exists()

    good = ("身份证号,年度,住院合规个人负担,住院统筹支付\n"
            f"{member.id_number},2023,3000.50,9000\n{other.id_number},2023,10.00,0\n")
    preview = _upload_inpatient(client, good)
    confirm = preview.context["confirm_form"]
    assert confirm is not None
    assert MemberYear.objects.get(member=member, year=2023).inpatient_compliant_burden == 0  # preview writes nothing
    done = client.post("/admin/claims/memberyear/process_import/", confirm.initial)
    assert done.status_code == 302
    year = MemberYear.objects.get(member=member, year=2023)
    assert (year.inpatient_compliant_burden, year.inpatient_fund_paid, year.fund_paid) == (
        Decimal("3000.50"), Decimal("9000.00"), Decimal("120.00"))
    assert MemberYear.objects.get(member=other, year=2023).inpatient_compliant_burden == Decimal("10.00")
    assert AuditEvent.objects.filter(action="import.inpatient_totals").exists()


def test_the_tally_list_names_the_disease_or_group_never_the_raw_code(client, django_assert_max_num_queries):
    from claims.models import ChronicYear

    Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤", group="special")
    members = [make_member() for _ in range(3)]
    ChronicYear.objects.create(member=members[0], year=2023, tally="disease:S1")
    ChronicYear.objects.create(member=members[1], year=2023, tally="group:chronic")
    year = ChronicYear.objects.create(member=members[2], year=2023, tally="disease:S1")
    client.force_login(case_worker())
    with django_assert_max_num_queries(20):  # the disease names come with the page's query, not one per row
        page = client.get("/admin/claims/chronicyear/")
    text = page.content.decode()
    assert page.status_code == 200 and text.count("恶性肿瘤") == 2 and "disease:S1" not in text and "group:chronic" not in text
    detail = client.get(f"/admin/claims/chronicyear/{year.pk}/change/").content.decode()
    field = detail[detail.index("field-tally_display"):][:600]
    assert "恶性肿瘤" in field and "disease:S1" not in field
