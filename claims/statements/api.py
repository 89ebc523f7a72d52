"""Reconciliation API (对账, like the national 3201/3202): parse, call one service, render."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Forbidden, NotFound
from core.params import bounded_date_serializer_field
from pharmacies.access import IsProviderUser, staff_link

from ..models import Reconciliation
from .services import SubmittedSettlement, reconciliation_submit


def _money(**kwargs):
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


class ReconciliationLineInput(serializers.Serializer):
    settlement_id = serializers.IntegerField(required=False, allow_null=True)
    external_ref = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    total = _money()
    fund = _money()
    account = _money()
    cash = _money()

    def validate(self, attrs):
        if not attrs.get("settlement_id") and not attrs.get("external_ref"):
            raise serializers.ValidationError({"settlement_id": "settlement_id or external_ref is required."})
        return attrs


class ReconciliationInput(serializers.Serializer):
    period_from = bounded_date_serializer_field()
    period_to = bounded_date_serializer_field()
    count = serializers.IntegerField(min_value=0)
    total = _money()
    fund = _money()
    account = _money(help_text="personal and family-sharing accounts together")
    cash = _money()
    settlements = ReconciliationLineInput(many=True, required=False, max_length=100_000)
    clearing = serializers.ChoiceField(
        choices=["in_province", "out_of_province"], required=False,
        help_text="the cross-region platform only: which clearing (省内 or 省外异地就医清算) it reconciles",
    )


class TotalsOutput(serializers.Serializer):
    count = serializers.CharField()
    total = serializers.CharField()
    fund = serializers.CharField()
    account = serializers.CharField()
    cash = serializers.CharField()


class ReconciliationOutput(serializers.Serializer):
    reconciliation_id = serializers.IntegerField()
    result = serializers.ChoiceField(choices=["match", "mismatch"])
    period_from = bounded_date_serializer_field()
    period_to = bounded_date_serializer_field()
    provider = TotalsOutput()
    agency = TotalsOutput()
    differences = serializers.DictField()


class ReconciliationView(APIView):
    permission_classes = [IsProviderUser]
    allow_inactive_provider = True  # a suspended provider still reconciles its past months

    @extend_schema(summary="Reconcile a period (对账, like 3201/3202)", tags=["reconciliation"],
                   request=ReconciliationInput, responses={201: ReconciliationOutput})
    def post(self, request):
        link = staff_link(request.user)
        provider = link.provider if link else None
        if provider is None and not (link and link.cross_region_platform):
            raise Forbidden(code="provider_only", details={"provider": None})
        serializer = ReconciliationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = data.get("settlements")
        with transaction.atomic(durable=True):
            reconciliation = reconciliation_submit(
                provider=provider, user=request.user, period_from=data["period_from"], period_to=data["period_to"],
                totals={field: data[field] for field in ("count", "total", "fund", "account", "cash")},
                settlements=None if lines is None else [SubmittedSettlement(**line) for line in lines],
                clearing="" if provider else data.get("clearing", ""),
            )
        return Response(_render(reconciliation), status=status.HTTP_201_CREATED)


class ReconciliationDetailView(APIView):
    permission_classes = [IsProviderUser]
    allow_inactive_provider = True  # a suspended provider still reconciles its past months

    @extend_schema(summary="A reconciliation submitted earlier (own provider only)", tags=["reconciliation"],
                   responses=ReconciliationOutput)
    def get(self, request, reconciliation_id: int):
        link = staff_link(request.user)
        own = Reconciliation.objects.filter(pk=reconciliation_id)
        if link and link.provider_id:
            reconciliation = own.filter(provider_id=link.provider_id).first()
        elif link and link.cross_region_platform:
            # The platform's own reconciliations (its clearings), never a provider's.
            reconciliation = own.filter(provider__isnull=True).first()
        else:
            reconciliation = None
        if reconciliation is None:
            raise NotFound(_("No such reconciliation."), code="reconciliation_not_found",
                           details={"reconciliation_id": reconciliation_id})
        return Response(_render(reconciliation))


def _render(reconciliation) -> dict:
    return {
        "reconciliation_id": reconciliation.pk, "result": reconciliation.result,
        "period_from": reconciliation.period_from.isoformat(), "period_to": reconciliation.period_to.isoformat(),
        "provider": reconciliation.submitted, "agency": reconciliation.agency,
        "differences": reconciliation.differences,
    }
