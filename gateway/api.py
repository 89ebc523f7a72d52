"""POST /api/nhsa/: the national interface's one endpoint (CONTRACT.md, interfaces/nhsa.md).
The envelope's infno selects the transaction. Parse the envelope, authenticate the provider,
call one service inside the durable transaction, render the answer envelope."""

from __future__ import annotations

import json
import re

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

from claims.api import ProviderTokenAuthentication
from core.errors import Forbidden
from pharmacies.access import IsProviderUser, provider_of

from . import services
from .services import Answer
from .wire import loads


class EnvelopeInput(serializers.Serializer):
    infno = serializers.CharField(max_length=6, help_text="transaction code: 9001, 1101, 2201–2208, 2101–2103, 2601, 3201, 5301")
    msgid = serializers.CharField(max_length=30, help_text="fixmedins_code(12) + yyyyMMddHHmmss(14) + sequence(4); a repeat answers the first answer")
    mdtrtarea_admvs = serializers.CharField(max_length=6)
    insuplc_admdvs = serializers.CharField(max_length=6, required=False, help_text="required whenever input names a psn_no")
    recer_sys_code = serializers.CharField(max_length=10)
    dev_no = serializers.CharField(required=False)
    dev_safe_info = serializers.CharField(required=False)
    cainfo = serializers.CharField(required=False)
    signtype = serializers.CharField(required=False)
    infver = serializers.CharField(max_length=6)
    opter_type = serializers.CharField(max_length=3)
    opter = serializers.CharField(max_length=30)
    opter_name = serializers.CharField(max_length=50)
    inf_time = serializers.CharField(help_text="yyyy-MM-dd HH:mm:ss")
    fixmedins_code = serializers.CharField(max_length=30, help_text="must be the token's provider")
    fixmedins_name = serializers.CharField(max_length=200)
    sign_no = serializers.CharField(max_length=30, required=False, help_text="from 9001; required on 2xxx and 3xxx")
    input = serializers.DictField(help_text="the transaction's input (data, mdtrtinfo + diseinfo, feedetail, druginfo + drugdetail, signIn)")


class EnvelopeOutput(serializers.Serializer):
    infcode = serializers.IntegerField(help_text="0 success, -1 failure (HTTP 200 either way)")
    inf_refmsgid = serializers.CharField()
    refmsg_time = serializers.CharField(help_text="yyyyMMddHHmmssSSS")
    respond_time = serializers.CharField(help_text="yyyyMMddHHmmssSSS")
    err_msg = serializers.CharField(allow_null=True, help_text="on failure, what the cashier should do (Chinese)")
    output = serializers.DictField()


class RawBodyParser(JSONParser):
    """The view reads the body itself (amounts as Decimal); DRF only needs to accept JSON."""


def _stamp(moment) -> str:
    local = timezone.localtime(moment)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def _envelope(answer: Answer, received) -> HttpResponse:
    err = json.dumps(answer.err_msg, ensure_ascii=False)
    body = (
        f'{{"infcode":{answer.infcode},"inf_refmsgid":"{services._new_ref()}",'
        f'"refmsg_time":"{_stamp(received)}","respond_time":"{_stamp(timezone.now())}",'
        f'"err_msg":{err},"output":{answer.output}}}'
    )
    return HttpResponse(body, content_type="application/json; charset=utf-8")


def _refuse(message, received, **params) -> HttpResponse:
    """A refusal before the message can be logged (no envelope to key it by)."""
    with translation.override("zh-hans"):
        return _envelope(Answer(-1, str(message).format(**params), "{}"), received)


REQUIRED = ("infno", "msgid", "fixmedins_code", "input")
# Text the database cannot hold: NUL (\u0000) and UTF-16 surrogate escapes (checked further).
NUL = re.compile(rb"\\u0000", re.IGNORECASE)
SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


