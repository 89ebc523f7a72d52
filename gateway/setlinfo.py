"""Gongji's settlement in the national interface's terms (interfaces/nhsa.md, `setlinfo`,
`setldetail`, the 2204 result line): a mapping of the REST settlement body, nothing computed
that the REST settlement does not compute."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings

from .wire import FEN, RATIO

ZERO = Decimal("0.00")

# The region's six-digit division code is configuration (nhsa.md, Codes). Reading: the Henan
# city is not named in the sources, so its default is the province's code until configured.
DIVISION_CODES = {"zaozhuang": "370400", "ziyang": "512000", "henan": "410000", "yangzhou": "321000", "jinan": "370100"}

INSUTYPE_EMPLOYEE = "310"
CLR_TYPE_OUTPATIENT, CLR_TYPE_PHARMACY = "11", "41"
# Reading: the clearing method (clr_way) the sources name without values; "1" (按项目) here.
CLR_WAY = "1"

# The national 医疗收费项目类别 for a catalog kind (reading: drugs 09 西药费, services 05 治疗费,
# consumables 08 卫生材料费).
CHARGE_TYPE = {"drug": "09", "service": "05", "consumable": "08"}
CHARGE_LEVEL = {"A": "01", "B": "02", "C": "03"}

GENDER = {"M": "1", "F": "2"}
PSN_TYPE = {
    ("in_service", "employee"): "1101",
    ("in_service", "flexible_employment"): "1103",
    ("retired", "employee"): "1201",
    ("retired", "flexible_employment"): "1203",
}
INSU_STATUS = {"active": "1", "suspended": "2", "terminated": "4", "deceased": "4"}


def division_code() -> str:
    return getattr(settings, "NHSA_DIVISION_CODE", "") or DIVISION_CODES[settings.REGION]


def psn_type(enrollment) -> str:
    if enrollment is None:
        return ""
    return PSN_TYPE.get((enrollment.employment_status, enrollment.category), "1101")


def identities(*, member, psn_type: str, cvlserv_flag: str, on: date) -> dict:
    return {
        "psn_no": str(member.pk),
        "psn_name": member.name,
        "psn_cert_type": "01",
        "certno": member.id_number,
        "gend": GENDER.get(member.sex, "9"),
        "naty": "",
        "brdy": member.birth_date.isoformat(),
        "age": member.age_on(on),
        "insutype": INSUTYPE_EMPLOYEE,
        "psn_type": psn_type,
        "cvlserv_flag": cvlserv_flag,
    }


def _d(value) -> Decimal:
    return Decimal(value).quantize(FEN) if value is not None else ZERO


def amounts(body: dict) -> dict:
    """The setlinfo amounts of a REST settlement body (nhsa.md's mapping table)."""
    fund = _d(body["fund"])
    subsidy = _d(body.get("large_expense_subsidy"))
    account, family = _d(body["account"]), _d(body["family_account"])
    cvlserv = hifes = hifmi = maf = oth = ZERO
    return {
        "medfee_sumamt": _d(body["total"]),
        "fulamt_ownpay_amt": _d(body["fully_self_paid"]),
        "overlmt_selfpay": _d(body["over_limit"]),
        # Reading: a temporary visit's prepay is a prepay too (先行自付).
        "preselfpay_amt": _d(body["class_b_prepay"]) + _d(body.get("temporary_visit_prepay")),
        "inscp_scp_amt": _d(body["policy_scope"]),
        "act_pay_dedc": _d(body["deductible"]),
        "hifp_pay": fund,
        "pool_prop_selfpay": (Decimal(body["ratio"] or 0) / 100).quantize(RATIO),
        "cvlserv_pay": cvlserv,
        "hifob_pay": subsidy,
        "hifes_pay": hifes,
        "hifmi_pay": hifmi,
        "maf_pay": maf,
        "oth_pay": oth,
        "fund_pay_sumamt": fund + cvlserv + subsidy + hifes + hifmi + maf + oth,
        "psn_part_amt": _d(body["personal_burden"]),
        # Reading: acct_pay is the member's own and a relative's account together.
        "acct_pay": account + family,
        "acct_mulaid_pay": family,
        "psn_cash_pay": _d(body["cash"]),
        "hosp_part_amt": ZERO,
        "balc": _d(body["balance_after"]) if body.get("balance_after") is not None else None,
    }


NEGATED = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc",
    "hifp_pay", "cvlserv_pay", "hifob_pay", "hifes_pay", "hifmi_pay", "maf_pay", "oth_pay", "fund_pay_sumamt",
    "psn_part_amt", "acct_pay", "acct_mulaid_pay", "psn_cash_pay", "hosp_part_amt",
)


