"""Members' chosen institutions (人员定点备案), Jinan (四): registered, changed, ended and shown;
the number allowed is the agency's parameter (`chosen_institutions.max_count`)."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from claims.chosen_institutions import (
    ChosenInstitutionRefused,
    chosen_institution_change,
    chosen_institution_end,
    chosen_institution_register,
    chosen_on,
)
from claims.models import ChosenInstitution
from claims.policy_format import validate_parameters
from core.errors import Forbidden
from core.models import AuditEvent
from core.roles import Role
from tests.claims.conftest import make_member, preset, provider_of_level
from tests.factories import ProviderStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def case_worker():
    user = UserFactory(roles=[Role.CASE_WORKER])
    user.is_staff = True
    user.save()
    return user


def test_the_jinan_preset_requires_chosen_institutions_in_2023_only():
    # Jinan (四): 自2024年1月起…不受定点数量限制，定点医疗机构间起付标准合并计算.
    v2023, v2024 = preset("jinan")["versions"]
    assert v2023["parameters"]["chosen_institutions"] == {"required": True, "max_count": None, "deductible_per_institution": True}
    assert v2024["parameters"]["chosen_institutions"] == {"required": False, "max_count": None, "deductible_per_institution": False}
    assert "chosen_institutions.max_count" in v2023["agency_choices"]


def test_the_format_checks_the_parameter():
    parameters = preset("jinan")["versions"][0]["parameters"]
    assert validate_parameters(parameters) == []
    bad = {**parameters, "chosen_institutions": {"required": "yes", "max_count": 0, "deductible_per_institution": True}}
    assert [path for path, _ in validate_parameters(bad)] == ["chosen_institutions"]
    bad = {**parameters, "chosen_institutions": {"required": True, "max_count": 0, "deductible_per_institution": True}}
    assert [path for path, _ in validate_parameters(bad)] == ["chosen_institutions.max_count"]


def test_registering_under_2023_needs_the_number_the_agency_sets(region):
    # Jinan (四): the text says a limit applied until 2023, not the number: empty refuses.
    region("jinan")
    member, provider = make_member(), provider_of_level("level_2")
    with pytest.raises(ChosenInstitutionRefused) as refused:
        chosen_institution_register(user=None, member=member, provider=provider, valid_from=date(2023, 1, 1))
    assert refused.value.code == "policy_parameter_missing"
    assert refused.value.details["parameter"] == "chosen_institutions.max_count"
    assert not ChosenInstitution.objects.exists()
    # From 2024 no limit (不受定点数量限制): registering is allowed without the number.
    chosen = chosen_institution_register(user=None, member=member, provider=provider, valid_from=date(2024, 2, 1))
    assert chosen.valid_from == date(2024, 2, 1)


def test_the_limit_on_the_number_at_once(region):
    # Jinan (四) 2023: 定点数量限制, with the agency's number (2 here).
    region("jinan", chosen_max_count=2)
    member = make_member()
    first, second, third = (provider_of_level("level_2") for _ in range(3))
    user = case_worker()
    chosen_institution_register(user=user, member=member, provider=first, valid_from=date(2023, 1, 1))
    chosen_institution_register(user=user, member=member, provider=second, valid_from=date(2023, 1, 1), valid_to=date(2023, 6, 30))
    with pytest.raises(ChosenInstitutionRefused) as refused:
        chosen_institution_register(user=user, member=member, provider=third, valid_from=date(2023, 3, 1))
    assert (refused.value.code, refused.value.details["max_count"]) == ("chosen_institutions_limit", 2)
    assert ChosenInstitution.objects.count() == 2
    # After the second one ends, a third fits.
    chosen_institution_register(user=user, member=member, provider=third, valid_from=date(2023, 7, 1))
    assert ChosenInstitution.objects.count() == 3
    assert AuditEvent.objects.filter(action="chosen_institution.register").count() == 3
    # The same institution twice in the same dates is refused.
    with pytest.raises(ChosenInstitutionRefused) as refused:
        chosen_institution_register(user=user, member=member, provider=first, valid_from=date(2023, 8, 1))
    assert refused.value.code == "chosen_institution_overlaps"


def test_a_pharmacy_cannot_be_chosen(region):
    region("jinan", chosen_max_count=2)
    with pytest.raises(ChosenInstitutionRefused) as refused:
        chosen_institution_register(user=None, member=make_member(), provider=provider_of_level("pharmacy"), valid_from=date(2023, 1, 1))
    assert refused.value.code == "not_an_institution"
    assert not ChosenInstitution.objects.exists()


def test_change_mid_year_and_end(region):
    # Jinan (四) 2023: a member changes their chosen institution from 2023-07-01.
    region("jinan", chosen_max_count=1)
    member = make_member()
    old, new = provider_of_level("level_2"), provider_of_level("level_3")
    user = case_worker()
    chosen = chosen_institution_register(user=user, member=member, provider=old, valid_from=date(2023, 1, 1))
    replacement = chosen_institution_change(user=user, chosen=chosen, provider=new, from_day=date(2023, 7, 1), reason="搬家")
    chosen.refresh_from_db()
    assert chosen.valid_to == date(2023, 6, 30) and chosen.end_reason == "搬家"
    assert (replacement.provider, replacement.valid_from, replacement.valid_to) == (new, date(2023, 7, 1), None)
    assert chosen_on(member_id=member.pk, provider_id=old.pk, day=date(2023, 6, 30))
    assert not chosen_on(member_id=member.pk, provider_id=old.pk, day=date(2023, 7, 1))
    assert chosen_on(member_id=member.pk, provider_id=new.pk, day=date(2023, 7, 1))
    chosen_institution_end(user=user, chosen=replacement, last_day=date(2023, 12, 31), reason="年末")
    replacement.refresh_from_db()
    assert replacement.valid_to == date(2023, 12, 31)
    assert AuditEvent.objects.filter(action="chosen_institution.end").count() == 2


def test_a_change_that_would_exceed_the_limit_leaves_the_old_one(region):
    region("jinan", chosen_max_count=1)
    member = make_member()
    user = case_worker()
    chosen = chosen_institution_register(user=user, member=member, provider=provider_of_level("level_2"), valid_from=date(2023, 1, 1))
    pharmacy = provider_of_level("pharmacy")
    with pytest.raises(ChosenInstitutionRefused):
        chosen_institution_change(user=user, chosen=chosen, provider=pharmacy, from_day=date(2023, 7, 1))
    chosen.refresh_from_db()
    assert chosen.valid_to is None  # nothing half-written


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FINANCE])
def test_an_auditor_or_finance_is_refused_and_nothing_is_written(region, role):
    # README "Roles": chosen institutions are the case workers' (经办); 稽核 and 财务 only read.
    # The service refuses them itself, not only the admin (which hides the actions).
    region("jinan", chosen_max_count=2)
    member = make_member()
    old, new = provider_of_level("level_2"), provider_of_level("level_3")
    other = UserFactory(roles=[role])
    with pytest.raises(Forbidden) as refused:
        chosen_institution_register(user=other, member=member, provider=old, valid_from=date(2023, 1, 1))
    assert refused.value.code == "forbidden" and refused.value.details == {"required_roles": ["经办"]}
    assert not ChosenInstitution.objects.exists()
    chosen = chosen_institution_register(user=case_worker(), member=member, provider=old, valid_from=date(2023, 1, 1))
    events = AuditEvent.objects.count()
    with pytest.raises(Forbidden):
        chosen_institution_end(user=other, chosen=chosen, last_day=date(2023, 6, 30), reason="年中")
    with pytest.raises(Forbidden):
        chosen_institution_change(user=other, chosen=chosen, provider=new, from_day=date(2023, 7, 1), reason="搬家")
    chosen.refresh_from_db()
    assert (chosen.valid_to, chosen.ended_by, chosen.end_reason, chosen.cancelled) == (None, None, "", False)
    assert list(ChosenInstitution.objects.values_list("pk", flat=True)) == [chosen.pk]
    assert AuditEvent.objects.count() == events


def test_an_institution_registers_and_ends_at_itself_only(region):
    # The national interface (2505/2506): the institution's own user acts for itself, never
    # for another institution.
    region("jinan", chosen_max_count=2)
    member = make_member()
    own, other = provider_of_level("level_2"), provider_of_level("level_3")
    staff = ProviderStaffFactory(provider=own).user
    with pytest.raises(Forbidden):
        chosen_institution_register(user=staff, member=member, provider=other, valid_from=date(2023, 1, 1))
    assert not ChosenInstitution.objects.exists()
    elsewhere = chosen_institution_register(user=case_worker(), member=member, provider=other, valid_from=date(2023, 1, 1))
    with pytest.raises(Forbidden):
        chosen_institution_end(user=staff, chosen=elsewhere, last_day=date(2023, 6, 30))
    elsewhere.refresh_from_db()
    assert elsewhere.valid_to is None
    mine = chosen_institution_register(user=staff, member=member, provider=own, valid_from=date(2023, 1, 1))
    chosen_institution_end(user=staff, chosen=mine, last_day=date(2023, 6, 30), reason="转院")
    mine.refresh_from_db()
    assert (mine.valid_to, mine.ended_by) == (date(2023, 6, 30), staff)


def test_the_admin_registers_lists_changes_ends_and_the_member_page_shows(region, client):
    region("jinan", chosen_max_count=1)
    member = make_member()
    first, second = provider_of_level("level_2", name="济南第一医院"), provider_of_level("level_3", name="济南第二医院")
    client.force_login(case_worker())
    response = client.post("/admin/claims/choseninstitution/add/", {
        "member": member.pk, "provider": first.pk, "valid_from": "2023-01-01", "valid_to": "", "memo": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    chosen = ChosenInstitution.objects.get()
    assert (chosen.source, chosen.provider) == ("admin", first)
    # A second one at once is over the limit: the form says so, nothing is written.
    response = client.post("/admin/claims/choseninstitution/add/", {
        "member": member.pk, "provider": second.pk, "valid_from": "2023-03-01", "valid_to": "", "memo": "",
    })
    assert response.status_code == 200 and "最多" in response.content.decode()
    assert ChosenInstitution.objects.count() == 1
    assert client.get("/admin/claims/choseninstitution/").status_code == 200
    assert client.get(f"/admin/claims/choseninstitution/{chosen.pk}/change/").status_code == 200
    # The change action asks for the new institution and the day, then changes.
    page = client.post("/admin/claims/choseninstitution/", {"action": "change", ACTION_CHECKBOX_NAME: [chosen.pk]})
    assert page.status_code == 200
    client.post("/admin/claims/choseninstitution/", {
        "action": "change", ACTION_CHECKBOX_NAME: [chosen.pk], "apply": "1",
        "provider": second.pk, "from_day": "2023-07-01", "reason": "就近",
    })
    assert ChosenInstitution.objects.filter(provider=second, valid_from=date(2023, 7, 1)).exists()
    newer = ChosenInstitution.objects.get(provider=second)
    client.post("/admin/claims/choseninstitution/", {
        "action": "end", ACTION_CHECKBOX_NAME: [newer.pk], "apply": "1", "last_day": "2023-12-31", "reason": "年末",
    })
    newer.refresh_from_db()
    assert newer.valid_to == date(2023, 12, 31)
    page = client.get(f"/admin/members/member/{member.pk}/change/")
    assert page.status_code == 200 and "济南第二医院" in page.content.decode()


# --- settlement under Jinan (四) --------------------------------------------------------------

from decimal import Decimal  # noqa: E402

from claims.models import Claim, MemberYear  # noqa: E402
from members.models import PersonalAccount  # noqa: E402


def _post(client, member, day, ref, quantity="100", **extra):
    data = {"member_id_number": member.id_number, "visit_date": day, "external_ref": ref, "visit_place": "local",
            "use_account": False, "items": [{"code": "A-DRUG", "quantity": quantity}], **extra}
    return client.post("/api/v1/settlements", data, format="json")


@pytest.fixture
def jinan(region, catalog):
    # The deductible is the agency's number in Jinan (四); 500.00 as in the worked cases.
    region("jinan", deductible_annual="500.00", chosen_max_count=2)


def test_a_2023_visit_elsewhere_is_refused_and_writes_nothing_article_4(jinan, provider_client):
    """Jinan (四): until 2023-12-31 outpatient pooling pays only at the chosen institutions."""
    member = make_member(balance="300.00")
    chosen, other = provider_of_level("level_2"), provider_of_level("level_2")
    chosen_institution_register(user=None, member=member, provider=chosen, valid_from=date(2023, 1, 1))
    response = _post(provider_client(other), member, "2023-05-01", "X-1", use_account=True)
    assert response.status_code == 400
    error = response.json()["error"] if "error" in response.json() else response.json()
    assert "institution_not_chosen" in str(error)
    assert "只在本人定点机构支付" in str(error)
    assert not Claim.objects.exists()
    assert not MemberYear.objects.filter(member=member, fund_paid__gt=0).exists()
    assert PersonalAccount.objects.get(member=member).balance == Decimal("300.00")
    # The preview says the same.
    preview = provider_client(other).post("/api/v1/settlements/preview", {
        "member_id_number": member.id_number, "visit_date": "2023-05-01", "visit_place": "local",
        "items": [{"code": "A-DRUG", "quantity": "100"}]}, format="json")
    assert preview.status_code == 400 and "institution_not_chosen" in str(preview.json())
    # From 2024 anywhere (不受定点数量限制).
    assert _post(provider_client(other), member, "2024-05-01", "X-2").status_code == 201


def test_the_2023_deductible_is_per_institution_article_4(jinan, provider_client):
    """Jinan (四): each chosen institution meets its own deductible in 2023 (two institutions,
    each 500.00); the cap (4500, (三)) stays one per member."""
    member = make_member()
    first, second = provider_of_level("level_2"), provider_of_level("level_2")
    for provider in (first, second):
        chosen_institution_register(user=None, member=member, provider=provider, valid_from=date(2023, 1, 1))
    one = _post(provider_client(first), member, "2023-03-01", "A-1").json()  # 1000.00
    assert (one["deductible"], one["fund"]) == ("500.00", "350.00")
    two = _post(provider_client(second), member, "2023-03-02", "B-1").json()
    assert (two["deductible"], two["fund"]) == ("500.00", "350.00")  # its own deductible again
    three = _post(provider_client(first), member, "2023-03-03", "A-2").json()
    assert (three["deductible"], three["fund"]) == ("0.00", "700.00")  # first's is met
    year = MemberYear.objects.get(member=member, year=2023)
    assert year.deductible_by_institution == {first.code: "500.00", second.code: "500.00"}
    assert (year.deductible_met, year.fund_paid) == (Decimal("1000.00"), Decimal("1400.00"))
    # Reversing the second institution's visit gives its own deductible back.
    client = provider_client(second)
    assert client.post(f"/api/v1/settlements/{two['settlement_id']}/reverse", {"reason": "错"}, format="json").status_code == 200
    year.refresh_from_db()
    assert year.deductible_by_institution == {first.code: "500.00", second.code: "0.00"}
    assert (year.deductible_met, year.fund_paid) == (Decimal("500.00"), Decimal("1050.00"))
    again = _post(client, member, "2023-03-04", "B-2").json()
    assert (again["deductible"], again["fund"]) == ("500.00", "350.00")


def test_from_2024_the_deductible_is_combined_article_4(jinan, provider_client):
    """Jinan (四): 自2024年1月起…定点医疗机构间起付标准合并计算 — one deductible, any institution."""
    member = make_member()
    first, second = provider_of_level("level_2"), provider_of_level("level_2")
    one = _post(provider_client(first), member, "2024-03-01", "A-1").json()
    two = _post(provider_client(second), member, "2024-03-02", "B-1").json()
    assert (one["deductible"], two["deductible"], two["fund"]) == ("500.00", "0.00", "700.00")
    assert MemberYear.objects.get(member=member, year=2024).deductible_by_institution == {}
    assert Claim.objects.get(external_ref="B-1").deductible_institution == ""


def test_a_change_of_institution_mid_year_article_4(jinan, provider_client):
    """Jinan (四) 2023: after a change, the old institution refuses, the new one has its own
    deductible; the old one cannot be ended before a visit it paid."""
    member = make_member()
    old, new = provider_of_level("level_2"), provider_of_level("level_2")
    chosen = chosen_institution_register(user=None, member=member, provider=old, valid_from=date(2023, 1, 1))
    assert _post(provider_client(old), member, "2023-06-10", "O-1").status_code == 201
    with pytest.raises(ChosenInstitutionRefused) as refused:
        chosen_institution_change(user=None, chosen=chosen, provider=new, from_day=date(2023, 6, 1))
    assert refused.value.code == "chosen_institution_in_use"
    chosen.refresh_from_db()
    assert chosen.valid_to is None and ChosenInstitution.objects.count() == 1
    chosen_institution_change(user=None, chosen=chosen, provider=new, from_day=date(2023, 7, 1))
    assert _post(provider_client(old), member, "2023-07-02", "O-2").status_code == 400
    at_new = _post(provider_client(new), member, "2023-07-02", "N-1").json()
    assert (at_new["deductible"], at_new["fund"]) == ("500.00", "350.00")


def test_the_chosen_check_costs_one_query_only_under_2023_article_4(jinan, provider_client, django_assert_num_queries):
    """The hot path: one query more under a version that requires chosen institutions, none after."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member = make_member()
    provider = provider_of_level("level_2")
    chosen_institution_register(user=None, member=member, provider=provider, valid_from=date(2023, 1, 1))
    client = provider_client(provider)
    _post(client, member, "2023-03-01", "W-1")
    _post(client, member, "2024-03-01", "W-2")
    with CaptureQueriesContext(connection) as in_2023:
        assert _post(client, member, "2023-03-02", "Q-1").status_code == 201
    with CaptureQueriesContext(connection) as in_2024:
        assert _post(client, member, "2024-03-02", "Q-2").status_code == 201
    assert len(in_2023) == len(in_2024) + 1
