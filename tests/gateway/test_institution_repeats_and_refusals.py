"""Repeats, cancellations, reversals and every refusal of the institution transactions."""

import json
from decimal import Decimal

import pytest

from claims.models import Claim
from core.models import AuditEvent
from gateway.models import FeeLine, Message, SignIn, Visit
from gateway.services import _SIGNED_IN
from members.models import PersonalAccount
from tests.claims.conftest import make_member

from .conftest import his_for, line
from .test_institution import LINES, TOTAL, open_visit, settle_data, written


@pytest.fixture
def member(zaozhuang):
    return make_member(balance="200.00")


@pytest.fixture
def visit_id(member, hospital):
    return open_visit(hospital, member)


def balance(member):
    return PersonalAccount.objects.get(member=member).balance


def test_the_same_msgid_twice_answers_the_first_answer_and_pays_once(member, hospital, visit_id):
    envelope = hospital.envelope("2207", settle_data(member, visit_id))
    first = hospital.answer(envelope)
    after_first = written()
    second = hospital.answer(envelope)
    assert second["output"] == first["output"] and second["infcode"] == 0
    assert written() == after_first
    assert Message.objects.filter(msgid=envelope["msgid"]).count() == 1


def test_a_repeated_failure_answers_the_same_failure(member, hospital, visit_id):
    envelope = hospital.envelope("2207", settle_data(member, visit_id, total="1.00"))
    first = hospital.answer(envelope)
    assert first["infcode"] == -1
    assert hospital.answer(envelope)["err_msg"] == first["err_msg"]


def test_a_2207_for_a_visit_already_settled_pays_nothing_more(member, hospital, visit_id):
    first = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    paid = balance(member)
    before = written()
    again = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    assert again == first
    assert written() == before and balance(member) == paid


def test_medfee_sumamt_other_than_the_uploaded_lines_is_refused_and_nothing_is_written(member, hospital, visit_id):
    before = written()
    message = hospital.fails("2207", settle_data(member, visit_id, total="454.99"))
    assert "454.99" in message and TOTAL in message
    assert written() == before


