"""Policy fidelity, second pass (issue 18): each test cites the article it rests on."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from claims.models import Claim, PolicyVersion
from claims.policy_services import policy_load, policy_versions_ending
from claims.services import policy_version_on
from tests.factories import ProviderFactory, UserFactory

from .conftest import PRESETS, configure, make_member, preset

# --- Ziyang 第二十五条: 有效期5年 ------------------------------------------------------------


def test_ziyang_preset_ends_after_five_years_article_25(db):
    """Ziyang 第二十五条: the rules apply from 2023-01-01, 有效期5年 — to 2027-12-31."""
    call_command("load_policy", str(PRESETS / "ziyang.json"), stdout=StringIO())
    assert policy_version_on(date(2027, 12, 31), "ziyang") is not None
    assert policy_version_on(date(2028, 1, 1), "ziyang") is None


def test_a_version_ending_within_90_days_with_nothing_after_is_listed_article_25(db):
    """Ziyang 第二十五条: warn 90 days before the version ends, unless a next version exists."""
    policy_load(data=preset("ziyang"))
    assert policy_versions_ending(today=date(2027, 10, 1)) == []  # 91 days before the end
    [item] = policy_versions_ending(today=date(2027, 10, 2))
    assert (item["region"], item["effective_to"], item["days_left"], item["ended"]) == ("ziyang", date(2027, 12, 31), 90, False)
    [item] = policy_versions_ending(today=date(2028, 1, 5))
    assert item["ended"] is True
    # A next version removes the warning.
    data = preset("ziyang")
    data["versions"].append({**data["versions"][0], "effective_from": "2028-01-01", "effective_to": None})
    policy_load(data=data)
    assert policy_versions_ending(today=date(2027, 10, 3)) == []


def test_admin_index_shows_the_to_do_box_article_25(db, client, monkeypatch):
    """Ziyang 第二十五条: the admin index warns a case worker, with a link to the version."""
    import django.utils.timezone

    policy_load(data=preset("ziyang"))
    client.force_login(UserFactory(roles=["经办"]))
    page = client.get("/admin/").content.decode()
    assert "gongji-todo" not in page
    monkeypatch.setattr(django.utils.timezone, "localdate", lambda *a, **k: date(2027, 11, 1))
    page = client.get("/admin/").content.decode()
    assert "gongji-todo" in page
    assert "2027-12-31" in page
    version = PolicyVersion.objects.get()
    assert f"/admin/claims/policyversion/{version.pk}/change/" in page


def _settle_ziyang(region, catalog, provider_client, visit_date):
    member = make_member(balance="500.00")
    client = provider_client(ProviderFactory(kind="institution", level="level_1"))
    response = client.post(
        "/api/v1/settlements",
        {"member_id_number": member.id_number, "visit_date": visit_date, "external_ref": f"Z-{visit_date}",
         "items": [{"code": "A-DRUG", "quantity": "30"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_an_end_date_may_be_set_on_a_used_version_but_not_before_its_visits(region, catalog, provider_client, tmp_path):
    """Ziyang 第二十五条: a deployment that loaded the open-ended preset and settled with it can
    load the preset that ends 2027-12-31; an end before a settled visit is refused."""
    data = preset("ziyang")
    data["versions"][0]["effective_to"] = None
    region("ziyang")
    PolicyVersion.objects.all().delete()
    policy_load(data=data)
    _settle_ziyang(region, catalog, provider_client, "2023-06-01")
    assert Claim.objects.count() == 1
    counts = policy_load(data=preset("ziyang"))
    assert counts["updated"] == 1
    assert PolicyVersion.objects.get().effective_to == date(2027, 12, 31)
    version = PolicyVersion.objects.get()
    version.effective_to = date(2023, 5, 31)
    with pytest.raises(ValidationError) as error:
        version.save()
    assert "effective_to" in error.value.message_dict
    assert PolicyVersion.objects.get().effective_to == date(2027, 12, 31)


def test_the_to_do_box_is_in_chinese_article_25(db, client, monkeypatch):
    import django.utils.timezone

    policy_load(data=preset("ziyang"))
    client.force_login(UserFactory(roles=["经办"]))
    monkeypatch.setattr(django.utils.timezone, "localdate", lambda *a, **k: date(2027, 11, 1))
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "待办事项" in page and "剩余 60 天" in page


# --- Yangzhou 二(一)2: where the text gives a bound, saving checks it ---------------------


def _yangzhou(**parameters_changes):
    data = configure(preset("yangzhou"), {"ratio_in_service": {"level_1": 70, "level_2": 65, "level_3": 60}})
    parameters = data["versions"][0]["parameters"]
    for path, value in parameters_changes.items():
        node = parameters
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return PolicyVersion(region="yangzhou", effective_from=date(2023, 1, 1), parameters=parameters)


def _wage(value="90000.00"):
    from members.models import ReferenceValue

    ReferenceValue.objects.create(kind="average_wage", year=2021, value=value)


def test_yangzhou_ratio_below_60_percent_is_refused_article_2_1_2_2(db):
    """Yangzhou 二(一)2(2): 支付比例不低于60%."""
    version = _yangzhou(ratio__base={"level_1": 70, "level_2": 65, "level_3": 55})
    with pytest.raises(ValidationError) as error:
        version.save()
    [message] = error.value.message_dict["parameters"]
    assert "ratio.base.level_3" in message and "55" in message and "二(一)2(2)" in message
    assert PolicyVersion.objects.count() == 0
    _yangzhou().save()  # 70/65/60: within


def test_yangzhou_deductible_above_1_percent_of_the_2021_wage_is_refused_article_2_1_2_1(db):
    """Yangzhou 二(一)2(1): 起付标准不高于2021年度…年平均工资的1% — also when written as an amount."""
    _wage("90000.00")
    with pytest.raises(ValidationError) as error:
        _yangzhou(deductible__amount="900.01").save()
    assert "deductible.amount" in error.value.message_dict["parameters"][0]
    with pytest.raises(ValidationError) as error:
        _yangzhou(deductible__amount={"percent_of_average_wage": 1, "wage_year": 2022}).save()
    assert "2021" in error.value.message_dict["parameters"][0]
    assert PolicyVersion.objects.count() == 0
    _yangzhou(deductible__amount="900.00").save()  # exactly 1%: the text's maximum
    assert PolicyVersion.objects.count() == 1


def test_yangzhou_amount_bound_needs_the_reference_wage_article_2_1_2_1(db):
    """Yangzhou 二(一)2(1): an amount cannot be checked against the 2021 wage until it is entered."""
    with pytest.raises(ValidationError) as error:
        _yangzhou(deductible__amount="500.00").save()
    assert "2021" in error.value.message_dict["parameters"][0]


def test_yangzhou_cap_about_8_percent_is_read_as_6_to_10_article_2_1_2_3(db):
    """Yangzhou 二(一)2(3): 最高支付限额 … 年平均工资的8%左右 (read as 6%–10%)."""
    _wage("90000.00")
    with pytest.raises(ValidationError):
        _yangzhou(annual_cap="9000.01").save()  # above 10%
    with pytest.raises(ValidationError):
        _yangzhou(annual_cap={"percent_of_average_wage": 5, "wage_year": 2021, "min_percent": 0, "max_percent": 10}).save()
    assert PolicyVersion.objects.count() == 0
    _yangzhou(annual_cap="7000.00").save()


def test_other_regions_have_no_text_bounds_to_check(db):
    """Ziyang's numbers are the text's own values: nothing is bounded, nothing refused."""
    version = PolicyVersion(region="ziyang", effective_from=date(2023, 1, 1), parameters=preset("ziyang")["versions"][0]["parameters"])
    assert version.text_comparison() == []


def test_admin_shows_the_version_against_the_text_article_2_1_2(db, client):
    """Yangzhou 二(一)2: the change page lists each bounded number next to what the text says."""
    _wage("90000.00")
    version = _yangzhou()
    version.save()
    client.force_login(UserFactory(roles=["经办"]))
    page = client.get(f"/admin/claims/policyversion/{version.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "支付比例不低于60%" in page and "ratio.base.level_3" in page and "60%" in page
    assert "8%左右" in page and "8% × 2021" in page


# --- Zaozhuang 第十八条: visits around a stay ------------------------------------------------


def _post(client, member, visit_date, ref, **extra):
    return client.post(
        "/api/v1/settlements",
        {"member_id_number": member.id_number, "visit_date": visit_date, "external_ref": ref,
         "items": [{"code": "A-DRUG", "quantity": "30"}], **extra},
        format="json",
    )


def test_a_visit_on_the_admission_day_is_paid_by_outpatient_pooling_article_18(region, catalog, provider_client):
    """Zaozhuang 第十八条: 住院前发生的政策范围内的门急诊费用，按普通门诊统筹政策支付 — the visit on
    the admission day is before the stay; from the day after, 第十一条 switches pooling off."""
    from members.models import Episode

    region("zaozhuang")
    member = make_member()
    Episode.objects.create(member=member, kind="inpatient_stay", start_date=date(2023, 5, 1), end_date=date(2023, 5, 10))
    client = provider_client(ProviderFactory(kind="institution", level="level_1"))
    first = _post(client, member, "2023-05-01", "ADM-1")
    assert first.status_code == 201, first.content
    assert first.json()["denied_reason"] is None
    assert (first.json()["deductible"], first.json()["fund"]) == ("200.00", "70.00")
    second = _post(client, member, "2023-05-02", "ADM-2")
    assert second.json()["denied_reason"] == "inpatient_stay" and second.json()["fund"] == "0.00"


def test_death_in_emergency_care_is_sent_to_the_inpatient_system_article_18(region, catalog, provider_client):
    """Zaozhuang 第十八条: 在门急诊抢救无效死亡的，其政策范围内的医疗费用按照一次住院报销 — the
    outpatient settlement is refused with its own reason and nothing is written."""
    from claims.models import MemberYear

    region("zaozhuang")
    member = make_member(balance="100.00")
    client = provider_client(ProviderFactory(kind="institution", level="level_2"))
    response = _post(client, member, "2023-05-01", "ER-1", died_in_emergency_care=True, use_account=True)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "settle_as_inpatient_stay"
    assert Claim.objects.count() == 0 and MemberYear.objects.count() == 0
    member.account.refresh_from_db()
    assert member.account.balance == 100
    # The same request without the flag settles as usual (the refusal is the flag's).
    assert _post(client, member, "2023-05-01", "ER-2").status_code == 201


# --- Jinan (七): an open parameter does not block what it does not touch -------------------


def _jinan_above_threshold(region, catalog, provider_client):
    """A 2024 Jinan member whose compliant burden is 5990 before a 100.00 visit: 20 above 6000."""
    from claims.models import MemberYear

    region("jinan", deductible_annual="500.00")  # the ratio stays open (null)
    member = make_member()
    MemberYear.objects.create(member=member, year=2024, deductible_met="500.00", large_expense_burden="5990.00")
    client = provider_client(ProviderFactory(kind="institution", level="level_1"))
    return member, client


def test_open_second_payment_ratio_settles_the_fund_and_holds_the_second_payment_article_7(region, catalog, provider_client):
    """Jinan (七): the fund's share settles; the second payment is pending (response, benefits)."""
    from claims.models import MemberYear

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    response = _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["fund"], body["large_expense_subsidy"], body["large_expense_subsidy_pending"]) == ("70.00", "0.00", "20.00")
    assert body["cash"] == "30.00"
    claim = Claim.objects.get()
    assert claim.large_expense_pending_base == 20
    assert MemberYear.objects.get(member=member).large_expense_pending_base == 20
    benefits = client.get(f"/api/v1/members/{member.id_number}/benefits?year=2024").json()
    assert benefits["large_expense_subsidy_pending"] == "20.00"


