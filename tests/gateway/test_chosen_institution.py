"""2505 人员定点备案 and 2506 人员定点备案撤销 (fields per the national spec, read from open-source
HIS code: data{psn_no, tel, addr, biz_appy_type, begndate, enddate, agnter_*, fix_srt_no,
fixmedins_code, fixmedins_name, memo} → result{trt_dcla_detl_sn}; 2506 data{trt_dcla_detl_sn,
psn_no, memo}) onto the chosen-institution service — Jinan (四)."""

from datetime import date

import pytest

from claims.models import ChosenInstitution
from core.models import AuditEvent
from tests.factories import ProviderFactory

from .conftest import his_for, line  # noqa: F401

pytestmark = pytest.mark.django_db

JINAN = "370100"


@pytest.fixture
def jinan(region, catalog, settings):
    region("jinan", deductible_annual="500.00", chosen_max_count=1)
    return catalog


@pytest.fixture
def hospital(db):
    his = his_for(ProviderFactory(kind="institution", level="level_2"))
    his.sign_in()
    return his


def choose(his, member, **extra):
    data = {"psn_no": str(member.pk), "tel": "13800000000", "addr": "济南市历下区", "biz_appy_type": "03",
            "begndate": "2023-01-01", "enddate": "", "agnter_name": "", "agnter_cert_type": "", "agnter_certno": "",
            "agnter_tel": "", "agnter_addr": "", "agnter_rlts": "", "fix_srt_no": "1",
            "fixmedins_code": his.provider.code, "fixmedins_name": his.provider.name, "memo": ""}
    data.update(extra)
    return {"data": data}


def test_2505_registers_and_2506_cancels_article_4(jinan, hospital, make_member_here):
    member = make_member_here()
    output = hospital.ok("2505", choose(hospital, member), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    chosen = ChosenInstitution.objects.get()
    assert output == {"result": {"trt_dcla_detl_sn": chosen.declaration_sn}}
    assert (chosen.member, chosen.provider, chosen.valid_from, chosen.valid_to) == (member, hospital.provider, date(2023, 1, 1), None)
    assert (chosen.source, chosen.sort_no, chosen.application_type) == ("gateway", "1", "03")
    assert AuditEvent.objects.filter(action="chosen_institution.register").count() == 1
    # Over the agency's number (1 here): refused with a message a cashier can act on.
    other = his_for(ProviderFactory(kind="institution", level="level_2"))
    other.sign_in()
    err = other.fails("2505", choose(other, member, begndate="2023-03-01"), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    assert "最多" in err
    assert ChosenInstitution.objects.count() == 1
    # 2506 names the serial; it ends the registration (yesterday: it began long ago).
    hospital.ok("2506", {"data": {"trt_dcla_detl_sn": chosen.declaration_sn, "psn_no": str(member.pk), "memo": "迁居"}},
                insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    chosen.refresh_from_db()
    assert chosen.valid_to is not None and chosen.end_reason == "迁居" and not chosen.cancelled
    # From 2024 no limit applies (不受定点数量限制).
    other.ok("2505", choose(other, member, begndate="2026-12-03"), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)


def test_2505_only_at_the_sending_institution_and_2506_needs_a_reason(jinan, hospital, make_member_here):
    member = make_member_here()
    err = hospital.fails("2505", choose(hospital, member, fixmedins_code="H99999999999"), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    assert hospital.provider.code in err
    assert hospital.fails("2505", choose(hospital, member, begndate=""), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    assert not ChosenInstitution.objects.exists()
    hospital.ok("2505", choose(hospital, member, begndate="2027-01-01"), insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    chosen = ChosenInstitution.objects.get()
    assert hospital.fails("2506", {"data": {"trt_dcla_detl_sn": chosen.declaration_sn, "psn_no": str(member.pk), "memo": ""}},
                          insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    assert hospital.fails("2506", {"data": {"trt_dcla_detl_sn": "DD999999", "psn_no": str(member.pk), "memo": "错"}},
                          insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    # Not begun yet: 2506 cancels it outright.
    hospital.ok("2506", {"data": {"trt_dcla_detl_sn": chosen.declaration_sn, "psn_no": str(member.pk), "memo": "填错"}},
                insuplc_admdvs=JINAN, mdtrtarea_admvs=JINAN)
    chosen.refresh_from_db()
    assert chosen.cancelled and AuditEvent.objects.filter(action="chosen_institution.cancel").count() == 1


@pytest.fixture
def make_member_here(db):
    from tests.claims.conftest import make_member

    return make_member
