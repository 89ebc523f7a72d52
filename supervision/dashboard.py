"""The supervision dashboard's figures (issue 16): a summary first, then the year's charts,
each with the rows behind it and, per row, the admin list those rows come from.

Queries only (grouped sums and counts over one year), nothing written. Money stays Decimal
to the fen in the summary, the tables and the export; the charts' JSON carries numbers
(Chart.js draws floats). Every figure counts settled settlements by their visit date and
flags by their date, as the lists they link to filter them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from claims.funds import FUNDS, funds_expression
from claims.levels import LEVEL_ORDER, level_label
from claims.models import Claim, Deduction
from core.money import ZERO, to_fen

from .models import Flag, Rule

# Awaiting a reviewer (first or second review) or the decision on an appeal.
OPEN = (Flag.Status.NEW, Flag.Status.FIRST_REVIEWED, Flag.Status.APPEALED)
# A violation the review confirmed, deducted from the provider's statement or not yet.
CONFIRMED = (Flag.Status.CONFIRMED, Flag.Status.DEDUCTED)
TOP = 10


# ---------------------------------------------------------------------------------------
# Dates and the admin lists the figures link to


def year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def month_bounds(month: date) -> tuple[date, date]:
    start = month.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def summary_month(year: int, today: date) -> date:
    """The month the summary's "this month" is: today's in the current year, else the year's last."""
    return date(year, today.month if year == today.year else 12, 1)


def month_label(month: date) -> str:
    return date_format(month, "YEAR_MONTH_FORMAT")  # 2026年12月


