"""med_type 14 (门诊慢特病) through the gateway: the chronic benefit with 2203's dise_codg,
setlinfo equal field by field to the REST chronic settlement of the same visit (nhsa.md's
mapping); refusals (no registration, another designated provider) as infcode -1, nothing written."""

from datetime import date

import pytest

from claims import chronic
from claims.models import Claim, Disease
from tests.claims.conftest import make_member
from tests.claims.test_chronic_settlement import load_chronic, terms
from tests.factories import ProviderFactory, UserFactory

from .conftest import line
from .test_institution import assert_identities, expected_setlinfo, person

LINES = [line("1", "A-DRUG", "30", "10.00"), line("2", "B-DRUG", "2", "50.00")]
REST_ITEMS = [{"code": "A-DRUG", "quantity": "30", "unit_price": "10.00"}, {"code": "B-DRUG", "quantity": "2", "unit_price": "50.00"}]
TOTAL = "400.00"


def register(member, code="S1", designated=None):
    disease = Disease.objects.get_or_create(region="zaozhuang", code=code, defaults={"name": "示例特病", "group": "special"})[0]
    proposed = chronic.registration_propose(user=UserFactory(roles=["经办"]), member=member, disease=disease,
                                            valid_from=date(2023, 1, 1), designated_provider=designated)
    return chronic.registration_approve(user=UserFactory(roles=["经办"]), registration=proposed)


def chronic_visit(his, member, code="S1") -> str:
    psn_no = person(his, member)["baseinfo"]["psn_no"]
    mdtrt_id = his.ok("2201", {"data": {
        "psn_no": psn_no, "insutype": "310", "begntime": "2023-02-01 09:00:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": member.id_number, "ipt_otp_no": "MZ0002", "atddr_no": "D001", "dr_name": "王医生",
        "dept_code": "A01", "dept_name": "内科", "caty": "A03"}})["data"]["mdtrt_id"]
    his.ok("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "14", "begntime": "2023-02-01 09:00:00",
                                  "main_cond_dscr": "", "dise_codg": code, "dise_name": "示例特病"},
                    "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": code, "diag_name": "示例特病",
                                  "diag_dept": "内科", "dise_dor_no": "D001", "dise_dor_name": "王医生",
                                  "diag_time": "2023-02-01 09:05:00", "vali_flag": "1"}]})
    his.ok("2204", {"feedetail": [dict(row, mdtrt_id=mdtrt_id, psn_no=psn_no) for row in LINES]})
    return mdtrt_id


def data(member, mdtrt_id, **amounts):
    return {"data": {"psn_no": str(member.pk), "mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number, "med_type": "14",
                     "medfee_sumamt": TOTAL, "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1",
                     "acct_used_flag": "1", "insutype": "310", "invono": "INV-1", **amounts}}


@pytest.fixture
def chronic_zaozhuang(zaozhuang):
    load_chronic("zaozhuang", groups={"special": terms(deductible="100.00", ratio=80, limit="1000.00")})


def test_med_type_14_settles_as_the_rest_chronic_settlement_field_by_field(chronic_zaozhuang, hospital, provider_client):
    member, twin = make_member(balance="200.00"), make_member(balance="200.00")
    register(member), register(twin)
    mdtrt_id = chronic_visit(hospital, member)
    preview = hospital.ok("2206", data(member, mdtrt_id))["setlinfo"]
    assert Claim.objects.count() == 0
    info = hospital.ok("2207", data(member, mdtrt_id, fulamt_ownpay_amt=preview["fulamt_ownpay_amt"],
                                    overlmt_selfpay=preview["overlmt_selfpay"], preselfpay_amt=preview["preselfpay_amt"],
                                    inscp_scp_amt=preview["inscp_scp_amt"]))["setlinfo"]
    rest = provider_client(hospital.provider).post("/api/v1/settlements", {
        "member_id_number": twin.id_number, "visit_date": "2023-02-01", "external_ref": "REST-C1", "use_account": True,
        "benefit": "chronic_special", "disease_code": "S1", "items": REST_ITEMS}, format="json").json()
    assert rest["benefit"] == "chronic_special", rest
    for field, value in expected_setlinfo(rest).items():
        assert info[field] == value, field
        assert preview[field] == value, field
    assert_identities(info)
    claim = Claim.objects.get(pk=int(info["setl_id"]))
    assert claim.benefit == "chronic_special" and claim.chronic.disease.code == "S1"
    assert info["med_type"] == "14"
    # 5301 lists the member's registration.
    listed = hospital.ok("5301", {"data": {"psn_no": str(member.pk)}})["feedetail"]
    assert [row["opsp_dise_code"] for row in listed] == ["S1"]


def test_no_registration_and_another_designated_provider_are_refused_in_chinese_nothing_written(chronic_zaozhuang, hospital):
    """The fee upload (2204) already classifies the lines through the chronic preview: without a
    registration, or where the registration names another provider, it is refused (infcode -1,
    a Chinese err_msg) and nothing is written."""
    member = make_member(balance="200.00")
    Disease.objects.create(region="zaozhuang", code="S1", name="示例特病", group="special")
    with pytest.raises(AssertionError, match="认定"):
        chronic_visit(hospital, member)
    assert Claim.objects.count() == 0

    register(member, designated=ProviderFactory(kind="institution", level="level_2"))
    with pytest.raises(AssertionError, match="定点|指定|其他"):
        chronic_visit(hospital, member)
    assert Claim.objects.count() == 0
