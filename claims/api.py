"""Settlement API views (CONTRACT.md "HTTP API for providers"): parse, call one service, render."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import TokenScheme
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import flatten_errors
from core.errors import DomainError
from core.params import year_param
from core.tokens import ApiTokenAuthentication
from pharmacies.access import IsProviderOrAgencyStaff, IsSettlingProvider

from . import services
from .serializers import (
    BenefitsOutput,
    RegistrationsOutput,
    ReversalOutput,
    ReverseInput,
    SettlementInput,
    SettlementOutput,
)
from .settlement_queries import token_with_provider


class ProviderTokenAuthentication(ApiTokenAuthentication):
    """The API token authentication (core.tokens), reading the user's provider link and provider
    in the same query (every settlement needs them: one round trip instead of three)."""

    def lookup(self, digest):
        return token_with_provider(digest)


AUTHENTICATION = [ProviderTokenAuthentication, SessionAuthentication]


def item_problems(errors, data) -> list[dict] | None:
    """The serializer's errors of `items` in the one shape of an item problem (as the service's
    refusals): index from 0, position from 1, the item's code, the field, the error code and
    the message. None when the errors are not per item (e.g. too many items)."""
    if isinstance(errors, list):
        per_item = dict(enumerate(errors))
    elif isinstance(errors, dict) and errors and all(str(key).isdigit() for key in errors):
        per_item = {int(key): value for key, value in errors.items()}
    else:
        return None
    items = data.get("items") if isinstance(data, dict) else None
    problems = []
    for index, fields in sorted(per_item.items()):
        if not fields:
            continue
        item = items[index] if isinstance(items, list) and index < len(items) else None
        code = item.get("code") if isinstance(item, dict) and isinstance(item.get("code"), str) else ""
        for field, details in (fields.items() if isinstance(fields, dict) else [("item", fields)]):
            for detail in details if isinstance(details, list) else [details]:
                problems.append({
                    "index": index, "position": index + 1, "code": code[:64], "field": field,
                    "error": getattr(detail, "code", None) or "invalid", "message": str(detail),
                })
    return problems


def _request(data) -> services.SettlementRequest:
    serializer = SettlementInput(data=data)
    if not serializer.is_valid():
        errors = dict(serializer.errors)
        problems = item_problems(errors.get("items"), data) if "items" in errors else None
        if problems is None:
            raise exceptions.ValidationError(errors)
        details = {key: flatten_errors(value) for key, value in errors.items() if key != "items"}
        raise DomainError(_("The request is not valid."), code="invalid", details={**details, "items": problems})
    return services.SettlementRequest.from_data(serializer.validated_data)


class SettlementPreviewView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsSettlingProvider]
    allow_inactive_provider = True  # the service refuses with provider_suspended

    @extend_schema(summary="Preview a settlement (预结算); writes nothing", tags=["settlements"],
                   request=SettlementInput, responses=SettlementOutput)
    def post(self, request):
        return Response(services.claim_preview(user=request.user, request=_request(request.data)))


class SettlementView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsSettlingProvider]
    allow_inactive_provider = True  # the service refuses with provider_suspended

    @extend_schema(summary="Settle (结算); a repeat of the same external_ref returns the first response",
                   tags=["settlements"], request=SettlementInput, responses={201: SettlementOutput, 200: SettlementOutput})
    def post(self, request):
        # The hot path opens no transaction here: claim_settle's own atomic() is the outermost
        # one (nothing wraps this view), so the pinned 13 statements stay 13 and no SAVEPOINT
        # is added (README "Transactions").
        body, created = services.claim_settle(user=request.user, request=_request(request.data))
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SettlementReverseView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsProviderOrAgencyStaff]

    @extend_schema(summary="Reverse a settlement (撤销结算)", tags=["settlements"],
                   request=ReverseInput, responses=ReversalOutput)
    def post(self, request, settlement_id: int):
        serializer = ReverseInput(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic(durable=True):
            body = services.claim_reverse(user=request.user, settlement_id=settlement_id,
                                          reason=serializer.validated_data["reason"])
        return Response(body)


class MemberBenefitsView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsProviderOrAgencyStaff]

    @extend_schema(summary="The member's outpatient-pooling year (like 1101)", tags=["members"],
                   parameters=[OpenApiParameter("year", int, required=False)], responses=BenefitsOutput)
    def get(self, request, id_number: str):
        year = year_param(request.query_params.get("year"), default=timezone.localdate().year)
        return Response(services.member_benefits(user=request.user, id_number=id_number, year=year))


class MemberRegistrationsView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [IsProviderOrAgencyStaff]

    @extend_schema(summary="The member's chronic and special disease registrations (like 5301)", tags=["members"],
                   responses=RegistrationsOutput)
    def get(self, request, id_number: str):
        from . import chronic

        return Response(chronic.member_registrations(user=request.user, id_number=id_number))


class ProviderTokenScheme(TokenScheme):
    """OpenAPI: the same `Authorization: Token <key>` scheme, under its own component name."""

    target_class = "claims.api.ProviderTokenAuthentication"
    name = "providerTokenAuth"
    match_subclasses = False
    priority = 1
