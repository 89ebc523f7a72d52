"""The institution sequence through the national interface (interfaces/nhsa.md): 9001 → 1101 →
2201 → 2203 → 2204 → 2206 → 2207 (→ 2208 or 2601), compared field by field with the REST
settlement of the same visit."""

from decimal import Decimal

from claims.models import Claim, ClaimLine, MemberYear
from gateway.models import FeeLine, Visit
from members.models import LedgerEntry, PersonalAccount
from tests.claims.conftest import make_member

from .conftest import line

LINES = [line("1", "A-DRUG", "30", "10.00"), line("2", "B-DRUG", "2", "50.00"), line("3", "C-DRUG", "1", "30.00"),
         line("4", "A-SVC", "1", "25.00")]
REST_ITEMS = [{"code": "A-DRUG", "quantity": "30", "unit_price": "10.00"}, {"code": "B-DRUG", "quantity": "2", "unit_price": "50.00"},
              {"code": "C-DRUG", "quantity": "1", "unit_price": "30.00"}, {"code": "A-SVC", "quantity": "1", "unit_price": "25.00"}]
TOTAL = "455.00"


def person(his, member) -> dict:
    return his.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number, "card_sn": "", "begntime": "",
                                    "psn_cert_type": "01", "certno": member.id_number, "psn_name": member.name}})


def open_visit(his, member, lines=LINES, med_type="11") -> str:
    psn_no = person(his, member)["baseinfo"]["psn_no"]
    mdtrt_id = his.ok("2201", {"data": {
        "psn_no": psn_no, "insutype": "310", "begntime": "2023-02-01 09:00:00", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": member.id_number, "ipt_otp_no": "MZ0001", "atddr_no": "D001", "dr_name": "王医生",
        "dept_code": "A01", "dept_name": "内科", "caty": "A03"}})["data"]["mdtrt_id"]
    his.ok("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": med_type, "begntime": "2023-02-01 09:00:00",
                                  "main_cond_dscr": "", "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"},
                    "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900", "diag_name": "急性上呼吸道感染",
                                  "diag_dept": "内科", "dise_dor_no": "D001", "dise_dor_name": "王医生",
                                  "diag_time": "2023-02-01 09:05:00", "vali_flag": "1"}]})
    rows = [dict(row, mdtrt_id=mdtrt_id, psn_no=psn_no) for row in lines]
    his.ok("2204", {"feedetail": rows})
    return mdtrt_id


def settle_data(member, mdtrt_id, *, total=TOTAL, acct="1", **amounts) -> dict:
    return {"data": {"psn_no": str(member.pk), "mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number, "med_type": "11",
                     "medfee_sumamt": total, "psn_setlway": "01", "mdtrt_id": mdtrt_id, "chrg_bchno": "B1",
                     "acct_used_flag": acct, "insutype": "310", "invono": "INV-1", **amounts}}


def written():
    return (Claim.objects.count(), ClaimLine.objects.count(), LedgerEntry.objects.count(), MemberYear.objects.count(),
            tuple(PersonalAccount.objects.order_by("pk").values_list("balance", flat=True)),
            tuple(Visit.objects.order_by("pk").values_list("claim_id", "settlements", "status")),
            tuple(FeeLine.objects.order_by("pk").values_list("status", flat=True)))


def expected_setlinfo(rest: dict) -> dict:
    """nhsa.md's mapping applied to a REST settlement body."""
    d = Decimal
    fund, subsidy = d(rest["fund"]), d(rest["large_expense_subsidy"])
    return {
        "medfee_sumamt": d(rest["total"]), "fulamt_ownpay_amt": d(rest["fully_self_paid"]), "overlmt_selfpay": d(rest["over_limit"]),
        "preselfpay_amt": d(rest["class_b_prepay"]) + d(rest["temporary_visit_prepay"]), "inscp_scp_amt": d(rest["policy_scope"]),
        "act_pay_dedc": d(rest["deductible"]), "hifp_pay": fund, "pool_prop_selfpay": d(rest["ratio"]) / 100,
        "cvlserv_pay": 0, "hifob_pay": subsidy, "hifes_pay": 0, "hifmi_pay": 0, "maf_pay": 0, "oth_pay": 0,
        "fund_pay_sumamt": fund + subsidy, "psn_part_amt": d(rest["personal_burden"]),
        "acct_pay": d(rest["account"]) + d(rest["family_account"]), "acct_mulaid_pay": d(rest["family_account"]),
        "psn_cash_pay": d(rest["cash"]), "hosp_part_amt": 0, "balc": d(rest["balance_after"]),
    }


