"""Issue 11: "the line/visit maxima and the settlement window are not enforced on the gateway,
and the window does not apply to account-only settlements". The bounds are checked in one place
(claims.services: prepare_items for the maxima, prepare_visit for the window), which every way to
settle goes through: the REST API's pooling, account-only and chronic benefits, and the national
interface's institution (2204 upload, 2206 preview, 2207 settle) and pharmacy (2101 preview,
2102 settle; pooling or account-only) transactions. Each is refused with its own code (API) or
infcode -1 and a Chinese err_msg (gateway), and writes nothing (README, Bounds of one settlement)."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from claims.models import Disease
from gateway.models import FeeLine, Visit
from tests.claims.conftest import make_member
from tests.factories import ProviderFactory

from .conftest import line
from .test_institution import open_visit, person, settle_data, written

VISIT_DAY = "2023-02-01"  # the worked examples' day: outside a 365-day window from today


@dataclass(frozen=True)
class Case:
    name: str
    lines: tuple  # (code, quantity, unit price)
    code: str  # the API's error code
    words: str  # what the gateway's Chinese err_msg says
    window: int = 0  # SETTLEMENT_WINDOW_DAYS


QUANTITY = Case("quantity", (("A-DRUG", "10001", "1.00"),), "quantity_too_large", "数量超过单项上限")
VISIT_TOTAL = Case("visit_total", (("A-DRUG", "2", "300000.00"), ("A-DRUG", "2", "300000.00")),
                   "visit_total_too_large", "本次就诊费用总额超过单次上限")
WINDOW = Case("window", (("A-DRUG", "3", "10.00"),), "visit_outside_settlement_window", "结算期限（365天）", window=365)
# The attack's line: 99,999,999 × 999,999,999,999.99, past MoneyField's 14 digits (PostgreSQL
# refuses to store it: it must be refused before anything is stored). The national interface's
# reader refuses its amount (det_item_fee_sumamt, medfee_sumamt) as not a valid number already.
EXTREME = Case("extreme", (("A-DRUG", "99999999", "999999999999.99"),), "quantity_too_large", "不是有效数字")
CASES = [QUANTITY, VISIT_TOTAL, WINDOW, EXTREME]


@pytest.fixture
def member(zaozhuang):
    return make_member(balance="100.00")


def items(case):
    return [{"code": code, "quantity": quantity, "unit_price": price} for code, quantity, price in case.lines]


def fee_lines(case, *, pharmacy=False):
    flag = {"rx_circ_flag": "1"} if pharmacy else {}
    return [line(str(n), code, quantity, price, **flag) for n, (code, quantity, price) in enumerate(case.lines, start=1)]


def total(case) -> str:
    return f"{sum(Decimal(q) * Decimal(p) for _c, q, p in case.lines):.2f}"


def everything():
    return (*written(), Visit.objects.count(), FeeLine.objects.count())


# --- the REST API: pooling, account-only, chronic ---------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("benefit", ["outpatient_pooling", "personal_account", "chronic_special"])
def test_the_api_refuses_every_benefit_beyond_the_bounds(member, provider_client, settings, case, benefit):
    settings.SETTLEMENT_WINDOW_DAYS = case.window
    api = provider_client(ProviderFactory(kind="institution", level="level_1"))
    data = {"member_id_number": member.id_number, "visit_date": VISIT_DAY, "external_ref": f"B-{benefit}",
            "visit_place": "local", "use_account": True, "items": items(case)}
    if benefit != "outpatient_pooling":
        data["benefit"] = benefit
    if benefit == "chronic_special":
        Disease.objects.create(region=django_settings.REGION, code="M00101", name="高血压", group="chronic")
        data["disease_code"] = "M00101"
    for endpoint in ("/api/v1/settlements/preview", "/api/v1/settlements"):
        before = everything()
        response = api.post(endpoint, data, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["code"] == case.code, response.json()
        assert everything() == before


# --- the national interface: institutions (2204, 2206, 2207) -----------------------------------


def register(his, member) -> str:
    """1101, 2201, 2203: a visit registered on VISIT_DAY, no fee lines yet."""
    psn_no = person(his, member)["baseinfo"]["psn_no"]
    mdtrt_id = his.ok("2201", {"data": {
        "psn_no": psn_no, "insutype": "310", "begntime": f"{VISIT_DAY} 09:00:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": member.id_number, "ipt_otp_no": "MZ0001", "atddr_no": "D001", "dr_name": "王医生",
        "dept_code": "A01", "dept_name": "内科", "caty": "A03"}})["data"]["mdtrt_id"]
    his.ok("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": "11", "begntime": f"{VISIT_DAY} 09:00:00",
                                  "main_cond_dscr": "", "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"},
                    "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900", "diag_name": "急性上呼吸道感染",
                                  "diag_dept": "内科", "dise_dor_no": "D001", "dise_dor_name": "王医生",
                                  "diag_time": f"{VISIT_DAY} 09:05:00", "vali_flag": "1"}]})
    return mdtrt_id


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_institution_fee_upload_2204_refuses_beyond_the_bounds_and_keeps_no_line(member, hospital, settings, case):
    settings.SETTLEMENT_WINDOW_DAYS = case.window
    mdtrt_id = register(hospital, member)
    before = everything()
    rows = [dict(row, mdtrt_id=mdtrt_id, psn_no=str(member.pk)) for row in fee_lines(case)]
    message = hospital.fails("2204", {"feedetail": rows})
    assert case.words in message, message
    if case is QUANTITY:
        assert message.startswith("费用明细 1：")  # the fee line, by its feedetl_sn
    assert everything() == before
    assert not FeeLine.objects.filter(visit_id=int(mdtrt_id)).exists()


@pytest.mark.parametrize("infno", ["2206", "2207"])
def test_the_institution_preview_and_settlement_refuse_a_visit_outside_the_window(member, hospital, settings, infno):
    """Lines uploaded while the window allowed them are settled only within it."""
    mdtrt_id = open_visit(hospital, member)  # the window is off (tests/conftest.py)
    settings.SETTLEMENT_WINDOW_DAYS = 365
    before = everything()
    message = hospital.fails(infno, settle_data(member, mdtrt_id))
    assert WINDOW.words in message, message
    assert everything() == before
    settings.SETTLEMENT_WINDOW_DAYS = (timezone.localdate() - timezone.datetime(2023, 2, 1).date()).days
    assert hospital.ok(infno, settle_data(member, mdtrt_id))["setlinfo"]  # at the window's edge it settles


# --- the national interface: pharmacies (2101, 2102), pooling and account-only ------------------


@pytest.fixture
def prescriber(db):
    return ProviderFactory(kind="institution", level="level_2")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("circulated", [True, False], ids=["pooling", "account_only"])
@pytest.mark.parametrize("infno", ["2101", "2102"])
def test_the_pharmacy_preview_and_settlement_refuse_beyond_the_bounds(member, pharmacy, prescriber, settings, case, circulated, infno):
    settings.SETTLEMENT_WINDOW_DAYS = case.window
    rows = [dict(row, rx_circ_flag="1" if circulated else "0") for row in fee_lines(case, pharmacy=True)]
    info = {"psn_no": str(member.pk), "mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number,
            "begntime": f"{VISIT_DAY} 10:00:00", "medfee_sumamt": total(case), "invono": "", "insutype": "310",
            "dise_codg": "", "dise_name": "", "acct_used_flag": "1", "med_type": "41",
            "exp_content": {"prsc_fixmedins_code": prescriber.code} if circulated else ""}
    before = everything()
    message = pharmacy.fails(infno, {"druginfo": info, "drugdetail": rows})
    assert case.words in message, message
    assert everything() == before