def _list(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


def claims_link(start: date, end: date, **params) -> str:
    """The settlements changelist: settled, visit date within [start, end], and `params`
    (ClaimAdmin's filters: provider_level, benefit__exact, provider__id__exact)."""
    return _list("admin:claims_claim_changelist", status__exact=Claim.Status.SETTLED,
                 visit_date__gte=start.isoformat(), visit_date__lte=end.isoformat(), **params)


def flags_link(**params) -> str:
    """The flags changelist (FlagAdmin: rule filter, date hierarchy on day, stage: open or confirmed)."""
    return _list("admin:supervision_flag_changelist", **params)


def _level_param(level: str) -> str:
    return level or "none"  # claims.admin_settlement.PolicyLevelFilter


# ---------------------------------------------------------------------------------------
# The summary


@dataclass(frozen=True)
class LevelFigures:
    level: str
    label: str
    month: object  # Decimal
    year: object
    month_link: str
    year_link: str


@dataclass(frozen=True)
class Summary:
    year: int
    month: date
    month_label: str
    fund_month: object  # Decimal, every fund together
    fund_year: object
    month_link: str
    year_link: str
    levels: tuple[LevelFigures, ...]
    flags_open: int
    flags_confirmed: int
    open_link: str
    confirmed_link: str
    deductions_amount: object
    deductions_count: int
    deductions_link: str


def dashboard_summary(year: int, today: date) -> Summary:
    """Fund paid this month and this year (every fund, and per policy level), flags raised this
    year still open and confirmed, deductions decided this year. Three queries."""
    start, end = year_bounds(year)
    month = summary_month(year, today)
    month_start, month_end = month_bounds(month)
    funds = funds_expression()
    rows = {
        row["provider_level"]: row for row in (
            Claim.objects.settled().filter(visit_date__range=(start, end)).values("provider_level")
            .annotate(year_fund=Sum(funds), month_fund=Sum(funds, filter=Q(visit_date__range=(month_start, month_end))))
            .order_by()
        )
    }
    order = {level: position for position, level in enumerate(LEVEL_ORDER)}
    levels = tuple(
        LevelFigures(
            level=level, label=level_label(level),
            month=to_fen(rows[level]["month_fund"] or ZERO), year=to_fen(rows[level]["year_fund"] or ZERO),
            month_link=claims_link(month_start, month_end, provider_level=_level_param(level)),
            year_link=claims_link(start, end, provider_level=_level_param(level)),
        )
        for level in sorted(rows, key=lambda level: (order.get(level, len(order)), level))
    )
    flags = Flag.objects.filter(day__range=(start, end)).aggregate(
        open=Count("pk", filter=Q(status__in=OPEN)), confirmed=Count("pk", filter=Q(status__in=CONFIRMED)))
    deductions = Deduction.objects.filter(decided_on__range=(start, end)).aggregate(amount=Sum("amount"), count=Count("pk"))
    changelist = reverse("admin:claims_deduction_changelist")
    return Summary(
        year=year, month=month, month_label=month_label(month),
        fund_month=sum((level.month for level in levels), ZERO), fund_year=sum((level.year for level in levels), ZERO),
        month_link=claims_link(month_start, month_end), year_link=claims_link(start, end),
        levels=levels,
        flags_open=flags["open"], flags_confirmed=flags["confirmed"],
        open_link=flags_link(stage="open", day__year=year),
        confirmed_link=flags_link(stage="confirmed", day__year=year),
        deductions_amount=to_fen(deductions["amount"] or ZERO), deductions_count=deductions["count"],
        deductions_link=f"{changelist}?{urlencode({'decided_on__gte': start.isoformat(), 'decided_on__lte': end.isoformat()})}",
    )


def summary_rows(summary: Summary) -> list[tuple[str, object]]:
    """(label, figure) lines of the summary, as the page shows them and the export writes them."""
    return [
        (_("Fund paid in %(month)s (all funds)") % {"month": summary.month_label}, summary.fund_month),
        (_("Fund paid in %(year)s (all funds)") % {"year": summary.year}, summary.fund_year),
        *((_("Fund paid in %(month)s: %(level)s") % {"month": summary.month_label, "level": level.label}, level.month)
          for level in summary.levels),
        *((_("Fund paid in %(year)s: %(level)s") % {"year": summary.year, "level": level.label}, level.year)
          for level in summary.levels),
        (_("Flags of %(year)s open (awaiting review or appeal)") % {"year": summary.year}, summary.flags_open),
        (_("Flags of %(year)s confirmed") % {"year": summary.year}, summary.flags_confirmed),
        (_("Deductions decided in %(year)s: amount") % {"year": summary.year}, summary.deductions_amount),
        (_("Deductions decided in %(year)s: count") % {"year": summary.year}, summary.deductions_count),
    ]


# ---------------------------------------------------------------------------------------
# The charts and the tables behind them


@dataclass(frozen=True)
class Table:
    """One chart's rows: the first cell names the bar, `links[i]` is the list behind row i."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple, ...]
    links: tuple[str, ...]
    # A pie with one slice says nothing: its figure is written out instead.
    pie: bool = False

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def linked_rows(self) -> list[tuple[tuple, str]]:
        return list(zip(self.rows, self.links, strict=True))

    @property
    def drawn(self) -> bool:
        return bool(self.rows) and not (self.pie and len(self.rows) == 1)


def _money(value) -> float:
    # Chart.js draws numbers; the figures are already rounded to the fen.
    return float(value or 0)


def dashboard_tables(year: int) -> list[Table]:
    start, end = year_bounds(year)
    claims = Claim.objects.settled().filter(visit_date__range=(start, end))
    # Every fund that pays on a settlement (claims.funds): one column each, and all together.
    by_month = list(
        claims.annotate(month=TruncMonth("visit_date")).values("month")
        .annotate(all_funds=Sum(funds_expression()), account=Sum("account"), visits=Count("pk"),
                  **{f"fund_{fund.name}": Sum(fund.field) for fund in FUNDS})
        .order_by("month")
    )
    order = {level: position for position, level in enumerate(LEVEL_ORDER)}
    by_level = sorted(
        claims.values("provider_level").annotate(fund=Sum(funds_expression()), visits=Count("pk")).order_by(),
        key=lambda row: (order.get(row["provider_level"], len(order)), row["provider_level"]),
    )
    by_benefit = claims.values("benefit").annotate(fund=Sum("fund"), visits=Count("pk")).order_by("benefit")
    benefit_labels = dict(Claim.Benefit.choices)
    flags = Flag.objects.filter(day__range=(start, end))
    by_rule = list(flags.values("rule_id").annotate(n=Count("pk")).order_by("-n", "rule_id"))
    rules = Rule.objects.in_bulk([row["rule_id"] for row in by_rule])
    flags_by_month = flags.annotate(month=TruncMonth("day")).values("month").annotate(n=Count("pk")).order_by("month")
    cost = (claims.filter(provider__isnull=False).values("provider_id", "provider__code", "provider__name")
            .annotate(visits=Count("pk"), total=Sum("total"))
            .annotate(per_visit=ExpressionWrapper(F("total") / F("visits"), output_field=DecimalField()))
            .order_by("-per_visit", "provider_id")[:TOP])
    violations = (flags.filter(status__in=CONFIRMED, provider__isnull=False)
                  .values("provider_id", "provider__code", "provider__name")
                  .annotate(n=Count("pk"), amount=Sum("confirmed_amount")).order_by("-n", "provider_id")[:TOP])

    def months(rows):
        return [month_bounds(_as_date(row["month"])) for row in rows]

    return [
        Table(
            "spending_by_month", _("Fund spending by month"),
            (_("Month"), *(str(fund.label) for fund in FUNDS), _("personal account"), _("all funds"), _("Number of settlements")),
            tuple((month_label(_as_date(row["month"])), *(to_fen(row[f"fund_{fund.name}"] or ZERO) for fund in FUNDS),
                   to_fen(row["account"] or ZERO), to_fen(row["all_funds"] or ZERO), row["visits"]) for row in by_month),
            tuple(claims_link(first, last) for first, last in months(by_month)),
        ),
        Table(
            "spending_by_level", _("Fund spending by provider level"),
            (_("policy level applied"), _("all funds"), _("Number of settlements")),
            tuple((level_label(row["provider_level"]), to_fen(row["fund"] or ZERO), row["visits"]) for row in by_level),
            tuple(claims_link(start, end, provider_level=_level_param(row["provider_level"])) for row in by_level),
        ),
        Table(
            "spending_by_benefit", _("Fund spending by benefit"),
            (_("benefit"), _("pooled fund"), _("Number of settlements")),
            tuple((str(benefit_labels.get(row["benefit"], row["benefit"])), to_fen(row["fund"] or ZERO), row["visits"])
                  for row in by_benefit),
            tuple(claims_link(start, end, benefit__exact=row["benefit"]) for row in by_benefit),
            pie=True,
        ),
        Table(
            "flags_by_rule", _("Flags by rule"), (_("rule"), _("flags")),
            tuple((rules[row["rule_id"]].title, row["n"]) for row in by_rule),
            tuple(flags_link(rule__id__exact=row["rule_id"], day__year=year) for row in by_rule),
        ),
        Table(
            "flags_by_month", _("Flags by month"), (_("Month"), _("flags")),
            tuple((month_label(_as_date(row["month"])), row["n"]) for row in flags_by_month),
            tuple(flags_link(day__year=year, day__month=_as_date(row["month"]).month) for row in flags_by_month),
        ),
        Table(
            "top_cost_per_visit", _("Highest cost per visit"),
            (_("Provider"), _("Number of settlements"), _("total"), _("cost per visit")),
            # The database orders by cost per visit; the figure shown is divided here, in Decimal.
            tuple((f"{row['provider__code']} {row['provider__name']}", row["visits"], to_fen(row["total"]),
                   to_fen(row["total"] / row["visits"])) for row in cost),
            tuple(claims_link(start, end, provider__id__exact=row["provider_id"]) for row in cost),
        ),
        Table(
            "top_violations", _("Most confirmed violations"),
            (_("Provider"), _("confirmed violations"), _("confirmed amount")),
            tuple((f"{row['provider__code']} {row['provider__name']}", row["n"], to_fen(row["amount"] or ZERO))
                  for row in violations),
            tuple(flags_link(provider__id__exact=row["provider_id"], stage="confirmed", day__year=year)
                  for row in violations),
        ),
    ]


def _as_date(value) -> date:
    # TruncMonth of a DateField gives a date (a datetime on some backends).
    return value.date() if hasattr(value, "date") else value


def chart_data(tables: list[Table]) -> dict:
    """The charts' JSON (json_script on the page): labels, series and the link behind each bar."""
    by_key = {table.key: table for table in tables}

    def column(key, index):
        return [row[index] for row in by_key[key].rows]

    def labels(key):
        return [str(row[0]) for row in by_key[key].rows]

    funds = len(FUNDS)
    return {
        "spending_by_month": {
            "labels": labels("spending_by_month"),
            "fund": [_money(value) for value in column("spending_by_month", funds + 2)],
            "funds": [{"name": fund.name, "label": str(fund.label),
                       "data": [_money(value) for value in column("spending_by_month", 1 + position)]}
                      for position, fund in enumerate(FUNDS)],
            "account": [_money(value) for value in column("spending_by_month", funds + 1)],
            "links": list(by_key["spending_by_month"].links),
        },
        # Chronic and special diseases are their own benefit (issue 14).
        "spending_by_benefit": {
            "labels": labels("spending_by_benefit"),
            "fund": [_money(value) for value in column("spending_by_benefit", 1)],
            "visits": column("spending_by_benefit", 2),
            "links": list(by_key["spending_by_benefit"].links),
        },
        "spending_by_level": {
            "labels": labels("spending_by_level"),
            "fund": [_money(value) for value in column("spending_by_level", 1)],
            "links": list(by_key["spending_by_level"].links),
        },
        "flags_by_rule": {"labels": labels("flags_by_rule"), "counts": column("flags_by_rule", 1),
                          "links": list(by_key["flags_by_rule"].links)},
        "flags_by_month": {"labels": labels("flags_by_month"), "counts": column("flags_by_month", 1),
                           "links": list(by_key["flags_by_month"].links)},
        "top_cost_per_visit": {
            "labels": labels("top_cost_per_visit"),
            "values": [_money(value) for value in column("top_cost_per_visit", 3)],
            "links": list(by_key["top_cost_per_visit"].links),
        },
        "top_violations": {"labels": labels("top_violations"), "counts": column("top_violations", 1),
                           "links": list(by_key["top_violations"].links)},
    }


def dashboard_data(year: int) -> dict:
    return chart_data(dashboard_tables(year))