@pytest.mark.parametrize("field", ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"])
def test_a_subtotal_that_disagrees_with_the_uploaded_lines_is_refused_and_nothing_is_written(member, hospital, visit_id, field):
    preview = hospital.ok("2206", settle_data(member, visit_id))["setlinfo"]
    sent = {name: preview[name] for name in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")}
    sent[field] = preview[field] + Decimal("0.01")
    before = written()
    audits = AuditEvent.objects.filter(action="claim.settle").count()
    message = hospital.fails("2207", settle_data(member, visit_id, **sent))
    assert field in message
    assert written() == before
    assert AuditEvent.objects.filter(action="claim.settle").count() == audits


def test_cancel_2208_negates_every_amount_refunds_and_a_second_cancel_answers_alike(member, hospital, visit_id):
    settled = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    assert balance(member) < Decimal("200.00")
    data = {"data": {"setl_id": settled["setl_id"], "mdtrt_id": visit_id, "psn_no": str(member.pk)}}
    cancelled = hospital.ok("2208", data)
    info = cancelled["setlinfo"]
    for field in ("medfee_sumamt", "hifp_pay", "fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay", "inscp_scp_amt"):
        assert info[field] == -settled[field], field
    assert info["setl_id"] == f"C{settled['setl_id']}"
    assert info["balc"] == Decimal("200.00") == balance(member)
    assert Claim.objects.get(pk=int(settled["setl_id"])).status == Claim.Status.REVERSED
    before = written()
    assert hospital.ok("2208", data)["setlinfo"]["medfee_sumamt"] == -settled["medfee_sumamt"]
    assert written() == before
    # The lines stay uploaded: the visit settles again, as a new settlement.
    again = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    assert again["setl_id"] != settled["setl_id"] and again["medfee_sumamt"] == settled["medfee_sumamt"]


def test_2601_reverses_a_settlement_by_its_msgid_and_then_undoes_the_cancellation_by_its_msgid(member, hospital, visit_id):
    settled = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    settle_msgid = hospital.last_msgid
    hospital.ok("2601", {"data": {"psn_no": str(member.pk), "omsgid": settle_msgid, "oinfno": "2207"}})
    assert Claim.objects.get(pk=int(settled["setl_id"])).status == Claim.Status.REVERSED
    assert balance(member) == Decimal("200.00")
    reversal_msgid = hospital.last_msgid
    # Reversing the same message again is acknowledged and changes nothing.
    before = written()
    hospital.ok("2601", {"data": {"psn_no": str(member.pk), "omsgid": settle_msgid, "oinfno": "2207"}})
    assert written() == before
    # A message that never arrived had no effect: acknowledged.
    hospital.ok("2601", {"data": {"psn_no": str(member.pk), "omsgid": "NEVER-SENT", "oinfno": "2207"}})
    assert written() == before
    # A second settlement, cancelled by 2208, and the cancellation undone by 2601.
    second = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    hospital.ok("2208", {"data": {"setl_id": second["setl_id"], "mdtrt_id": visit_id, "psn_no": str(member.pk)}})
    cancel_msgid = hospital.last_msgid
    hospital.ok("2601", {"data": {"psn_no": str(member.pk), "omsgid": cancel_msgid, "oinfno": "2208"}})
    visit = Visit.objects.get(pk=int(visit_id))
    assert visit.claim is not None and visit.claim.status == Claim.Status.SETTLED
    assert visit.claim.total == Decimal(TOTAL)
    assert balance(member) == Decimal("200.00") - visit.claim.account
    assert reversal_msgid != cancel_msgid


def test_2601_with_the_wrong_original_transaction_is_refused(member, hospital, visit_id):
    hospital.ok("2207", settle_data(member, visit_id))
    msgid = hospital.last_msgid
    before = written()
    assert "2207" in hospital.fails("2601", {"data": {"psn_no": str(member.pk), "omsgid": msgid, "oinfno": "2208"}})
    assert "2601" in hospital.fails("2601", {"data": {"psn_no": str(member.pk), "omsgid": msgid, "oinfno": "2204"}})
    assert written() == before


def test_a_settled_visit_keeps_its_registration_and_lines_until_the_settlement_is_cancelled(member, hospital, visit_id):
    settled = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    before = written()
    assert "2208" in hospital.fails("2202", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "ipt_otp_no": "MZ0001"}})
    assert "2208" in hospital.fails("2205", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "chrg_bchno": "0000"}})
    assert "2208" in hospital.fails("2204", {"feedetail": [dict(line("9", "A-DRUG", "1", "10.00"), mdtrt_id=visit_id, psn_no=str(member.pk))]})
    assert written() == before
    hospital.ok("2208", {"data": {"setl_id": settled["setl_id"], "mdtrt_id": visit_id, "psn_no": str(member.pk)}})
    hospital.ok("2205", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "chrg_bchno": "0000"}})
    assert not FeeLine.objects.filter(status="uploaded").exists()
    hospital.ok("2202", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "ipt_otp_no": "MZ0001"}})
    assert Visit.objects.get(pk=int(visit_id)).status == Visit.Status.CANCELLED
    assert "2202" in hospital.fails("2207", settle_data(member, visit_id))


def test_2205_cancels_one_batch_and_the_total_must_then_match_the_remaining_lines(member, hospital, zaozhuang):
    lines = [line("1", "A-DRUG", "30", "10.00", chrg_bchno="B1"), line("2", "C-DRUG", "1", "30.00", chrg_bchno="B2")]
    visit_id = open_visit(hospital, member, lines=lines)
    hospital.ok("2205", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "chrg_bchno": "B2"}})
    assert "B9" in hospital.fails("2205", {"data": {"psn_no": str(member.pk), "mdtrt_id": visit_id, "chrg_bchno": "B9"}})
    assert "330.00" in hospital.fails("2207", settle_data(member, visit_id, total="330.00"))
    assert hospital.ok("2207", settle_data(member, visit_id, total="300.00"))["setlinfo"]["medfee_sumamt"] == Decimal("300.00")