def test_reversing_a_pending_claim_takes_its_pending_back_article_7(region, catalog, provider_client):
    """Jinan (七): a reversed settlement's second payment is no longer due."""
    from claims.models import MemberYear

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    settled = _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}]).json()
    assert client.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {"reason": "x"}, format="json").status_code == 200
    assert MemberYear.objects.get(member=member).large_expense_pending_base == 0


def _set_ratio(version, percent):
    version.parameters["large_expense_subsidy"]["ratio_percent"] = percent
    version.save()


def test_a_batch_pays_pending_second_payments_once_the_ratio_is_set_article_7(region, catalog, provider_client):
    """Jinan (七): once the agency sets the ratio, one case worker proposes, another approves;
    each pending claim is paid base × ratio (R8), into the member's year."""
    from claims.models import MemberYear, SubsidyBatch
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose
    from core.errors import DomainError, DutyConflict

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}])
    _post(client, member, "2024-06-02", "J-2", items=[{"code": "A-DRUG", "quantity": "3"}])  # burden 9 more
    version = PolicyVersion.objects.get(effective_from=date(2024, 1, 1))
    proposer, approver = UserFactory(roles=["经办"]), UserFactory(roles=["经办"])
    with pytest.raises(DomainError) as refused:
        subsidy_batch_propose(user=proposer, policy_version_id=version.pk)
    assert refused.value.code == "policy_parameter_missing"
    assert SubsidyBatch.objects.count() == 0

    # The version has settled, but its open ratio may be set; any other change is refused.
    version.parameters["annual_cap"] = "9999.00"
    with pytest.raises(ValidationError):
        version.save()
    version = PolicyVersion.objects.get(pk=version.pk)
    _set_ratio(version, 80)

    batch = subsidy_batch_propose(user=proposer, policy_version_id=version.pk)
    assert (batch.payment_count, batch.total) == (2, Decimal("23.20"))  # 20 × 80% + 9 × 80% = 16.00 + 7.20
    with pytest.raises(DutyConflict):
        subsidy_batch_approve(user=proposer, batch_id=batch.pk)
    year = MemberYear.objects.get(member=member)
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (0, 29)
    subsidy_batch_approve(user=approver, batch_id=batch.pk)
    year.refresh_from_db()
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (Decimal("23.20"), 0)
    with pytest.raises(DomainError):
        subsidy_batch_propose(user=proposer, policy_version_id=version.pk)  # nothing pending now


