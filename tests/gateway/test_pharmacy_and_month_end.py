"""The pharmacy sequence (9001 → 1101 → 2101 → 2102 → 2103 or 2601), 3201 at month end, 5301."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import Claim, Reconciliation
from gateway.models import FeeLine, Visit
from members.models import PersonalAccount
from tests.claims.conftest import make_member
from tests.factories import ProviderFactory

from .conftest import line
from .test_institution import assert_identities, expected_setlinfo, written


@pytest.fixture
def member(zaozhuang):
    return make_member(balance="100.00")


@pytest.fixture
def prescriber(db):
    return ProviderFactory(kind="institution", level="level_2")


def purchase(member, prescriber, *, total="130.00", lines=None, acct="1", circulated=True, **druginfo) -> dict:
    rows = lines or [line("1", "A-DRUG", "10", "10.00", rx_circ_flag="1"), line("2", "B-DRUG", "1", "30.00", rx_circ_flag="1")]
    if not circulated:
        rows = [dict(row, rx_circ_flag="0") for row in rows]
    info = {"psn_no": str(member.pk), "mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number, "begntime": "2023-02-01 10:00:00",
            "medfee_sumamt": total, "invono": "", "insutype": "310", "dise_codg": "", "dise_name": "", "acct_used_flag": acct,
            "med_type": "41", "exp_content": {"prsc_fixmedins_code": prescriber.code}}
    info.update(druginfo)
    return {"druginfo": info, "drugdetail": rows}


def test_the_pharmacy_sequence_settles_a_circulated_prescription_as_the_rest_api_does(member, pharmacy, prescriber, provider_client):
    twin = make_member(balance="100.00")
    preview = pharmacy.ok("2101", purchase(member, prescriber))
    assert Claim.objects.count() == 0 and Visit.objects.count() == 0
    settled = pharmacy.ok("2102", purchase(member, prescriber))
    info = settled["setlinfo"]
    assert info["setl_id"] and info["mdtrt_id"] and info["clr_type"] == "41"
    rest = provider_client(pharmacy.provider).post("/api/v1/settlements", {
        "member_id_number": twin.id_number, "visit_date": "2023-02-01", "external_ref": "REST-P1", "use_account": True,
        "prescribed_by_code": prescriber.code,
        "items": [{"code": "A-DRUG", "quantity": "10", "unit_price": "10.00"}, {"code": "B-DRUG", "quantity": "1", "unit_price": "30.00"}],
    }, format="json").json()
    for field, value in expected_setlinfo(rest).items():
        assert info[field] == value, field
        assert preview["setlinfo"][field] == value, field
    assert_identities(info)
    assert [row["feedetl_sn"] for row in settled["detlcutinfo"]] == ["1", "2"]
    assert settled["detlcutinfo"][1]["preselfpay_amt"] == Decimal("3.00")
    claim = Claim.objects.get(pk=int(info["setl_id"]))
    assert claim.prescribed_by.code == prescriber.code
    assert FeeLine.objects.filter(visit_id=int(info["mdtrt_id"])).count() == 2


def test_without_a_circulated_prescription_the_personal_account_alone_pays_as_the_rest_api_does(member, pharmacy, prescriber, provider_client):
    twin = make_member(balance="100.00")
    info = pharmacy.ok("2102", purchase(member, prescriber, circulated=False))["setlinfo"]
    rest = provider_client(pharmacy.provider).post("/api/v1/settlements", {
        "member_id_number": twin.id_number, "visit_date": "2023-02-01", "external_ref": "REST-P2", "benefit": "personal_account",
        "items": [{"code": "A-DRUG", "quantity": "10", "unit_price": "10.00"}, {"code": "B-DRUG", "quantity": "1", "unit_price": "30.00"}],
    }, format="json").json()
    for field, value in expected_setlinfo(rest).items():
        assert info[field] == value, field
    assert_identities(info)
    # nhsa.md: an account-only settlement has hifp_pay 0 and pool_prop_selfpay 0.
    assert (info["hifp_pay"], info["pool_prop_selfpay"], info["acct_pay"]) == (Decimal("0.00"), Decimal("0.0000"), Decimal("100.00"))
    assert info["psn_cash_pay"] == Decimal("30.00")
    claim = Claim.objects.get(pk=int(info["setl_id"]))
    assert claim.benefit == Claim.Benefit.PERSONAL_ACCOUNT and claim.prescribed_by is None


def test_2103_cancels_with_negated_amounts_naming_the_personal_and_cash_parts(member, pharmacy, prescriber):
    info = pharmacy.ok("2102", purchase(member, prescriber))["setlinfo"]
    data = {"data": {"setl_id": info["setl_id"], "mdtrt_id": info["mdtrt_id"], "psn_no": str(member.pk), "exp_content": ""}}
    cancelled = pharmacy.ok("2103", data)["setlinfo"]
    assert cancelled["medfee_sumamt"] == -info["medfee_sumamt"]
    assert cancelled["psn_pay"] == -info["psn_part_amt"] and cancelled["cash_payamt"] == -info["psn_cash_pay"]
    assert cancelled["balc"] == Decimal("100.00") == PersonalAccount.objects.get(member=member).balance
    assert Claim.objects.get(pk=int(info["setl_id"])).status == Claim.Status.REVERSED


def test_2601_reverses_a_pharmacy_settlement(member, pharmacy, prescriber):
    info = pharmacy.ok("2102", purchase(member, prescriber))["setlinfo"]
    pharmacy.ok("2601", {"data": {"psn_no": str(member.pk), "omsgid": pharmacy.last_msgid, "oinfno": "2102"}})
    assert Claim.objects.get(pk=int(info["setl_id"])).status == Claim.Status.REVERSED
    assert PersonalAccount.objects.get(member=member).balance == Decimal("100.00")


@pytest.mark.parametrize("change, words", [
    ({"total": "129.99"}, ["129.99", "130.00"]),
    ({"exp_content": ""}, ["prsc_fixmedins_code"]),
    ({"med_type": "11"}, ["41"]),
    ({"mdtrt_cert_type": "03"}, ["02"]),
    ({"circulated": False, "acct": "0"}, ["acct_used_flag"]),
])
def test_pharmacy_refusals_write_nothing(member, pharmacy, prescriber, change, words):
    before = written()
    message = pharmacy.fails("2102", purchase(member, prescriber, **change))
    for word in words:
        assert word in message
    assert written() == before and not Visit.objects.exists()


def test_an_institution_may_not_use_the_pharmacy_transactions_nor_a_pharmacy_the_institutions(member, pharmacy, hospital, prescriber):
    assert "2201" in pharmacy.fails("2201", {"data": {"psn_no": str(member.pk), "insutype": "310", "begntime": "2023-02-01 09:00:00",
                                                       "mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number}})
    assert "2101" in hospital.fails("2102", purchase(member, prescriber))


def test_3201_balances_by_settlement_date_and_names_gongjis_totals(member, pharmacy, prescriber):
    info = pharmacy.ok("2102", purchase(member, prescriber))["setlinfo"]
    today = timezone.localdate().isoformat()
    data = {"insutype": "310", "clr_type": "41", "setl_optins": "370400", "stmt_begndate": today, "stmt_enddate": today,
            "medfee_sumamt": info["medfee_sumamt"], "fund_pay_sumamt": info["fund_pay_sumamt"], "acct_pay": info["acct_pay"],
            "fixmedins_setl_cnt": "1", "refd_setl_flag": "0"}
    result = pharmacy.ok("3201", {"data": data})["stmtinfo"]
    assert result["stmt_rslt"] == "0" and result["setl_optins"] == "370400"
    assert f"{info['medfee_sumamt']:.2f}" in result["stmt_rslt_dscr"]
    wrong = pharmacy.ok("3201", {"data": dict(data, fixmedins_setl_cnt="2")})["stmtinfo"]
    assert wrong["stmt_rslt"] == "1" and "1" in wrong["stmt_rslt_dscr"]
    assert Reconciliation.objects.filter(provider=pharmacy.provider).count() == 2
    assert "日期" in pharmacy.fails("3201", {"data": dict(data, stmt_enddate="2000-01-01")})


def test_5301_lists_the_members_chronic_registrations(member, hospital):
    from claims.models import ChronicRegistration, Disease

    assert hospital.ok("5301", {"data": {"psn_no": str(member.pk)}}) == {"feedetail": []}
    disease = Disease.objects.create(region="zaozhuang", code="I10.X00", name="高血压", group="two_diseases")
    ChronicRegistration.objects.create(member=member, disease=disease, valid_from=date(2024, 1, 1), status="approved")
    assert hospital.ok("5301", {"data": {"psn_no": str(member.pk)}}) == {"feedetail": [
        {"opsp_dise_code": "I10.X00", "opsp_dise_name": "高血压", "begndate": "2024-01-01", "enddate": None}]}