def assert_identities(info: dict):
    # nhsa.md: fund_pay_sumamt is the sum of the fund fields; psn_part_amt = medfee − funds − hospital;
    # psn_cash_pay = psn_part_amt − acct_pay.
    funds = sum(info[f] for f in ("hifp_pay", "cvlserv_pay", "hifob_pay", "hifes_pay", "hifmi_pay", "maf_pay", "oth_pay"))
    assert info["fund_pay_sumamt"] == funds
    assert info["psn_part_amt"] == info["medfee_sumamt"] - info["fund_pay_sumamt"] - info["hosp_part_amt"]
    assert info["psn_cash_pay"] == info["psn_part_amt"] - info["acct_pay"]


def test_the_institution_sequence_settles_as_the_rest_api_does_field_by_field(zaozhuang, hospital, provider_client):
    member = make_member(balance="200.00")
    twin = make_member(balance="200.00")
    baseinfo = person(hospital, member)
    assert baseinfo["baseinfo"]["psn_no"] == str(member.pk)
    assert baseinfo["baseinfo"]["certno"] == member.id_number
    assert baseinfo["insuinfo"][0]["balc"] == Decimal("200.00")
    assert baseinfo["insuinfo"][0]["psn_type"] == "1101"

    mdtrt_id = open_visit(hospital, member)
    preview = hospital.ok("2206", settle_data(member, mdtrt_id))["setlinfo"]
    assert preview["setl_id"] == "" and Claim.objects.count() == 0
    info = hospital.ok("2207", settle_data(member, mdtrt_id, fulamt_ownpay_amt=preview["fulamt_ownpay_amt"],
                                           overlmt_selfpay=preview["overlmt_selfpay"], preselfpay_amt=preview["preselfpay_amt"],
                                           inscp_scp_amt=preview["inscp_scp_amt"]))["setlinfo"]

    rest = provider_client(hospital.provider).post("/api/v1/settlements", {
        "member_id_number": twin.id_number, "visit_date": "2023-02-01", "external_ref": "REST-1", "use_account": True,
        "items": REST_ITEMS}, format="json").json()
    expected = expected_setlinfo(rest)
    for field, value in expected.items():
        assert info[field] == value, field
        assert preview[field] == value, field
    assert_identities(info)
    claim = Claim.objects.get(pk=int(info["setl_id"]))
    assert (claim.member, claim.total, claim.fund) == (member, Decimal(TOTAL), Decimal(rest["fund"]))
    assert info["mdtrt_id"] == mdtrt_id and info["psn_no"] == str(member.pk) and info["certno"] == member.id_number
    assert info["medins_setl_id"] == hospital.last_msgid
    assert (info["clr_type"], info["clr_optins"], info["insutype"], info["med_type"]) == ("11", "370400", "310", "11")
    # setl_proc_info is the settlement's own explanation, step by step.
    detail = hospital.ok("2207", settle_data(member, mdtrt_id))["setldetail"]
    assert detail[0]["fund_pay_type"] == "310100" and detail[0]["fund_payamt"] == Decimal(rest["fund"])
    assert detail[0]["setl_proc_info"] == "\n".join(
        f"{step['text']}（{step['article']}）" if step["article"] else step["text"] for step in claim.response["explanation"])
    assert "起付" in detail[0]["setl_proc_info"]
    # The amounts were really paid: the ledger and the year moved once.
    assert PersonalAccount.objects.get(member=member).balance == Decimal(rest["balance_after"])


def test_amounts_are_json_numbers_with_two_decimals_and_ratios_with_four(zaozhuang, hospital):
    member = make_member(balance="200.00")
    mdtrt_id = open_visit(hospital, member)
    raw = hospital.raw(hospital.envelope("2207", settle_data(member, mdtrt_id))).content.decode()
    assert '"medfee_sumamt":455.00' in raw
    assert '"pool_prop_selfpay":0.' in raw and '"infcode":0' in raw


def test_a_2207_takes_the_rest_settlement_statements_plus_two(zaozhuang, hospital, django_assert_num_queries):
    """Pinned as the REST settlement is (tests/claims/test_settlement_api.py: its 13 statements
    and the test transaction's SAVEPOINT/RELEASE, 15): a 2207 adds the visit with its lines
    (one locked statement) and the visit's update with the log's insert (one statement on
    PostgreSQL, two elsewhere); the settlement opens no savepoint of its own."""
    from django.db import connection

    member = make_member(balance="1000.00")
    # A first settlement makes the member's benefit year (as the REST pin's warm-up does).
    hospital.ok("2207", settle_data(member, open_visit(hospital, member)))
    envelope = hospital.envelope("2207", settle_data(member, open_visit(hospital, member)))
    with django_assert_num_queries(17 if connection.vendor == "postgresql" else 18):
        answer = hospital.answer(envelope)
    assert answer["infcode"] == 0 and answer["output"]["setlinfo"]["medfee_sumamt"] == Decimal(TOTAL)