def test_a_claim_reversed_before_approval_is_dropped_from_the_batch_article_7(region, catalog, provider_client):
    """Jinan (七): only settled claims are paid; nothing is paid for a reversed one."""
    from claims.models import MemberYear, SubsidyPayment
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    first = _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}]).json()
    version = PolicyVersion.objects.get(effective_from=date(2024, 1, 1))
    _set_ratio(version, 50)
    batch = subsidy_batch_propose(user=UserFactory(roles=["经办"]), policy_version_id=version.pk)
    client.post(f"/api/v1/settlements/{first['settlement_id']}/reverse", {"reason": "x"}, format="json")
    batch = subsidy_batch_approve(user=UserFactory(roles=["经办"]), batch_id=batch.pk)
    assert (batch.payment_count, batch.total) == (0, 0)
    assert SubsidyPayment.objects.count() == 0
    year = MemberYear.objects.get(member=member)
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (0, 0)


@pytest.mark.parametrize("role", ["稽核", "财务"])
def test_only_a_case_worker_proposes_or_approves_a_batch_article_7(region, catalog, provider_client, role):
    """README "Roles": second-payment batches (Jinan (七)) are the case workers' (经办); 稽核 and 财务
    only read them. The service refuses them itself, not only the admin (which hides the actions),
    and writes nothing."""
    from claims.models import MemberYear, SubsidyBatch, SubsidyPayment
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose
    from core.errors import Forbidden
    from core.models import AuditEvent

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}])
    version = PolicyVersion.objects.get(effective_from=date(2024, 1, 1))
    _set_ratio(version, 80)
    other = UserFactory(roles=[role])
    events = AuditEvent.objects.count()
    with pytest.raises(Forbidden) as refused:
        subsidy_batch_propose(user=other, policy_version_id=version.pk)
    assert refused.value.code == "forbidden" and refused.value.details == {"required_roles": ["经办"]}
    assert not SubsidyBatch.objects.exists() and not SubsidyPayment.objects.exists()
    assert AuditEvent.objects.count() == events

    batch = subsidy_batch_propose(user=UserFactory(roles=["经办"]), policy_version_id=version.pk)
    events = AuditEvent.objects.count()
    with pytest.raises(Forbidden) as refused:
        subsidy_batch_approve(user=other, batch_id=batch.pk)
    assert refused.value.code == "forbidden" and refused.value.details == {"required_roles": ["经办"]}
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by, batch.approved_at) == (SubsidyBatch.Status.PROPOSED, None, None)
    assert SubsidyPayment.objects.filter(batch=batch).count() == 1
    year = MemberYear.objects.get(member=member)
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (0, 20)
    assert AuditEvent.objects.count() == events


