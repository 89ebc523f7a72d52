"""The agency dashboard's figures: a handful of grouped queries over one year."""

from datetime import date

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import TruncMonth

from claims.funds import FUNDS, funds_expression
from claims.models import Claim

from .models import Flag

CONFIRMED = (Flag.Status.CONFIRMED, Flag.Status.DEDUCTED)


def _money(value) -> float:
    # Chart.js draws numbers; the figures are already rounded to the fen in the database.
    return float(value or 0)


def dashboard_data(year: int) -> dict:
    start, end = date(year, 1, 1), date(year, 12, 31)
    claims = Claim.objects.settled().filter(visit_date__range=(start, end))
    # Every fund that pays on a settlement (claims.funds): one series each, and all together.
    by_month = (claims.annotate(month=TruncMonth("visit_date")).values("month")
                .annotate(all_funds=Sum(funds_expression()), account=Sum("account"),
                          **{f"fund_{fund.name}": Sum(fund.field) for fund in FUNDS})
                .order_by("month"))
    by_benefit = claims.values("benefit").annotate(fund=Sum("fund"), visits=Count("pk")).order_by("benefit")
    benefit_labels = dict(Claim.Benefit.choices)
    by_level = claims.values("provider_level").annotate(fund=Sum(funds_expression())).order_by("provider_level")
    flags = Flag.objects.filter(day__range=(start, end))
    flags_by_rule = flags.values("rule__code").annotate(n=Count("pk")).order_by("-n")
    flags_by_month = flags.annotate(month=TruncMonth("day")).values("month").annotate(n=Count("pk")).order_by("month")
    cost = (claims.filter(provider__isnull=False).values("provider__code", "provider__name")
            .annotate(visits=Count("pk"), total=Sum("total"))
            .annotate(per_visit=ExpressionWrapper(F("total") / F("visits"), output_field=DecimalField()))
            .order_by("-per_visit")[:10])
    violations = (flags.filter(status__in=CONFIRMED, provider__isnull=False).values("provider__code", "provider__name")
                  .annotate(n=Count("pk"), amount=Sum("confirmed_amount")).order_by("-n")[:10])
    return {
        "spending_by_month": {
            "labels": [row["month"].strftime("%Y-%m") for row in by_month],
            "fund": [_money(row["all_funds"]) for row in by_month],
            "funds": [{"name": fund.name, "label": str(fund.label), "data": [_money(row[f"fund_{fund.name}"]) for row in by_month]}
                      for fund in FUNDS],
            "account": [_money(row["account"]) for row in by_month],
        },
        # Chronic and special diseases are their own benefit (issue 14).
        "spending_by_benefit": {
            "labels": [str(benefit_labels.get(row["benefit"], row["benefit"])) for row in by_benefit],
            "fund": [_money(row["fund"]) for row in by_benefit],
            "visits": [row["visits"] for row in by_benefit],
        },
        "spending_by_level": {
            "labels": [row["provider_level"] or "-" for row in by_level],
            "fund": [_money(row["fund"]) for row in by_level],
        },
        "flags_by_rule": {"labels": [row["rule__code"] for row in flags_by_rule], "counts": [row["n"] for row in flags_by_rule]},
        "flags_by_month": {
            "labels": [row["month"].strftime("%Y-%m") for row in flags_by_month],
            "counts": [row["n"] for row in flags_by_month],
        },
        "top_cost_per_visit": {
            "labels": [f"{row['provider__code']} {row['provider__name']}" for row in cost],
            "values": [round(_money(row["per_visit"]), 2) for row in cost],
        },
        "top_violations": {
            "labels": [f"{row['provider__code']} {row['provider__name']}" for row in violations],
            "counts": [row["n"] for row in violations],
        },
    }
