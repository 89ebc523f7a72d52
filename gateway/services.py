"""The gateway's transactions (interfaces/nhsa.md): each a thin adapter onto the services the
REST API uses (claims.services: claim_preview, claim_settle, claim_reverse, member_benefits;
claims.statements.services.reconciliation_submit). No second calculator, no second ledger
path: the gateway keeps only what the national message flow needs before a settlement (the
visit and its uploaded lines) and the log of every message.

`message_receive` is not durable: the view that calls it holds the transaction, so a message,
its effect and its log entry commit together or not at all.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from claims import services as claims
from claims.models import CatalogItem, Claim
from claims.statements.services import reconciliation_submit
from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.idnumber import normalize_id_number
from core.money import to_fen
from core.sql import insert, update_and_insert
from members.models import Member
from pharmacies.models import Provider

from . import queries
from . import setlinfo as mapping
from .models import FeeLine, Message, SignIn, Visit
from .wire import GatewayError, amount, day, dumps, fmt_time, loads, masked, moment, node, text, unmask_certno

SIGN_IN, PERSON = "9001", "1101"
REGISTER, UNREGISTER, VISIT_INFO, FEES, FEES_CANCEL, PREVIEW, SETTLE, CANCEL = (
    "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208")
PHARMACY_PREVIEW, PHARMACY_SETTLE, PHARMACY_CANCEL = "2101", "2102", "2103"
REVERSAL, RECONCILE, REGISTRATIONS = "2601", "3201", "5301"
CHOOSE_INSTITUTION, CANCEL_CHOSEN_INSTITUTION = "2505", "2506"
INACTIVE_PROVIDER_SERVED = {SIGN_IN, RECONCILE}
ALIASES = {"2203A": VISIT_INFO}
REVERSIBLE = {PHARMACY_SETTLE, PHARMACY_CANCEL, SETTLE, CANCEL}

# med_type (nhsa.md, Codes): 11 普通门诊 and 13 急诊 settle as outpatient pooling.
POOLING_MED_TYPES = {"11", "13"}
CHRONIC_MED_TYPES = {"14", "1401", "1402", "1403", "140104", "140201", "9901"}
PHARMACY_MED_TYPE = "41"
CHRONIC_SPECIAL = "chronic_special"  # the REST benefit (claims.models.Claim.Benefit)


@dataclass
class Context:
    user: object
    provider: Provider
    envelope: dict
    msgid: str
    infno: str
    # What the message did, kept in the log (and what 2601 undoes).
    visit: Visit | None = None
    claim_id: int | None = None
    member: Member | None = None
    effect: str = ""
    extra: dict = field(default_factory=dict)
    # claim_settle without a savepoint of its own (the message's transaction rolls back whole on
    # any error); True only when a message is run again after a settlement's reference was found
    # taken (message_receive).
    savepoint: bool = False
    # The visit's fields a settlement changed, written with the log entry (_log: one statement).
    visit_update: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    infcode: int
    err_msg: str | None
    output: str  # JSON text


# ---------------------------------------------------------------------------------------
# Entry


def _new_ref() -> str:
    """inf_refmsgid: division(6) + time(14) + serial(10)."""
    return f"{mapping.division_code()}{timezone.localtime().strftime('%Y%m%d%H%M%S')}{secrets.randbelow(10**10):010d}"


def message_replay(*, provider: Provider, msgid: str) -> Answer | None:
    message = Message.objects.filter(provider=provider, msgid=msgid).first()
    if message is None:
        return None
    output = message.output or "{}"
    if message.member_id and '"certno"' in output:
        id_number = Member.objects.filter(pk=message.member_id).values_list("id_number", flat=True).first()
        if id_number:
            output = dumps(unmask_certno(loads(output), id_number))
    return Answer(int(message.infcode), message.err_msg or None, output)


class Refused(Exception):
    """A message refused: its transaction rolls back, then `message_log_refusal` logs it."""

    def __init__(self, err_msg: str, ctx: Context):
        self.err_msg = err_msg
        self.ctx = ctx
        super().__init__(err_msg)


def message_receive(*, user, provider: Provider, envelope: dict, msgid: str, infno: str, savepoint: bool = False) -> Answer:
    """Run one message and log it with its answer, in the caller's transaction. A refusal
    raises `Refused` (the caller rolls back, so nothing is left, and logs it with
    `message_log_refusal`). A msgid already answered makes the log's unique constraint refuse
    the entry (IntegrityError): the caller rolls back and answers with `message_replay`, the
    first answer (a repeat is rare: looking first would cost every message a query).

    A settlement runs without a savepoint of its own (claims.services.settle_once): its
    reference, `NHSA-<visit>-<n>`, is the locked visit's next one, so no earlier settlement
    can answer for it. Should one exist all the same (a REST request that took the reference),
    its IntegrityError reaches the caller like a repeated msgid; when the msgid has no answer
    the caller runs the message again with `savepoint=True`, and the settlement answers as the
    REST API answers a repeated reference."""
    ctx = Context(user=user, provider=provider, envelope=envelope, msgid=msgid, infno=ALIASES.get(infno, infno),
                  savepoint=savepoint)
    try:
        output = _dispatch(ctx)
    except GatewayError as error:
        raise Refused(error.text(), ctx) from None
    except DomainError as error:
        raise Refused(_explain(error, ctx)[:500], ctx) from None
    answer_text = dumps(output)
    _log(ctx, infcode=0, err_msg="", answer_text=answer_text, output=output)
    return Answer(0, None, answer_text)


def message_log_refusal(refusal: Refused) -> Answer:
    """Log a refused message (in its own transaction, after the refused one rolled back)."""
    ctx = refusal.ctx
    ctx.visit, ctx.claim_id, ctx.effect, ctx.visit_update = None, None, "", ()
    if ctx.member is not None and ctx.member.pk is None:
        ctx.member = None
    _log(ctx, infcode=-1, err_msg=refusal.err_msg, answer_text="{}", output={})
    return Answer(-1, refusal.err_msg, "{}")


def _log(ctx: Context, *, infcode: int, err_msg: str, answer_text: str, output: dict) -> None:
    envelope = ctx.envelope
    # ID numbers are masked in the log; a repeat's answer puts the member's back (message_replay).
    stored = dumps(masked(output, decimals_as_text=False)) if '"certno"' in answer_text else answer_text
    message = Message(
        provider=ctx.provider, msgid=ctx.msgid, infno=str(envelope.get("infno"))[:6], inf_refmsgid=_new_ref(),
        opter=str(envelope.get("opter") or "")[:30], opter_name=str(envelope.get("opter_name") or "")[:50],
        user=ctx.user, infcode=str(infcode), err_msg=err_msg, request=masked(envelope), output=stored,
        visit_id=ctx.visit.pk if ctx.visit is not None else None, claim_id=ctx.claim_id,
        member_id=ctx.member.pk if ctx.member is not None else None, effect=ctx.effect,
    )
    if ctx.visit_update:
        # The settled visit's update and the log entry: one round trip on PostgreSQL.
        update_and_insert(ctx.visit, ctx.visit_update, message)
        ctx.visit_update = ()
    else:
        insert([message])


ITEM_REASONS = {
    "unknown_item": _("the catalog code {code} is not in the catalog"),
    "quantity_not_positive": _("the quantity must be positive"),
    "unit_price_not_positive": _("the unit price must be positive"),
    "unit_price_required": _("the item has no listed price: send its unit price"),
    # The documented maxima of one line (claims.services.prepare_items; README, Bounds of one settlement).
    "quantity_too_large": _("the quantity is above the most one line may have"),
    "unit_price_too_large": _("the unit price is above the most one line may have"),
    "line_amount_too_large": _("the line amount is above the most one line may have"),
}


def _explain(error: DomainError, ctx: Context) -> str:
    """A service's refusal in a cashier's words, naming the fee line by its feedetl_sn."""
    problems = error.details.get("items") if isinstance(error.details, dict) else None
    sns = ctx.extra.get("sns")
    if problems and sns:
        first = problems[0]
        reason = ITEM_REASONS.get(first.get("error"))
        if reason is not None and first.get("index") is not None and first["index"] < len(sns):
            return str(_("Fee line {sn}: {reason}.")).format(
                sn=sns[first["index"]], reason=str(reason).format(code=first.get("code", "")))
    return str(error.message)


# ---------------------------------------------------------------------------------------
# Dispatch and the envelope


def _dispatch(ctx: Context) -> dict:
    handler = HANDLERS.get(ctx.infno)
    if handler is None:
        raise GatewayError(_("Transaction {infno} is not served by this platform."), infno=ctx.infno)
    if ctx.provider.status != Provider.Status.ACTIVE and ctx.infno not in INACTIVE_PROVIDER_SERVED:
        # README Security: a suspended or terminated provider reads no members, benefits or
        # ledgers; it signs in and reconciles its past months only.
        raise GatewayError(_("The provider's agreement is suspended or terminated: only sign-in (9001) and "
                             "reconciliation (3201) are served."))
    if ctx.infno[0] in "23":
        _check_sign_in(ctx)
    data = ctx.envelope.get("input")
    if not isinstance(data, dict):
        raise GatewayError(_("The message has no input."))
    return handler(ctx, data)


# The sign-ins this process has seen valid, with their day: a sign-in is never changed once
# made, so a sign_no valid today stays valid today (one query less on every 2xxx and 3xxx).
_SIGNED_IN: dict[tuple[int, str], object] = {}


def _check_sign_in(ctx: Context) -> None:
    sign_no = ctx.envelope.get("sign_no")
    if not sign_no or not isinstance(sign_no, str):
        raise GatewayError(_("Sign in first (9001) and send the day's sign_no."))
    today = timezone.localdate()
    key = (ctx.provider.pk, sign_no)
    if _SIGNED_IN.get(key) == today:
        return
    if not SignIn.objects.filter(provider=ctx.provider, sign_no=sign_no, day=today).exists():
        raise GatewayError(_("The sign_no is not today's sign-in of this provider: sign in again (9001)."))
    if len(_SIGNED_IN) > 10_000:
        _SIGNED_IN.clear()
    _SIGNED_IN[key] = today


def _member(ctx: Context, data: dict, where: str) -> Member:
    psn_no = text(data, "psn_no", max_length=30, where=where)
    _check_insured_here(ctx)
    member = Member.objects.filter(pk=int(psn_no)).first() if psn_no.isascii() and psn_no.isdigit() and len(psn_no) < 19 else None
    if member is None:
        raise GatewayError(_("No insured person has psn_no {psn_no}: read the person again (1101)."), psn_no=psn_no)
    ctx.member = member
    return member


def _check_insured_here(ctx: Context) -> None:
    if not ctx.envelope.get("insuplc_admdvs"):
        raise GatewayError(_("Send insuplc_admdvs, the division of the place of insurance (from 1101)."))
    if str(ctx.envelope["insuplc_admdvs"]) != mapping.division_code():
        raise GatewayError(_("The person is not insured in this region ({code}): settle with the place of insurance."),
                           code=mapping.division_code())


def _certificate(data: dict, member: Member | None, where: str, *, required: bool = True) -> str:
    cert_type = text(data, "mdtrt_cert_type", required=required, max_length=3, where=where) or "02"
    if cert_type in ("01", "03"):
        raise GatewayError(_("Electronic vouchers and social security cards are not accepted yet: use the ID card (mdtrt_cert_type 02)."))
    if cert_type != "02":
        raise GatewayError(_("The certificate type {value} is not known: use the ID card (mdtrt_cert_type 02)."), value=cert_type)
    if member is not None:
        number = text(data, "mdtrt_cert_no", required=required, max_length=50, where=where)
        if number and normalize_id_number(number) != member.id_number:
            raise GatewayError(_("The ID number on the certificate is not this person's (psn_no)."))
    return cert_type


def _insutype(data: dict, where: str, *, required: bool = True) -> None:
    value = text(data, "insutype", required=required, max_length=6, where=where)
    if value and value != mapping.INSUTYPE_EMPLOYEE:
        raise GatewayError(_("Insurance type {value} is not settled here: only 310 (employee basic medical insurance)."), value=value)


def _visit(ctx: Context, data: dict, where: str, *, lock: bool = True, with_lines: bool = False) -> Visit:
    """The visit `mdtrt_id` of person `psn_no` at this provider, with its member (one query;
    `with_lines`: its uploaded lines too, as `ctx.extra["lines"]`, in the same query)."""
    psn_no = text(data, "psn_no", max_length=30, where=where)
    _check_insured_here(ctx)
    mdtrt_id = text(data, "mdtrt_id", max_length=30, where=where)
    visit = None
    if mdtrt_id.isascii() and mdtrt_id.isdigit() and len(mdtrt_id) < 19:
        if with_lines:
            visit, ctx.extra["lines"] = queries.visit_with_lines(int(mdtrt_id), lock=lock)
        else:
            visit = queries.visit(int(mdtrt_id), lock=lock)
    if visit is None or visit.provider_id != ctx.provider.pk or str(visit.member_id) != psn_no:
        raise GatewayError(_("No visit {mdtrt_id} of this person at this provider: register the visit first (2201)."), mdtrt_id=mdtrt_id)
    ctx.visit, ctx.member = visit, visit.member
    return visit


def _open_unsettled(visit: Visit) -> None:
    if visit.status == Visit.Status.CANCELLED:
        raise GatewayError(_("Visit {mdtrt_id} was cancelled (2202): register again."), mdtrt_id=visit.mdtrt_id)
    if visit.claim_id is not None:
        raise GatewayError(_("Visit {mdtrt_id} is settled (setl_id {setl_id}): cancel the settlement first (2208)."),
                           mdtrt_id=visit.mdtrt_id, setl_id=visit.claim_id)


def _flag(data: dict, name: str, where: str) -> bool:
    value = text(data, name, required=False, max_length=3, where=where) or "0"
    if value not in ("0", "1"):
        raise GatewayError(_("{where}{field} must be 0 or 1."), field=name, where=where)
    return value == "1"


# ---------------------------------------------------------------------------------------
# 9001, 1101


def sign_in(ctx: Context, data: dict) -> dict:
    info = node(data, "signIn")
    now = timezone.now()
    sign_no = timezone.localtime(now).strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
    record = SignIn.objects.create(
        provider=ctx.provider, sign_no=sign_no, day=timezone.localdate(now),
        opter_no=text(info, "opter_no", required=False, max_length=30, where="signIn."),
        mac=text(info, "mac", required=False, max_length=64, where="signIn."),
        ip=text(info, "ip", required=False, max_length=64, where="signIn."),
        user=ctx.user,
    )
    audit(actor=ctx.user, action=AuditAction.GATEWAY_SIGN_IN, target=record, label=ctx.provider.code)
    return {"signinoutb": {"sign_time": fmt_time(now), "sign_no": sign_no}}


def person(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    _certificate(info, None, "data.")
    id_number = normalize_id_number(text(info, "mdtrt_cert_no", max_length=50, where="data."))
    # The REST API's read (logged with who asked), then the identity facts it does not carry.
    try:
        benefits = claims.member_benefits(user=ctx.user, id_number=id_number, year=timezone.localdate().year)
    except DomainError:
        raise GatewayError(_("No insured person has this ID number: check the ID card.")) from None
    member = Member.objects.get(id_number=id_number)
    ctx.member = member
    today = timezone.localdate()
    enrollment = member.enrollment_on(today)
    first = member.enrollments.order_by("effective_from").values_list("effective_from", flat=True).first()
    person_facts = mapping.identities(member=member, psn_type=mapping.psn_type(enrollment), on=today,
                                      cvlserv_flag="1" if enrollment is not None and enrollment.civil_servant else "0")
    return {
        "baseinfo": {key: person_facts[key] for key in ("psn_no", "psn_cert_type", "certno", "psn_name", "gend", "naty", "brdy", "age")},
        "insuinfo": [{
            "balc": Decimal(benefits["account_balance"]) if benefits["account_balance"] is not None else mapping.ZERO,
            "insutype": mapping.INSUTYPE_EMPLOYEE,
            "psn_type": person_facts["psn_type"],
            "psn_insu_stas": mapping.INSU_STATUS.get(member.status, "4"),
            "psn_insu_date": first.isoformat() if first else None,
            "paus_insu_date": None,
            "cvlserv_flag": person_facts["cvlserv_flag"],
            "insuplc_admdvs": mapping.division_code(),
            "emp_name": enrollment.employer_name if enrollment else "",
        }],
        "idetinfo": [],
    }


# ---------------------------------------------------------------------------------------
# 2201-2205: the visit and its fee lines


def register(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    if ctx.provider.kind != Provider.Kind.INSTITUTION:
        raise GatewayError(_("A pharmacy settles with 2101/2102, not 2201."))
    member = _member(ctx, info, "data.")
    _insutype(info, "data.")
    cert_type = _certificate(info, member, "data.")
    visit = Visit.objects.create(
        provider=ctx.provider, member=member, ipt_otp_no=text(info, "ipt_otp_no", required=False, max_length=30, where="data."),
        begntime=moment(info, "begntime", where="data."), mdtrt_cert_type=cert_type, med_type="11",
        opened_by_msgid=ctx.msgid,
    )
    _person_type(visit)
    visit.save(update_fields=["psn_type", "cvlserv_flag"])
    ctx.visit = visit
    audit(actor=ctx.user, action=AuditAction.GATEWAY_VISIT_REGISTER, target=visit, label=f"{ctx.provider.code}/{visit.pk}")
    return {"data": {"mdtrt_id": visit.mdtrt_id, "psn_no": str(member.pk), "ipt_otp_no": visit.ipt_otp_no}}


def unregister(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.")
    if visit.claim_id is not None:
        raise GatewayError(_("Visit {mdtrt_id} is settled (setl_id {setl_id}): cancel the settlement first (2208)."),
                           mdtrt_id=visit.mdtrt_id, setl_id=visit.claim_id)
    if visit.status != Visit.Status.CANCELLED:
        visit.status = Visit.Status.CANCELLED
        visit.save(update_fields=["status"])
        visit.lines.filter(status=FeeLine.Status.UPLOADED).update(status=FeeLine.Status.CANCELLED)
        audit(actor=ctx.user, action=AuditAction.GATEWAY_VISIT_CANCEL, target=visit, label=f"{ctx.provider.code}/{visit.pk}")
    return {}


def visit_info(ctx: Context, data: dict) -> dict:
    info = node(data, "mdtrtinfo")
    visit = _visit(ctx, info, "mdtrtinfo.")
    _open_unsettled(visit)
    med_type = text(info, "med_type", max_length=6, where="mdtrtinfo.")
    if med_type not in POOLING_MED_TYPES | CHRONIC_MED_TYPES:
        raise GatewayError(_("Medical type {value} is not settled at an institution here: use 11 (普通门诊), 13 (急诊) or 14 (门诊慢特病)."), value=med_type)
    dise_codg = text(info, "dise_codg", required=med_type in CHRONIC_MED_TYPES, max_length=30, where="mdtrtinfo.")
    diagnoses = data.get("diseinfo") or []
    if not isinstance(diagnoses, list) or not all(isinstance(row, dict) for row in diagnoses):
        raise GatewayError(_("diseinfo must be a list of diagnoses."))
    visit.med_type = med_type
    visit.dise_codg = dise_codg
    visit.dise_name = text(info, "dise_name", required=False, max_length=300, where="mdtrtinfo.")
    visit.begntime = moment(info, "begntime", required=False, where="mdtrtinfo.") or visit.begntime
    visit.diagnoses = [
        {key: text(row, key, required=False, max_length=300, where="diseinfo.") for key in
         ("diag_type", "diag_srt_no", "diag_code", "diag_name", "diag_dept", "dise_dor_no", "dise_dor_name", "diag_time", "vali_flag")}
        for row in diagnoses[:50]
    ]
    visit.save(update_fields=["med_type", "dise_codg", "dise_name", "begntime", "diagnoses"])
    audit(actor=ctx.user, action=AuditAction.GATEWAY_VISIT_INFO, target=visit, label=f"{ctx.provider.code}/{visit.pk}", med_type=med_type)
    return {}


def _read_lines(rows, *, visit: Visit | None, ctx: Context, where: str, member: Member) -> list[FeeLine]:
    if not isinstance(rows, list) or not rows:
        raise GatewayError(_("Send at least one fee line in {where}."), where=where.rstrip("."))
    if len(rows) > 1000:
        raise GatewayError(_("A visit has at most 1,000 fee lines."))
    lines, seen = [], set()
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise GatewayError(_("Fee line {position} is not an object."), position=position)
        sn = text(row, "feedetl_sn", max_length=30, where=where)
        label = f"{where}[{sn}]."
        if sn in seen:
            raise GatewayError(_("Fee line number {sn} is sent twice."), sn=sn)
        seen.add(sn)
        if visit is not None:
            if text(row, "mdtrt_id", required=False, max_length=30, where=label) not in ("", visit.mdtrt_id):
                raise GatewayError(_("Fee line {sn} names another visit (mdtrt_id)."), sn=sn)
            if text(row, "psn_no", required=False, max_length=30, where=label) not in ("", str(member.pk)):
                raise GatewayError(_("Fee line {sn} names another person (psn_no)."), sn=sn)
        cnt = amount(row, "cnt", places=4, where=label)
        pric = amount(row, "pric", places=2, where=label)
        sumamt = amount(row, "det_item_fee_sumamt", where=label)
        if cnt <= 0 or pric <= 0:
            raise GatewayError(_("Fee line {sn}: the quantity and the unit price must be positive."), sn=sn)
        if to_fen(cnt * pric) != sumamt:
            raise GatewayError(_("Fee line {sn}: det_item_fee_sumamt {sumamt} is not cnt × pric ({expected})."),
                               sn=sn, sumamt=f"{sumamt:.2f}", expected=f"{to_fen(cnt * pric):.2f}")
        flag = text(row, "rx_circ_flag", required=False, max_length=3, where=label)
        lines.append(FeeLine(
            visit=visit, feedetl_sn=sn, chrg_bchno=text(row, "chrg_bchno", required=False, max_length=30, where=label),
            med_list_codg=text(row, "med_list_codg", max_length=50, where=label),
            medins_list_codg=text(row, "medins_list_codg", required=False, max_length=150, where=label),
            rxno=text(row, "rxno", required=False, max_length=30, where=label),
            rx_circ_flag=flag, fee_ocur_time=moment(row, "fee_ocur_time", required=False, where=label),
            cnt=cnt, pric=pric, det_item_fee_sumamt=sumamt, uploaded_by_msgid=ctx.msgid,
        ))
    return lines


def _benefit(visit_med_type: str, *, pharmacy: bool, circulated: bool, use_account: bool) -> str:
    """Which REST benefit a med_type settles as (nhsa.md, Codes): at a pharmacy (41), outpatient
    pooling on a circulated prescription, otherwise the personal account only."""
    if pharmacy:
        if circulated:
            return claims.OUTPATIENT_POOLING
        if not use_account:
            raise GatewayError(_("Without a circulated prescription only the personal account pays: send acct_used_flag 1, or sell for cash."))
        return claims.PERSONAL_ACCOUNT
    if visit_med_type in POOLING_MED_TYPES:
        return claims.OUTPATIENT_POOLING
    # med_type 14 (门诊慢特病, and its regional sub-codes): the chronic benefit, the disease
    # being 2203's dise_codg (nhsa.md, Codes).
    return CHRONIC_SPECIAL


def _request(*, visit: Visit, lines: list[FeeLine], use_account: bool, external_ref: str = "",
             pharmacy: bool = False) -> claims.SettlementRequest:
    circulated = any(line.rx_circ_flag == "1" for line in lines)
    return claims.SettlementRequest(
        member_id_number=visit.member.id_number,
        visit_date=timezone.localtime(visit.begntime).date(),
        items=tuple(claims.ItemRequest(code=line.med_list_codg, quantity=line.cnt, unit_price=line.pric) for line in lines),
        external_ref=external_ref,
        benefit=(benefit := _benefit(visit.med_type, pharmacy=pharmacy, circulated=circulated, use_account=use_account)),
        disease_code=(visit.dise_codg or None) if benefit == CHRONIC_SPECIAL else None,
        prescribed_by_code=(visit.prescribed_by_code or None) if circulated else None,
        use_account=use_account,
    )


def _result_lines(body: dict, lines: list[FeeLine]) -> list[dict]:
    items = {item.code: item for item in CatalogItem.objects.filter(code__in={line.med_list_codg for line in lines})}
    return [
        mapping.result_line(sn=line.feedetl_sn, line=rendered, item=items[line.med_list_codg])
        for line, rendered in zip(lines, body["lines"], strict=True)
    ]


def fees(ctx: Context, data: dict) -> dict:
    rows = data.get("feedetail")
    first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
    visit = _visit(ctx, first, "feedetail.")
    member = visit.member
    _open_unsettled(visit)
    new = _read_lines(rows, visit=visit, ctx=ctx, where="feedetail.", member=member)
    existing = list(visit.lines.filter(status=FeeLine.Status.UPLOADED).order_by("pk"))
    taken = {line.feedetl_sn for line in existing} & {line.feedetl_sn for line in new}
    if taken:
        raise GatewayError(_("Fee line {sn} is already uploaded: cancel it first (2205)."), sn=sorted(taken)[0])
    everything = existing + new
    ctx.extra["sns"] = [line.feedetl_sn for line in everything]
    # The bounds of one settlement (window, line and visit maxima) before a line is stored.
    claims.check_bounds(_request(visit=visit, lines=everything, use_account=False))
    FeeLine.objects.bulk_create(new)
    # The classification is the settlement's own, computed by the REST preview of the visit.
    body = claims.claim_preview(user=ctx.user, request=_request(visit=visit, lines=everything, use_account=False))
    result = _result_lines(body, everything)[len(existing):]
    audit(actor=ctx.user, action=AuditAction.GATEWAY_FEES_UPLOAD, target=visit, label=f"{ctx.provider.code}/{visit.pk}", lines=len(new))
    return {"result": result}


def fees_cancel(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.")
    _open_unsettled(visit)
    batch = text(info, "chrg_bchno", max_length=30, where="data.")
    lines = visit.lines.filter(status=FeeLine.Status.UPLOADED)
    if batch != "0000":
        lines = lines.filter(chrg_bchno=batch)
    cancelled = lines.update(status=FeeLine.Status.CANCELLED)
    if not cancelled:
        raise GatewayError(_("Visit {mdtrt_id} has no uploaded fee lines of batch {batch}."), mdtrt_id=visit.mdtrt_id, batch=batch)
    audit(actor=ctx.user, action=AuditAction.GATEWAY_FEES_CANCEL, target=visit, label=f"{ctx.provider.code}/{visit.pk}", batch=batch, lines=cancelled)
    return {}


# ---------------------------------------------------------------------------------------
# 2206-2208: preview, settle, cancel at an institution


def _settle_input(ctx: Context, info: dict, member: Member, where: str) -> tuple[bool, Decimal]:
    _insutype(info, where, required=False)
    _certificate(info, member, where, required=False)
    setlway = text(info, "psn_setlway", required=False, max_length=6, where=where) or "01"
    if setlway != "01":
        raise GatewayError(_("Only settlement by item (psn_setlway 01) is served."))
    return _flag(info, "acct_used_flag", where), amount(info, "medfee_sumamt", where=where)


def _uploaded(visit: Visit, medfee_sumamt: Decimal, lines: list[FeeLine]) -> list[FeeLine]:
    if not lines:
        raise GatewayError(_("Visit {mdtrt_id} has no fee lines: upload them first (2204)."), mdtrt_id=visit.mdtrt_id)
    uploaded = sum((line.det_item_fee_sumamt for line in lines), Decimal("0.00"))
    if medfee_sumamt != uploaded:
        raise GatewayError(_("medfee_sumamt {sent} is not the total of the uploaded fee lines ({uploaded}): upload the lines again."),
                           sent=f"{medfee_sumamt:.2f}", uploaded=f"{uploaded:.2f}")
    return lines


def _check_med_type(info: dict, visit: Visit, where: str) -> None:
    med_type = text(info, "med_type", required=False, max_length=6, where=where)
    if med_type and med_type != visit.med_type:
        raise GatewayError(_("med_type {sent} is not the visit's ({uploaded}, from 2203)."), sent=med_type, uploaded=visit.med_type)


def _person_type(visit: Visit) -> None:
    """The person's type and civil-servant flag on the visit date, kept on the visit (read once
    at 2201 or 2102, not again at every settlement message)."""
    enrollment = visit.member.enrollment_on(timezone.localtime(visit.begntime).date())
    visit.psn_type = mapping.psn_type(enrollment)
    visit.cvlserv_flag = "1" if enrollment is not None and enrollment.civil_servant else "0"


def _info(ctx: Context, *, body: dict, visit: Visit, setl_id: str, setl_time, settle_msgid: str, clr_type: str) -> dict:
    if not visit.psn_type:
        _person_type(visit)
    person_facts = mapping.identities(member=visit.member, psn_type=visit.psn_type, cvlserv_flag=visit.cvlserv_flag,
                                      on=timezone.localtime(visit.begntime).date())
    return mapping.setlinfo(
        body=body, person=person_facts, mdtrt_id=visit.mdtrt_id if visit.pk else "",
        setl_id=setl_id, setl_time=fmt_time(setl_time),
        mdtrt_cert_type=visit.mdtrt_cert_type, med_type=visit.med_type, medins_setl_id=settle_msgid, clr_type=clr_type,
    )


def preview(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.", lock=False, with_lines=True)
    member = visit.member
    _open_unsettled(visit)
    use_account, medfee = _settle_input(ctx, info, member, "data.")
    _check_med_type(info, visit, "data.")
    lines = _uploaded(visit, medfee, ctx.extra["lines"])
    ctx.extra["sns"] = [line.feedetl_sn for line in lines]
    body = claims.claim_preview(user=ctx.user, request=_request(visit=visit, lines=lines, use_account=use_account))
    return {"setlinfo": _info(ctx, body=body, visit=visit, setl_id="", setl_time=timezone.now(), settle_msgid=ctx.msgid, clr_type=mapping.CLR_TYPE_OUTPATIENT),
            "setldetail": mapping.setldetail(body)}


SUBTOTALS = (
    ("fulamt_ownpay_amt", "fulamt_ownpay_amt"),
    ("overlmt_selfpay", "overlmt_selfpay"),
    ("preselfpay_amt", "preselfpay_amt"),
    ("inscp_scp_amt", "inscp_scp_amt"),
)


def _settle_visit(ctx: Context, *, visit: Visit, lines: list[FeeLine], use_account: bool, pharmacy: bool,
                  sent: dict | None = None) -> dict:
    """Settle the visit's lines through claims.claim_settle; `sent` subtotals that disagree with
    the settlement's refuse it (the message's transaction rolls the settlement back: nothing
    written but the refusal's log entry)."""
    ref = f"NHSA-{visit.pk}-{visit.settlements + 1}"
    ctx.extra["sns"] = [line.feedetl_sn for line in lines]
    # No savepoint (message_receive): a refusal of claim_settle or below (the subtotals) raises,
    # and the message's transaction rolls the settlement back.
    body, _created = claims.claim_settle(
        user=ctx.user, request=_request(visit=visit, lines=lines, use_account=use_account, external_ref=ref, pharmacy=pharmacy),
        savepoint=ctx.savepoint)
    ctx.extra["body"] = body
    visit.settled_at = timezone.now()
    info = _info(ctx, body=body, visit=visit, setl_id=str(body["settlement_id"]), setl_time=visit.settled_at,
                 settle_msgid=ctx.msgid, clr_type=mapping.CLR_TYPE_PHARMACY if pharmacy else mapping.CLR_TYPE_OUTPATIENT)
    for sent_field, field_name in SUBTOTALS:
        if sent is not None and sent.get(sent_field) is not None and sent[sent_field] != info[field_name]:
            raise GatewayError(
                _("{field} {sent} disagrees with the uploaded fee lines ({computed}): upload the lines again (2205, 2204)."),
                field=sent_field, sent=f"{sent[sent_field]:.2f}", computed=f"{info[field_name]:.2f}")
    visit.claim_id = body["settlement_id"]
    visit.settlements += 1
    visit.settle_msgid = ctx.msgid
    visit.use_account_flag = use_account
    # Written with the message's log entry (_log), the message's last statement.
    ctx.visit, ctx.visit_update = visit, ("claim", "settlements", "settle_msgid", "use_account_flag", "settled_at", "psn_type", "cvlserv_flag")
    ctx.claim_id, ctx.effect = visit.claim_id, "settled"
    return {"setlinfo": info, "setldetail": mapping.setldetail(body)}