def test_member_page_shows_the_pending_second_payment_article_7(region, catalog, provider_client, client):
    from members.models import Member

    member, api = _jinan_above_threshold(region, catalog, provider_client)
    _post(api, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}])
    client.force_login(UserFactory(roles=["经办"]))
    page = client.get(f"/admin/members/member/{member.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "large_expense_pending_base" in page and "20.00" in page
    assert Member.objects.count() == 1


# --- Henan 第三章: institutions with inpatient beds, and township and community centres ----------


def _henan_visit(level, *, beds):
    from claims import calculator as calc

    line = calc.LineInput(calc.CatalogFacts("A-DRUG", "A"), Decimal(10), Decimal("10.00"))
    return calc.VisitInput(visit_date=date(2023, 5, 1), lines=(line,), provider_level=level, provider_inpatient_beds=beds)


@pytest.mark.parametrize("level, beds, covered", [
    ("level_1", True, True),
    ("level_1", False, False),  # a clinic without beds
    ("level_2", False, False),
    ("township_health_centre", False, True),
    ("community_health_centre", False, True),
])
def test_henan_covers_institutions_with_inpatient_beds_and_health_centres_chapter_3(level, beds, covered):
    """Henan 第三章: 普通门诊统筹 covers 有住院资格的定点医疗机构和乡镇卫生院、社区卫生服务中心."""
    from claims import calculator as calc

    policy = calc.PolicyInput("henan", preset("henan")["versions"][0]["parameters"])
    situation = calc.MemberSituation(employment_status="in_service", scheme="combined")
    result = calc.settle(_henan_visit(level, beds=beds), situation, calc.YearSoFar(), policy)
    assert (result.denied_reason is None) is covered
    if not covered:
        assert result.denied_reason == "provider_not_covered" and result.fund == 0


def test_other_regions_ignore_inpatient_beds():
    """Only Henan's text ties coverage to inpatient qualification."""
    from claims import calculator as calc

    policy = calc.PolicyInput("zaozhuang", preset("zaozhuang")["versions"][0]["parameters"])
    situation = calc.MemberSituation(employment_status="in_service", scheme="combined")
    assert calc.settle(_henan_visit("level_1", beds=False), situation, calc.YearSoFar(), policy).denied_reason is None


def test_henan_clinic_without_beds_is_denied_through_the_api_chapter_3(region, catalog, provider_client):
    """Henan 第三章: the provider's recorded inpatient qualification decides."""
    region("henan")
    member = make_member()
    clinic = ProviderFactory(kind="institution", level="level_1", inpatient_beds=False)
    body = _post(provider_client(clinic), member, "2023-05-01", "H-1").json()
    assert (body["denied_reason"], body["fund"]) == ("provider_not_covered", "0.00")
    hospital = ProviderFactory(kind="institution", level="level_1")
    body = _post(provider_client(hospital), member, "2023-05-01", "H-2").json()
    assert body["denied_reason"] is None and body["fund"] != "0.00"


# --- Jinan (五): the local ratio 在长期居住地 — in that place only ---------------------------


def test_division_within():
    from claims.calculator import division_within

    assert division_within("440305", "440300") and division_within("440305", "440000") and division_within("440305", "440305")
    assert not division_within("440106", "440300") and not division_within("", "440300")


def _remote(platform_client, member, ref, code=None):
    data = {"member_id_number": member.id_number, "visit_date": "2024-06-01", "external_ref": ref,
            "visit_place": "out_of_province", "remote_provider_code": "H44030500001", "remote_provider_name": "深圳某医院",
            "provider_level": "level_2", "items": [{"code": "A-DRUG", "quantity": "100"}]}
    if code is not None:
        data["treatment_division_code"] = code
    return platform_client.post("/api/v1/settlements", data, format="json")


def test_registered_residence_gets_the_local_ratio_only_in_that_place_article_5(region, catalog, platform_client):
    """Jinan (五): 异地长期居住人员在长期居住地 … 执行本市规定 — the registration names the place (a
    six-digit division code); a visit elsewhere out of province is a temporary visit (−10 points)."""
    from members.models import Registration

    region("jinan", deductible_annual="0.00")
    member = make_member()
    Registration.objects.create(member=member, place="out_of_province", division_code="440300", valid_from=date(2024, 1, 1))
    there = _remote(platform_client, member, "R-1", "440305")
    assert there.status_code == 201, there.content
    assert (there.json()["ratio"], there.json()["fund"]) == ("70.00", "700.00")
    elsewhere = _remote(platform_client, member, "R-2", "440106").json()  # Guangzhou, not Shenzhen
    assert (elsewhere["ratio"], elsewhere["fund"]) == ("60.00", "600.00")
    unnamed = _remote(platform_client, member, "R-3").json()  # the place of treatment not sent
    assert unnamed["ratio"] == "60.00"
    bad = _remote(platform_client, member, "R-4", "4403")
    assert bad.status_code == 400 and Claim.objects.count() == 3


def test_a_registration_without_a_division_still_covers_its_whole_place_article_5(region, catalog, platform_client):
    """Registrations recorded before division codes keep their meaning (anywhere in the place)."""
    from members.models import Registration

    region("jinan", deductible_annual="0.00")
    member = make_member()
    Registration.objects.create(member=member, place="out_of_province", valid_from=date(2024, 1, 1))
    assert _remote(platform_client, member, "R-1", "440106").json()["ratio"] == "70.00"


# --- Ziyang 第十一条: outpatient pooling counts toward the pooled fund's yearly maximum --------


def test_settlement_never_passes_the_pooled_funds_yearly_maximum_article_11(region, catalog, provider_client):
    """Ziyang 第十一条: 职工门诊自然年度支付总金额计入职工医保年度统筹基金最高支付限额 — with what the
    inpatient system paid (imported per member-year), the fund stops at the maximum."""
    from claims.models import MemberYear

    region("ziyang")
    version = PolicyVersion.objects.get()
    version.parameters["annual_fund_maximum"] = "100000.00"  # the agency's number, not the text's
    version.save()
    member = make_member()
    MemberYear.objects.create(member=member, year=2023, deductible_met="200.00", inpatient_fund_paid="99950.00")
    client = provider_client(ProviderFactory(kind="institution", level="level_2"))
    before = client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()
    assert before["annual_fund_maximum_remaining"] == "50.00"
    body = _post(client, member, "2023-05-01", "M-1", items=[{"code": "A-DRUG", "quantity": "50"}]).json()
    assert body["fund"] == "50.00"  # 500 × 60% = 300, limited to the 50 left
    assert body["cash"] == "450.00"
    after = client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()
    assert after["annual_fund_maximum_remaining"] == "0.00"
    assert _post(client, member, "2023-05-02", "M-2").json()["fund"] == "0.00"


def test_without_the_agencys_maximum_nothing_is_limited_article_11(region, catalog, provider_client):
    """Ziyang 第十一条: the maximum is the agency's figure (not in the text); unset, the benefits
    answer says null and settlement is as before."""
    region("ziyang")
    member = make_member()
    client = provider_client(ProviderFactory(kind="institution", level="level_2"))
    assert client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()["annual_fund_maximum_remaining"] is None
    assert _post(client, member, "2023-05-01", "M-1", items=[{"code": "A-DRUG", "quantity": "50"}]).json()["fund"] == "180.00"


def test_a_claim_reversed_after_approval_gives_its_second_payment_back_in_the_next_batch_article_7(region, catalog, provider_client):
    """Jinan (七): a reversed settlement's second payment is not due. Paid already in an approved
    batch, it is taken back by a negative row in the next batch; the paid row is never edited."""
    from claims.models import MemberYear, SubsidyPayment
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose
    from core.errors import DomainError
    from core.models import AuditEvent

    member, client = _jinan_above_threshold(region, catalog, provider_client)
    first = _post(client, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}]).json()
    version = PolicyVersion.objects.get(effective_from=date(2024, 1, 1))
    _set_ratio(version, 80)
    proposer, approver = UserFactory(roles=["经办"]), UserFactory(roles=["经办"])
    batch = subsidy_batch_approve(user=approver, batch_id=subsidy_batch_propose(user=proposer, policy_version_id=version.pk).pk)
    paid = SubsidyPayment.objects.get(batch=batch)
    assert paid.amount == Decimal("16.00")  # 20 × 80%
    year = MemberYear.objects.get(member=member)
    assert year.large_expense_subsidy_paid == Decimal("16.00")

    # The take-back has no role check of its own: the reversal checks the caller first, and one
    # who may not reverse (finance) reaches nothing (tests/claims/test_subsidy_take_back.py).
    from claims.services import claim_reverse
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        claim_reverse(user=UserFactory(roles=["财务"]), settlement_id=first["settlement_id"], reason="x")
    assert not SubsidyPayment.objects.filter(reverses=paid).exists()
    assert not AuditEvent.objects.filter(action="subsidy_payment.take_back").exists()

    assert client.post(f"/api/v1/settlements/{first['settlement_id']}/reverse", {"reason": "x"}, format="json").status_code == 200
    take_back = SubsidyPayment.objects.get(reverses=paid)
    assert (take_back.batch, take_back.claim, take_back.amount, take_back.base) == (None, None, Decimal("-16.00"), Decimal("-20.00"))
    paid.refresh_from_db()
    assert (paid.batch, paid.amount, paid.base) == (batch, Decimal("16.00"), Decimal("20.00"))  # untouched
    assert AuditEvent.objects.filter(action="subsidy_payment.take_back").count() == 1
    year.refresh_from_db()
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (Decimal("16.00"), 0)  # until the next batch

    # A new visit: after the reversal the burden is 5990 again; 130.00 adds 39 (fund 91), 29
    # above 6000, paid at once now that the ratio is set: 29 × 80% = 23.20.
    again = _post(client, member, "2024-06-02", "J-2", items=[{"code": "A-DRUG", "quantity": "13"}])
    assert again.status_code == 201, again.content
    assert (again.json()["large_expense_subsidy"], again.json()["large_expense_subsidy_pending"]) == ("23.20", "0.00")
    # The next batch carries the take-back.
    second = subsidy_batch_propose(user=proposer, policy_version_id=version.pk)
    assert (second.payment_count, second.total) == (1, Decimal("-16.00"))
    take_back.refresh_from_db()
    assert take_back.batch == second
    subsidy_batch_approve(user=approver, batch_id=second.pk)
    year.refresh_from_db()
    assert year.large_expense_subsidy_paid == Decimal("23.20")  # 16.00 + 23.20 − 16.00
    with pytest.raises(DomainError):
        subsidy_batch_propose(user=proposer, policy_version_id=version.pk)  # nothing left to pay or take back
    assert SubsidyPayment.objects.filter(reverses__isnull=False).count() == 1