def test_2204_answers_each_line_as_the_settlement_splits_it(member, hospital, zaozhuang):
    psn = str(member.pk)
    visit_id = open_visit(hospital, member, lines=[line("1", "A-DRUG", "1", "10.00")])
    rows = [dict(line("2", "B-DRUG", "2", "50.00"), mdtrt_id=visit_id, psn_no=psn),
            dict(line("3", "A-SVC", "1", "25.00"), mdtrt_id=visit_id, psn_no=psn),
            dict(line("4", "C-DRUG", "1", "30.00"), mdtrt_id=visit_id, psn_no=psn)]
    result = {row["feedetl_sn"]: row for row in hospital.ok("2204", {"feedetail": rows})["result"]}
    assert set(result) == {"2", "3", "4"}
    b, svc, c = result["2"], result["3"], result["4"]
    assert (b["chrgitm_lv"], b["selfpay_prop"], b["preselfpay_amt"], b["inscp_scp_amt"]) == ("02", Decimal("0.1000"), Decimal("10.00"), Decimal("90.00"))
    # A-SVC: class A with a payment standard of 20.00, priced 25.00: 5.00 over the limit.
    assert (svc["pric_uplmt_amt"], svc["overlmt_amt"], svc["inscp_scp_amt"]) == (Decimal("20.00"), Decimal("5.00"), Decimal("20.00"))
    assert (c["chrgitm_lv"], c["fulamt_ownpay_amt"], c["inscp_scp_amt"]) == ("03", Decimal("30.00"), Decimal("0.00"))


@pytest.mark.parametrize("bad, words", [
    ({"med_list_codg": "NO-SUCH"}, ["7", "NO-SUCH"]),
    ({"det_item_fee_sumamt": "99.99"}, ["7", "99.99"]),
    ({"cnt": "0"}, ["7"]),
    ({"pric": "1.001", "det_item_fee_sumamt": "1.00", "cnt": "1"}, ["pric"]),
    ({"cnt": "abc"}, ["cnt"]),
])
def test_a_bad_fee_line_is_refused_by_its_number_and_no_line_is_written(member, hospital, visit_id, bad, words):
    before = FeeLine.objects.count()
    rows = [dict(line("6", "A-DRUG", "1", "10.00"), mdtrt_id=visit_id, psn_no=str(member.pk)),
            dict(line("7", "A-DRUG", "1", "10.00"), mdtrt_id=visit_id, psn_no=str(member.pk), **bad)]
    message = hospital.fails("2204", {"feedetail": rows})
    for word in words:
        assert word in message
    assert FeeLine.objects.count() == before


def test_a_fee_line_number_uploaded_twice_is_refused(member, hospital, visit_id):
    rows = [dict(LINES[0], mdtrt_id=visit_id, psn_no=str(member.pk))]
    assert "1" in hospital.fails("2204", {"feedetail": rows})


def test_without_todays_sign_in_no_2xxx_is_served(member, hospital, visit_id):
    before = written()
    assert "9001" in hospital.fails("2207", settle_data(member, visit_id), sign_no=None)
    assert "9001" in hospital.fails("2207", settle_data(member, visit_id), sign_no="20230101000000abcdef")
    SignIn.objects.update(day="2023-01-01")
    _SIGNED_IN.clear()  # the process's cache of sign-ins seen valid (a sign-in never changes in use)
    assert "9001" in hospital.fails("2207", settle_data(member, visit_id))
    assert written() == before


def test_another_providers_sign_in_or_visit_is_not_accepted(member, hospital, visit_id, zaozhuang):
    from tests.factories import ProviderFactory

    other = his_for(ProviderFactory(kind="institution", level="level_1"))
    other.sign_in()
    assert visit_id in other.fails("2207", settle_data(member, visit_id))
    assert "9001" in other.fails("2207", settle_data(member, visit_id), sign_no=hospital.sign_no)