def _settled_answer(ctx: Context, visit: Visit, clr_type: str) -> dict:
    claim = visit.claim
    body = claim.response
    return {"setlinfo": _info(ctx, body=body, visit=visit, setl_id=str(claim.pk), setl_time=visit.settled_at or claim.settled_at,
                              settle_msgid=visit.settle_msgid, clr_type=clr_type),
            "setldetail": mapping.setldetail(body)}


def settle(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.", with_lines=True)
    member = visit.member
    if visit.claim_id is not None:
        # A 2207 for a visit already settled pays nothing more: the settlement in force again.
        return _settled_answer(ctx, visit, mapping.CLR_TYPE_OUTPATIENT)
    _open_unsettled(visit)
    use_account, medfee = _settle_input(ctx, info, member, "data.")
    _check_med_type(info, visit, "data.")
    sent = {name: amount(info, name, required=False) for name, _f in SUBTOTALS}
    lines = _uploaded(visit, medfee, ctx.extra["lines"])
    return _settle_visit(ctx, visit=visit, lines=lines, use_account=use_account, pharmacy=False, sent=sent)


def _cancel_ref(claim: Claim) -> str:
    # Reading: a cancellation's own setl_id is the cancelled one's with a C prefix.
    return f"C{claim.pk}"


def _cancellation(ctx: Context, *, visit: Visit, claim: Claim, clr_type: str, reason: str, pharmacy: bool) -> dict:
    """Cancel `claim` (claims.claim_reverse; a second cancellation answers like the first)."""
    reversal = claims.claim_reverse(user=ctx.user, settlement_id=claim.pk, reason=reason)
    claim.refresh_from_db()
    if visit.claim_id == claim.pk:
        visit.claim = None
        visit.save(update_fields=["claim"])
    ctx.claim_id, ctx.effect = claim.pk, "cancelled"
    original = _info(ctx, body=claim.response, visit=visit, setl_id=str(claim.pk), setl_time=claim.settled_at,
                     settle_msgid=visit.settle_msgid, clr_type=clr_type)
    balc = Decimal(reversal["balance_after"]) if reversal.get("balance_after") is not None else original["balc"]
    out = mapping.negated(original, setl_id=_cancel_ref(claim), setl_time=fmt_time(claim.reversed_at), balc=balc)
    if pharmacy:
        out["psn_pay"] = out["psn_part_amt"]
        out["cash_payamt"] = out["psn_cash_pay"]
    return {"setlinfo": out, "setldetail": mapping.negated_detail(mapping.setldetail(claim.response))}


def _claim_of(ctx: Context, visit: Visit, setl_id: str) -> Claim:
    claim = None
    if setl_id.isascii() and setl_id.isdigit() and len(setl_id) < 19:
        claim = Claim.objects.filter(pk=int(setl_id), submitter=ctx.provider.code,
                                     external_ref__startswith=f"NHSA-{visit.pk}-").first()
    if claim is None:
        raise GatewayError(_("Settlement {setl_id} is not a settlement of visit {mdtrt_id}."), setl_id=setl_id, mdtrt_id=visit.mdtrt_id)
    return claim


def cancel(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.")
    claim = _claim_of(ctx, visit, text(info, "setl_id", max_length=30, where="data."))
    return _cancellation(ctx, visit=visit, claim=claim, clr_type=mapping.CLR_TYPE_OUTPATIENT, reason=f"2208 {ctx.msgid}", pharmacy=False)


# ---------------------------------------------------------------------------------------
# 2101-2103: pharmacy


def _pharmacy_visit(ctx: Context, data: dict) -> tuple[Visit, list[FeeLine], bool, Member]:
    if ctx.provider.kind != Provider.Kind.PHARMACY:
        raise GatewayError(_("An institution settles with 2201-2207, not 2101/2102."))
    info = node(data, "druginfo")
    member = _member(ctx, info, "druginfo.")
    _insutype(info, "druginfo.", required=False)
    cert_type = _certificate(info, member, "druginfo.")
    med_type = text(info, "med_type", required=False, max_length=6, where="druginfo.") or PHARMACY_MED_TYPE
    if med_type != PHARMACY_MED_TYPE:
        raise GatewayError(_("A pharmacy purchase is med_type 41 (定点药店购药)."))
    use_account = _flag(info, "acct_used_flag", "druginfo.")
    medfee = amount(info, "medfee_sumamt", where="druginfo.")
    visit = Visit(provider=ctx.provider, member=member, begntime=moment(info, "begntime", required=False, where="druginfo.") or timezone.now(),
                  mdtrt_cert_type=cert_type, med_type=med_type, dise_codg=text(info, "dise_codg", required=False, max_length=30, where="druginfo."),
                  dise_name=text(info, "dise_name", required=False, max_length=300, where="druginfo."), opened_by_msgid=ctx.msgid)
    lines = _read_lines(data.get("drugdetail"), visit=None, ctx=ctx, where="drugdetail.", member=member)
    if any(line.rx_circ_flag == "1" for line in lines):
        extra = info.get("exp_content")
        if isinstance(extra, str) and extra.strip():
            try:
                extra = json.loads(extra)
            except ValueError:
                extra = None
        prescriber = extra.get("prsc_fixmedins_code") if isinstance(extra, dict) else None
        if not prescriber or not isinstance(prescriber, str):
            raise GatewayError(_("A circulated prescription names the prescribing institution: send prsc_fixmedins_code in druginfo.exp_content."))
        visit.prescribed_by_code = prescriber[:30]
    total = sum((line.det_item_fee_sumamt for line in lines), Decimal("0.00"))
    if medfee != total:
        raise GatewayError(_("medfee_sumamt {sent} is not the total of the drug lines ({uploaded})."), sent=f"{medfee:.2f}", uploaded=f"{total:.2f}")
    ctx.extra["sns"] = [line.feedetl_sn for line in lines]
    return visit, lines, use_account, member


def pharmacy_preview(ctx: Context, data: dict) -> dict:
    visit, lines, use_account, _m = _pharmacy_visit(ctx, data)
    body = claims.claim_preview(user=ctx.user, request=_request(visit=visit, lines=lines, use_account=use_account, pharmacy=True))
    return {"setlinfo": _info(ctx, body=body, visit=visit, setl_id="", setl_time=timezone.now(), settle_msgid=ctx.msgid, clr_type=mapping.CLR_TYPE_PHARMACY),
            "setldetail": mapping.setldetail(body), "detlcutinfo": _result_lines(body, lines)}


def pharmacy_settle(ctx: Context, data: dict) -> dict:
    visit, lines, use_account, _m = _pharmacy_visit(ctx, data)
    _person_type(visit)
    # The bounds of one settlement (window, line and visit maxima) before the visit is stored.
    claims.check_bounds(_request(visit=visit, lines=lines, use_account=use_account, pharmacy=True))
    visit.save()
    for line in lines:
        line.visit = visit
    FeeLine.objects.bulk_create(lines)
    ctx.visit = visit
    answer = _settle_visit(ctx, visit=visit, lines=lines, use_account=use_account, pharmacy=True)
    answer["detlcutinfo"] = _result_lines(ctx.extra["body"], lines)
    return answer


def pharmacy_cancel(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    visit = _visit(ctx, info, "data.")
    claim = _claim_of(ctx, visit, text(info, "setl_id", max_length=30, where="data."))
    return _cancellation(ctx, visit=visit, claim=claim, clr_type=mapping.CLR_TYPE_PHARMACY, reason=f"2103 {ctx.msgid}", pharmacy=True)


# ---------------------------------------------------------------------------------------
# 2601, 3201, 5301


def reversal(ctx: Context, data: dict) -> dict:
    """冲正: undo what message `omsgid` did. A settlement (2207/2102) is cancelled; a
    cancellation (2208/2103) is undone by settling the visit's lines again (reading: the
    ledger is never rewritten, so the undoing is a new settlement with its own setl_id); a
    message that had no effect, or is unknown, is acknowledged."""
    info = node(data, "data")
    member = _member(ctx, info, "data.")
    omsgid = text(info, "omsgid", max_length=30, where="data.")
    oinfno = text(info, "oinfno", max_length=6, where="data.")
    if oinfno not in REVERSIBLE:
        raise GatewayError(_("Transaction {oinfno} cannot be reversed: 2601 reverses 2102, 2103, 2207 and 2208."), oinfno=oinfno)
    original = Message.objects.select_for_update(of=("self",)).filter(provider=ctx.provider, msgid=omsgid).first()
    if original is None or original.infcode != Message.Outcome.SUCCESS or not original.effect or original.reversed_by_msgid:
        if original is not None and original.infno != oinfno:
            raise GatewayError(_("Message {omsgid} was a {infno}, not a {oinfno}."), omsgid=omsgid, infno=original.infno, oinfno=oinfno)
        return {}
    if original.infno != oinfno:
        raise GatewayError(_("Message {omsgid} was a {infno}, not a {oinfno}."), omsgid=omsgid, infno=original.infno, oinfno=oinfno)
    if original.visit_id is None or original.member_id != member.pk:
        raise GatewayError(_("Message {omsgid} is not about this person (psn_no)."), omsgid=omsgid)
    visit = Visit.objects.select_for_update(of=("self",)).select_related("claim", "member").get(pk=original.visit_id)
    ctx.visit = visit
    pharmacy = oinfno in (PHARMACY_SETTLE, PHARMACY_CANCEL)
    clr_type = mapping.CLR_TYPE_PHARMACY if pharmacy else mapping.CLR_TYPE_OUTPATIENT
    if original.effect == "settled":
        claim = Claim.objects.get(pk=original.claim_id)
        if claim.status == Claim.Status.SETTLED:
            _cancellation(ctx, visit=visit, claim=claim, clr_type=clr_type, reason=f"2601 {ctx.msgid}", pharmacy=pharmacy)
    elif original.effect == "cancelled" and visit.claim_id is None and visit.status == Visit.Status.OPEN:
        lines = list(visit.lines.filter(status=FeeLine.Status.UPLOADED).order_by("pk"))
        if lines:
            _settle_visit(ctx, visit=visit, lines=lines, use_account=visit.use_account_flag, pharmacy=pharmacy)
    original.reversed_by_msgid = ctx.msgid
    original.save(update_fields=["reversed_by_msgid"])
    audit(actor=ctx.user, action=AuditAction.GATEWAY_REVERSAL, target=original, label=f"{ctx.provider.code}/{omsgid}", infno=oinfno)
    return {}


def reconcile(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    _insutype(info, "data.")
    begin = day(info, "stmt_begndate", where="data.")
    end = day(info, "stmt_enddate", where="data.")
    total = amount(info, "medfee_sumamt", where="data.")
    fund = amount(info, "fund_pay_sumamt", where="data.")
    account = amount(info, "acct_pay", where="data.")
    count_text = text(info, "fixmedins_setl_cnt", max_length=10, where="data.")
    if not (count_text.isascii() and count_text.isdigit()):
        raise GatewayError(_("{where}{field} is not a number."), field="fixmedins_setl_cnt", where="data.")
    if end < begin:
        raise GatewayError(_("stmt_enddate is before stmt_begndate."))
    # psn_cash_pay = medfee_sumamt − fund_pay_sumamt − acct_pay (nhsa.md's identities).
    result = reconciliation_submit(
        provider=ctx.provider, user=ctx.user, period_from=begin, period_to=end,
        totals={"count": int(count_text), "total": total, "fund": fund, "account": account, "cash": total - fund - account},
    )
    agency = result.agency
    balanced = result.result == result.Result.MATCH
    with translation.override("zh-hans"):
        description = str(_("Gongji: {count} settlements, total {total}, funds {fund}, accounts {account}.")).format(**agency)
    return {"stmtinfo": {"setl_optins": text(info, "setl_optins", required=False, max_length=6, where="data.") or mapping.division_code(),
                         "stmt_rslt": "0" if balanced else "1", "stmt_rslt_dscr": description}}


def registrations(ctx: Context, data: dict) -> dict:
    info = node(data, "data")
    member = _member(ctx, info, "data.")
    # The REST API's read of the member's registrations (audited), in the national fields.
    from claims.chronic import member_registrations

    rows = member_registrations(user=ctx.user, id_number=member.id_number)["registrations"]
    return {"feedetail": [
        {"opsp_dise_code": row["disease_code"], "opsp_dise_name": row["disease_name"],
         "begndate": row["valid_from"], "enddate": row["valid_to"]}
        for row in rows
    ]}


# 2505, 2506: 人员定点备案 and its cancellation (Jinan (四): members' chosen institutions)


def choose_institution(ctx: Context, data: dict) -> dict:
    """人员定点备案: the member chooses the sending institution from `begndate` (to `enddate`).
    Reading: an institution registers the member at itself only (`fixmedins_code` must be the
    sender's own); the agent's and contact fields (tel, addr, agnter_*) are not kept."""
    from claims.chosen_institutions import chosen_institution_register
    from claims.models import ChosenInstitution

    info = node(data, "data")
    member = _member(ctx, info, "data.")
    application_type = text(info, "biz_appy_type", max_length=3, where="data.")
    begin = day(info, "begndate", where="data.")
    end = day(info, "enddate", required=False, where="data.")
    sort_no = text(info, "fix_srt_no", max_length=3, where="data.")
    code = text(info, "fixmedins_code", max_length=30, where="data.")
    text(info, "fixmedins_name", max_length=200, where="data.")
    memo = text(info, "memo", required=False, max_length=500, where="data.")
    if code != ctx.provider.code:
        raise GatewayError(_("An institution registers a person's chosen institution at itself only: fixmedins_code must be {code}."),
                           code=ctx.provider.code)
    chosen = chosen_institution_register(
        user=ctx.user, member=member, provider=ctx.provider, valid_from=begin, valid_to=end,
        source=ChosenInstitution.Source.GATEWAY, sort_no=sort_no, application_type=application_type, memo=memo,
    )
    return {"result": {"trt_dcla_detl_sn": chosen.declaration_sn}}


def cancel_chosen_institution(ctx: Context, data: dict) -> dict:
    """人员定点备案撤销: the registration named by `trt_dcla_detl_sn` (from 2505) ends yesterday,
    or is cancelled if it has not begun (reading); `memo` gives the reason (required)."""
    from claims.chosen_institutions import chosen_institution_end
    from claims.models import ChosenInstitution

    info = node(data, "data")
    member = _member(ctx, info, "data.")
    serial = text(info, "trt_dcla_detl_sn", max_length=30, where="data.")
    reason = text(info, "memo", max_length=500, where="data.")
    digits = serial[2:] if serial.startswith("DD") else ""
    chosen = (
        ChosenInstitution.objects.filter(pk=int(digits), member=member, provider=ctx.provider).first()
        if digits.isascii() and digits.isdigit() and len(digits) < 19 else None
    )
    if chosen is None:
        raise GatewayError(_("No chosen-institution registration {serial} of this person at this institution."), serial=serial)
    yesterday = timezone.localdate() - timedelta(days=1)
    chosen_institution_end(user=ctx.user, chosen=chosen, last_day=max(yesterday, chosen.valid_from - timedelta(days=1)), reason=reason)
    return {}


HANDLERS = {
    SIGN_IN: sign_in, PERSON: person,
    REGISTER: register, UNREGISTER: unregister, VISIT_INFO: visit_info, FEES: fees, FEES_CANCEL: fees_cancel,
    PREVIEW: preview, SETTLE: settle, CANCEL: cancel,
    PHARMACY_PREVIEW: pharmacy_preview, PHARMACY_SETTLE: pharmacy_settle, PHARMACY_CANCEL: pharmacy_cancel,
    REVERSAL: reversal, RECONCILE: reconcile, REGISTRATIONS: registrations,
    CHOOSE_INSTITUTION: choose_institution, CANCEL_CHOSEN_INSTITUTION: cancel_chosen_institution,
}