def test_a_batch_of_take_backs_only_article_7(region, catalog, provider_client, client):
    """Jinan (七): with nothing new pending, a batch holds only the take-back; the batch page shows it."""
    from claims.models import MemberYear, SubsidyPayment
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose

    member, api = _jinan_above_threshold(region, catalog, provider_client)
    first = _post(api, member, "2024-06-01", "J-1", items=[{"code": "A-DRUG", "quantity": "10"}]).json()
    version = PolicyVersion.objects.get(effective_from=date(2024, 1, 1))
    _set_ratio(version, 50)
    proposer, approver = UserFactory(roles=["经办"]), UserFactory(roles=["经办"])
    subsidy_batch_approve(user=approver, batch_id=subsidy_batch_propose(user=proposer, policy_version_id=version.pk).pk)
    api.post(f"/api/v1/settlements/{first['settlement_id']}/reverse", {"reason": "x"}, format="json")
    # Reversing again changes nothing more.
    api.post(f"/api/v1/settlements/{first['settlement_id']}/reverse", {"reason": "x"}, format="json")
    assert SubsidyPayment.objects.filter(reverses__isnull=False).count() == 1
    batch = subsidy_batch_propose(user=proposer, policy_version_id=version.pk)
    assert (batch.payment_count, batch.total) == (1, Decimal("-10.00"))
    approver.is_staff = True
    approver.save()
    client.force_login(approver)
    page = client.get(f"/admin/claims/subsidybatch/{batch.pk}/change/")
    assert page.status_code == 200 and "-10.00" in page.content.decode()
    subsidy_batch_approve(user=approver, batch_id=batch.pk)
    assert MemberYear.objects.get(member=member).large_expense_subsidy_paid == 0