def test_authentication_is_http_401_and_the_provider_must_be_the_tokens(member, hospital):
    envelope = hospital.envelope("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number}})
    assert hospital.raw(dict(envelope, fixmedins_code="H99999999999")).status_code == 401
    hospital.client.credentials(HTTP_AUTHORIZATION="Token nonsense")
    response = hospital.raw(envelope)
    assert response.status_code == 401 and set(response.json()) == {"code", "message", "details"}
    assert not Message.objects.filter(msgid=envelope["msgid"]).exists()


@pytest.mark.parametrize("data, words", [
    ({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": "X"}}, ["02"]),
    ({"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "X"}}, ["02"]),
    ({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "110101199003076515"}}, ["身份证"]),
    ({}, ["data"]),
])
def test_1101_refusals_tell_the_cashier_what_to_do(zaozhuang, hospital, data, words):
    message = hospital.fails("1101", data)
    for word in words:
        assert word in message


def test_registration_refusals(member, hospital, zaozhuang):
    data = {"psn_no": str(member.pk), "insutype": "310", "begntime": "2023-02-01 09:00:00", "mdtrt_cert_type": "02",
            "mdtrt_cert_no": member.id_number}
    assert "310" in hospital.fails("2201", {"data": dict(data, insutype="390")})
    assert "999999" in hospital.fails("2201", {"data": dict(data, psn_no="999999")})
    assert "begntime" in hospital.fails("2201", {"data": dict(data, begntime="yesterday")})
    assert "insuplc_admdvs" in hospital.fails("2201", {"data": data}, insuplc_admdvs=None)
    assert "370400" in hospital.fails("2201", {"data": data}, insuplc_admdvs="510100")
    assert "psn_no" in hospital.fails("2201", {"data": dict(data, mdtrt_cert_no="110101199003076515")})
    assert not Visit.objects.exists()
    # ISO 8601 times are read too (some clients' serializers).
    assert hospital.ok("2201", {"data": dict(data, begntime="2023-02-01T09:00:00")})["data"]["mdtrt_id"]


def test_2203_refuses_a_medical_type_an_institution_does_not_settle(member, hospital, visit_id):
    message = hospital.fails("2203", {"mdtrtinfo": {"mdtrt_id": visit_id, "psn_no": str(member.pk), "med_type": "41"}})
    assert "41" in message
    # 2203A is served as 2203.
    hospital.ok("2203A", {"mdtrtinfo": {"mdtrt_id": visit_id, "psn_no": str(member.pk), "med_type": "13"}})
    assert Visit.objects.get(pk=int(visit_id)).med_type == "13"


def test_settlement_by_quota_and_unknown_transactions_are_refused(member, hospital, visit_id):
    assert "01" in hospital.fails("2207", {"data": dict(settle_data(member, visit_id)["data"], psn_setlway="02")})
    assert "9999" in hospital.fails("9999", {})


def test_a_body_that_is_not_an_envelope_is_answered_with_infcode_minus_one(hospital):
    nul = json.dumps(hospital.envelope("9001", {"signIn": {"opter_no": "\u0000"}})).encode()
    lone = json.dumps(hospital.envelope("9001", {"signIn": {"opter_no": "\ud800"}})).encode()
    for body in (b"{not json", b"[1, 2]", b'{"infno": "1101"}', nul, lone):
        response = hospital.client.post("/api/nhsa/", data=body, content_type="application/json")
        assert response.status_code == 200
        assert response.json()["infcode"] == -1 and response.json()["err_msg"]


def test_every_message_is_logged_with_id_numbers_masked(member, hospital, visit_id):
    hospital.ok("2207", settle_data(member, visit_id))
    message = Message.objects.get(msgid=hospital.last_msgid)
    assert (message.infno, message.infcode, message.opter_name, message.provider) == ("2207", "0", "收费员甲", hospital.provider)
    assert message.claim is not None and message.user.provider_staff.provider == hospital.provider
    assert member.id_number not in str(message.request) and member.id_number not in message.output
    assert member.masked_id_number in message.output
    hospital.fails("2207", settle_data(member, visit_id), msgid="FAILED-MSG-1", sign_no=None)
    failed = Message.objects.get(msgid="FAILED-MSG-1")
    assert failed.infcode == "-1" and failed.err_msg
    # A repeat answers with the ID number itself, as the first answer did.
    envelope = hospital.envelope("2207", settle_data(member, visit_id), msgid=message.msgid)
    assert hospital.answer(envelope)["output"]["setlinfo"]["certno"] == member.id_number


def test_case_workers_read_the_message_log_with_id_numbers_masked(member, hospital, visit_id, client):
    from tests.factories import UserFactory

    hospital.ok("2207", settle_data(member, visit_id))
    message = Message.objects.get(msgid=hospital.last_msgid)
    client.force_login(UserFactory(roles=["经办"], is_staff=True))
    listing = client.get("/admin/gateway/message/")
    assert listing.status_code == 200 and message.msgid in listing.content.decode()
    page = client.get(f"/admin/gateway/message/{message.pk}/change/").content.decode()
    assert message.msgid in page and member.id_number not in page


def _refusal_logged_alone(hospital, member, before, audits, err_msg):
    """The refused message's log entry is written (with its answer) and nothing else is."""
    assert written() == before
    assert AuditEvent.objects.count() == audits
    message = Message.objects.get(provider=hospital.provider, msgid=hospital.last_msgid)
    assert (message.infno, message.infcode, message.err_msg, message.output) == ("2207", "-1", err_msg, "{}")
    assert message.claim_id is None and message.visit_id is None and message.effect == ""
    assert message.member_id == member.pk


def test_a_2207_refused_after_the_settlement_ran_is_logged_with_its_answer_and_writes_nothing_else(member, hospital, visit_id):
    # The subtotals are compared with the settlement once it is computed and written: the
    # refusal rolls back the settlement (claim, lines, ledger, year, audit) and keeps the log.
    preview = hospital.ok("2206", settle_data(member, visit_id))["setlinfo"]
    before, audits = written(), AuditEvent.objects.count()
    err_msg = hospital.fails("2207", settle_data(member, visit_id, inscp_scp_amt=preview["inscp_scp_amt"] + Decimal("1.00")))
    assert "inscp_scp_amt" in err_msg
    _refusal_logged_alone(hospital, member, before, audits, err_msg)
    # The visit settles afterwards as if the refused message had never come.
    settled = hospital.ok("2207", settle_data(member, visit_id))["setlinfo"]
    assert settled["medfee_sumamt"] == Decimal(TOTAL) and Visit.objects.get(pk=int(visit_id)).settlements == 1


def test_a_2207_refused_by_the_settlement_service_is_logged_with_its_answer_and_writes_nothing_else(member, hospital, visit_id):
    # The member's enrollment now begins after the visit date: claim_settle refuses (not_enrolled).
    member.enrollments.update(effective_from="2023-03-01")
    before, audits = written(), AuditEvent.objects.count()
    err_msg = hospital.fails("2207", settle_data(member, visit_id))
    assert err_msg == "参保人员在就诊日期不在参保状态。"
    _refusal_logged_alone(hospital, member, before, audits, err_msg)


def test_a_2207_whose_settlement_reference_a_rest_request_took_answers_as_the_rest_api_would(member, hospital, visit_id):
    # A provider's REST request that took the gateway's reference for this visit (NHSA-<visit>-1):
    # the 2207 answers as a repeat of that reference does in the REST API (here a conflict,
    # the requests differing) and writes nothing but its log entry.
    rest = hospital.client.post("/api/v1/settlements", data={
        "member_id_number": member.id_number, "visit_date": "2023-02-01", "external_ref": f"NHSA-{visit_id}-1",
        "use_account": True, "items": [{"code": "A-DRUG", "quantity": "1", "unit_price": "10.00"}]}, format="json")
    assert rest.status_code == 201, rest.content
    before, audits = written(), AuditEvent.objects.count()
    err_msg = hospital.fails("2207", settle_data(member, visit_id))
    assert err_msg == "该交易流水号已按不同的请求内容结算过。"
    _refusal_logged_alone(hospital, member, before, audits, err_msg)