def setlinfo(*, body: dict, person: dict, mdtrt_id: str, setl_id: str, setl_time: str, mdtrt_cert_type: str,
             med_type: str, medins_setl_id: str, clr_type: str) -> dict:
    return {
        "mdtrt_id": mdtrt_id,
        "setl_id": setl_id,
        **person,
        "setl_time": setl_time,
        "mdtrt_cert_type": mdtrt_cert_type,
        "med_type": med_type,
        **amounts(body),
        "medins_setl_id": medins_setl_id,
        "clr_optins": division_code(),
        "clr_way": CLR_WAY,
        "clr_type": clr_type,
    }


def negated(info: dict, *, setl_id: str, setl_time: str, balc) -> dict:
    """A cancellation answers with every amount of the cancelled settlement negated, `balc`
    the balance after the refund, and its own setl_id (nhsa.md, reading)."""
    out = dict(info)
    for field in NEGATED:
        out[field] = ZERO - out[field]
    out.update(setl_id=setl_id, setl_time=setl_time, balc=balc)
    return out


def process_text(body: dict) -> str:
    """setl_proc_info: the settlement's own explanation (claims.explanation), one line a step."""
    steps = body.get("explanation") or []
    return "\n".join(f"{step['text']}（{step['article']}）" if step.get("article") else step["text"] for step in steps)[:2000]


def setldetail(body: dict) -> list[dict]:
    """One row per fund that paid (310100 pooled fund, 330100 large-amount subsidy)."""
    rows = []
    info = process_text(body)
    year = body.get("year") or {}
    fund = _d(body["fund"])
    if fund > 0:
        rows.append({
            "fund_pay_type": "310100",
            "fund_pay_type_name": "职工基本医疗保险统筹基金",
            "inscp_scp_amt": _d(body["policy_scope"]),
            "crt_payb_lmt_amt": _d(year["cap_remaining"]) if year.get("cap_remaining") is not None else None,
            "fund_payamt": fund,
            "setl_proc_info": info,
        })
    subsidy = _d(body.get("large_expense_subsidy"))
    if subsidy > 0:
        rows.append({
            "fund_pay_type": "330100",
            "fund_pay_type_name": "职工大额医疗费用补助",
            "inscp_scp_amt": _d(body["policy_scope"]),
            "crt_payb_lmt_amt": None,
            "fund_payamt": subsidy,
            "setl_proc_info": info,
        })
    return rows


def negated_detail(rows: list[dict]) -> list[dict]:
    return [{**row, "inscp_scp_amt": ZERO - row["inscp_scp_amt"], "fund_payamt": ZERO - row["fund_payamt"]} for row in rows]


def result_line(*, sn: str, line: dict, item) -> dict:
    """A 2204 result line (and a 2101/2102 detlcutinfo row): the line as settlement splits it."""
    prepay = item.prepay_percent if item.item_class == "B" and item.prepay_percent is not None else Decimal(0)
    return {
        "feedetl_sn": sn,
        "det_item_fee_sumamt": _d(line["amount"]),
        "cnt": Decimal(line["quantity"]),
        "pric": _d(line["unit_price"]),
        "pric_uplmt_amt": _d(item.payment_standard) if item.payment_standard is not None else None,
        "selfpay_prop": (Decimal(prepay) / 100).quantize(RATIO),
        "fulamt_ownpay_amt": _d(line["fully_self_paid"]),
        "overlmt_amt": _d(line["over_limit"]),
        "preselfpay_amt": _d(line["class_b_prepay"]),
        "inscp_scp_amt": _d(line["policy_scope"]),
        "chrgitm_lv": CHARGE_LEVEL.get(item.item_class, ""),
        "med_chrgitm_type": CHARGE_TYPE.get(item.kind, "14"),
        "memo": "",
    }