class NhsaGatewayView(APIView):
    authentication_classes = [ProviderTokenAuthentication]
    permission_classes = [IsProviderUser]
    # A suspended provider is answered in the envelope (infcode -1) by the service: README Security.
    allow_inactive_provider = True
    parser_classes = [RawBodyParser]

    @extend_schema(
        summary="National interface gateway (国家医保信息平台接口): one endpoint, infno selects the transaction",
        description="Answers the national interface's envelope (interfaces/nhsa.md). Every refusal is HTTP 200 "
                    "with infcode -1 and a Chinese err_msg; an unknown token is HTTP 401, a fixmedins_code "
                    "other than the token's provider too.",
        tags=["national interface"], request=EnvelopeInput, responses={200: EnvelopeOutput},
        examples=[OpenApiExample("9001 sign-in", request_only=True, value={
            "infno": "9001", "msgid": "H37040200001202612030900000001", "mdtrtarea_admvs": "370400",
            "recer_sys_code": "MBS_LOCAL", "infver": "V1.0", "opter_type": "1", "opter": "001", "opter_name": "收费员",
            "inf_time": "2026-12-03 09:00:00", "fixmedins_code": "H37040200001", "fixmedins_name": "枣庄市立医院",
            "input": {"signIn": {"opter_no": "001", "mac": "00-00-00-00-00-00", "ip": "10.0.0.1"}},
        })],
    )
    def post(self, request):
        received = timezone.now()
        provider = provider_of(request.user)
        if provider is None:
            raise Forbidden(_("Only a designated provider's system may call the national interface."), code="provider_only")
        body = request.body or b""
        try:
            envelope = loads(body)
            if SURROGATE.search(body):
                # A lone surrogate decodes but cannot be stored (nor a pair be unpaired): check.
                json.dumps(envelope, ensure_ascii=False, default=str).encode("utf-8")
        except (ValueError, UnicodeError):
            return _refuse(_("The message is not valid JSON."), received)
        if NUL.search(body):
            return _refuse(_("The message contains a NUL character."), received)
        if not isinstance(envelope, dict):
            return _refuse(_("The message must be one JSON object (the envelope)."), received)
        missing = [name for name in REQUIRED if envelope.get(name) in (None, "")]
        if missing:
            return _refuse(_("The envelope lacks {fields}."), received, fields=", ".join(missing))
        if envelope["fixmedins_code"] != provider.code:
            raise exceptions.AuthenticationFailed(_("fixmedins_code is not the provider of this token."))
        msgid, infno = envelope["msgid"], envelope["infno"]
        if not isinstance(msgid, str) or len(msgid) > 30 or not isinstance(infno, str | int) or len(str(infno)) > 6:
            return _refuse(_("msgid (at most 30 characters) or infno is not valid."), received)
        infno = str(infno)
        # Everything a cashier reads is Chinese, whatever language the HIS's client asks for.
        with translation.override("zh-hans"):
            for savepoint in (False, True):
                try:
                    answer = _receive(request.user, provider, envelope, msgid, infno, savepoint=savepoint)
                    break
                except IntegrityError:
                    # This msgid was answered before (or is being answered now): that answer again.
                    answer = services.message_replay(provider=provider, msgid=msgid)
                    if answer is not None:
                        break
                    if savepoint:
                        raise
                    # Not a repeat: a settlement's reference was taken (services.message_receive).
                    # Once more, the settlement with its savepoint, to answer as the REST API does.
        return _envelope(answer, received)


def _receive(user, provider, envelope: dict, msgid: str, infno: str, *, savepoint: bool) -> Answer:
    """One message in its durable transaction; a refusal rolls it back and is logged alone."""
    try:
        with transaction.atomic(durable=True):
            return services.message_receive(user=user, provider=provider, envelope=envelope, msgid=msgid, infno=infno,
                                            savepoint=savepoint)
    except services.Refused as refusal:
        # The refused message's transaction rolled back; its log entry is written alone.
        with transaction.atomic(durable=True):
            return services.message_log_refusal(refusal)
