"""Exports of statements and settlements: XLSX (openpyxl) and CSV; rendering only, no logic."""

import csv
from io import BytesIO

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from core.exports import safe_row
from core.idnumber import mask_id_number
from core.money import ZERO, to_capital
from core.people import person_name

from ..funds import FUND_FIELDS, FUNDS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def statement_rows(statement, methods: bool | None = None) -> list[tuple[str, object]]:
    """(label, value) lines of a statement, in the order printed and exported. The payment
    methods' lines are there for a statement paid by any method but per item (or with
    `methods`, for an export of several statements sharing one header row)."""
    rows = _statement_rows(statement)
    if statement.payment_methods if methods is None else methods:
        at = next(index for index, (label, _value) in enumerate(rows) if label == _("Deductions"))
        rows[at:at] = _method_rows(statement)
    return rows + _benefit_rows(statement)


def _method_rows(statement) -> list[tuple[str, object]]:
    """Zaozhuang 第十六条, Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六): the funds as the
    agreement's terms pay them (claims/statements/payment_methods.py)."""
    return [
        (_("Payment methods"), statement.method_labels),
        (_("Funds paid per item"), statement.per_item_fund),
        (_("Funds counted against the budget"), statement.budget_actual),
        (_("Month's share of the budget"), statement.budget_share),
        (_("Paid within the budget"), statement.budget_paid),
        (_("Quality deposit withheld"), -statement.deposit_withheld),
        (_("Registered members (capitation)"), statement.capitation_members),
        (_("Capitation"), statement.capitation_amount),
        (_("Per-disease cases"), statement.per_disease_cases),
        (_("Per-disease payment"), statement.per_disease_amount),
        (_("Separately paid drugs"), statement.separately_paid),
    ]


def _benefit_rows(statement) -> list[tuple[str, object]]:
    """The breakdown by benefit (chronic and special diseases are their own benefit)."""
    from claims.models import Claim

    from .services import statement_by_benefit

    # Every benefit, in a fixed order (an export of several statements shares one header row).
    found = {item["benefit"]: item for item in statement_by_benefit(statement)}
    rows = []
    for benefit, label in Claim.Benefit.choices:
        # A benefit without settlements: amounts to the fen (0.00 printed, as every money line), never 0.
        item = found.get(benefit, {"count": 0, "fund": ZERO, "accounts": ZERO})
        rows += [
            (_("%(benefit)s: settlements") % {"benefit": label}, item["count"]),
            (_("%(benefit)s: fund paid, net of reversals") % {"benefit": label}, item["fund"]),
            (_("%(benefit)s: accounts paid, net of reversals") % {"benefit": label}, item["accounts"]),
        ]
    return rows


def _statement_rows(statement) -> list[tuple[str, object]]:
    return [
        (_("Provider"), statement.payee),
        (_("Month"), f"{statement.month:%Y-%m}"),
        (_("Status"), str(statement.get_status_display())),
        (_("Settlements"), statement.settlement_count),
        (_("Total medical cost"), statement.total),
        *((str(fund.paid_label), getattr(statement, fund.field)) for fund in FUNDS),
        (_("Personal account paid"), statement.account),
        (_("Family-sharing account paid"), statement.family_account),
        (_("Cash paid by members"), statement.cash),
        (_("Reversals"), statement.reversal_count),
        (_("Total reversed"), -statement.reversed_total),
        *((str(fund.reversed_label), -getattr(statement, fund.reversed_field)) for fund in FUNDS),
        (_("Personal account reversed"), -statement.reversed_account),
        (_("Family-sharing account reversed"), -statement.reversed_family_account),
        (_("Cash reversed"), -statement.reversed_cash),
        (_("Deductions"), -statement.deductions_total),
        (_("Amount payable (funds + accounts − deductions)"), statement.payable),
        (_("Generated at"), timezone.localtime(statement.generated_at).strftime("%Y-%m-%d %H:%M")),
        (_("Amount payable (in capitals)"), to_capital(statement.payable)),
        (_("Prepared by"), person_name(statement.generated_by)),
        (_("Approved by"), person_name(statement.approved_by) if statement.approved_by_id else ""),
        (_("Payment recorded by"), person_name(statement.paid_by) if statement.paid_by_id else ""),
        (_("Payment reference"), statement.payment_reference),
    ]


def statements_xlsx(statements, filename: str, settlements=None) -> HttpResponse:
    """Statements, their deductions, and (for one statement) every settlement behind its totals."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Statements")[:31]
    statements = list(statements)
    # One header row: the methods' columns when any statement of the export has them.
    methods = any(statement.payment_methods for statement in statements)
    if statements:
        sheet.append(safe_row([label for label, _value in statement_rows(statements[0], methods)]))
    for statement in statements:
        sheet.append(safe_row([value for _label, value in statement_rows(statement, methods)]))
    deductions = workbook.create_sheet(_("Deductions")[:31])
    deductions.append([_("Provider"), _("Month"), _("Amount"), _("Reason"), _("Source"), _("Decided on")])
    for statement in statements:
        for deduction in statement.deductions.all():
            deductions.append(safe_row([statement.file_key, f"{statement.month:%Y-%m}", deduction.amount,
                                        deduction.reason, deduction.source_label(), deduction.decided_on]))
    if settlements is not None:
        listing = workbook.create_sheet(_("Settlements")[:31])
        listing.append([str(heading) for heading in settlement_headings()] + [_("Counted in this statement as")])
        start, end = statement_month_bounds(statements[0])
        for claim in settlements.iterator(chunk_size=2000):
            counted = [_("settled") if start <= claim.settled_at < end else None,
                       _("reversed") if claim.reversed_at and start <= claim.reversed_at < end else None]
            listing.append(safe_row(_settlement_values(claim) + ["、".join(str(c) for c in counted if c)]))
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                if hasattr(cell.value, "as_tuple"):  # Decimal money: two decimals shown
                    cell.number_format = "#,##0.00"
    return _xlsx_response(workbook, filename)


def _xlsx_response(workbook, filename: str) -> HttpResponse:
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


SETTLEMENT_COLUMNS = ("settlement_id", "external_ref", "settled_at", "visit_date", "member", "status",
                      "total", *FUND_FIELDS, "account", "family_account", "cash", "reversed_at")


def settlement_headings() -> list:
    """The settlement columns as people read them (the CSV keeps the plain column names)."""
    return [
        _("settlement ID"), _("provider's transaction number"), _("settled at"), _("visit date"), _("member"),
        _("status"), _("total"), *(fund.label for fund in FUNDS), _("personal account"), _("family-sharing account"), _("cash"),
        _("reversed at"),
    ]


def statement_month_bounds(statement):
    from .services import local_bounds, month_end

    return local_bounds(statement.month, month_end(statement.month))


def _settlement_values(claim) -> list:
    return [
        claim.pk, claim.external_ref, timezone.localtime(claim.settled_at).strftime("%Y-%m-%d %H:%M:%S"),
        claim.visit_date.isoformat(), mask_id_number(claim.member.id_number), str(claim.get_status_display()),
        claim.total, *(getattr(claim, field) for field in FUND_FIELDS), claim.account, claim.family_account, claim.cash,
        timezone.localtime(claim.reversed_at).strftime("%Y-%m-%d %H:%M:%S") if claim.reversed_at else "",
    ]


class _Echo:
    def write(self, value):
        return value


def settlements_csv(claims, filename: str) -> StreamingHttpResponse:
    """Streamed, read in chunks: a provider's export may be large."""
    writer = csv.writer(_Echo())

    def rows():
        yield "\ufeff"  # BOM: Excel opens UTF-8 CSV with Chinese correctly
        yield writer.writerow(SETTLEMENT_COLUMNS)
        for claim in claims.iterator(chunk_size=2000):
            yield writer.writerow(safe_row(_settlement_values(claim)))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def settlements_xlsx(claims, filename: str, headings: bool = False) -> HttpResponse:
    """Settlements, streamed from the database in chunks; `headings`: column titles in the
    reader's language (the admin), else the plain column names (the provider's export)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Settlements")[:31])
    sheet.append([str(h) for h in settlement_headings()] if headings else list(SETTLEMENT_COLUMNS))
    for claim in claims.iterator(chunk_size=2000):
        sheet.append(safe_row(_settlement_values(claim)))
    return _xlsx_response(workbook, filename)


def year_end_rows(settlement) -> list[tuple[str, object]]:
    """(label, value) lines of a year-end settlement (年度清算), in the order printed and exported."""
    return [
        (_("Provider"), f"{settlement.provider.code} {settlement.provider.name}"),
        (_("Year"), settlement.year),
        (_("Status"), str(settlement.get_status_display())),
        (_("Monthly statements"), settlement.months),
        (_("Yearly budget"), settlement.budget),
        (_("Funds counted against the budget"), settlement.budget_actual),
        (_("Overrun"), settlement.overrun),
        (_("Overrun paid by the agency"), settlement.overrun_agency),
        (_("Underrun"), settlement.underrun),
        (_("Underrun kept by the provider"), settlement.underrun_retained),
        (_("Paid by the budget for the year"), settlement.recognised),
        (_("Paid monthly within the budget"), -settlement.budget_paid),
        (_("Budget balance due"), settlement.budget_balance),
        (_("Quality deposit withheld"), settlement.deposit_withheld),
        (_("Credit grade"), settlement.credit_grade or "—"),
        (_("Credit score"), settlement.credit_score if settlement.credit_score is not None else "—"),
        (_("Assessment result (%)"), settlement.assessment_percent),
        (_("Deposit returned (%)"), settlement.deposit_return_percent),
        (_("Deposit returned"), settlement.deposit_returned),
        (_("Deposit forfeited"), settlement.deposit_forfeited),
        (_("Amount payable (budget balance + deposit returned)"), settlement.payable),
        (_("Amount payable (in capitals)"), to_capital(settlement.payable)),
        (_("Prepared by"), person_name(settlement.prepared_by)),
        (_("Approved by"), person_name(settlement.approved_by) if settlement.approved_by_id else ""),
        (_("Payment recorded by"), person_name(settlement.paid_by) if settlement.paid_by_id else ""),
        (_("Payment reference"), settlement.payment_reference),
    ]


def year_end_xlsx(settlements, filename: str) -> HttpResponse:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Year-end settlements")[:31]
    settlements = list(settlements)
    if settlements:
        sheet.append(safe_row([label for label, _value in year_end_rows(settlements[0])]))
    for settlement in settlements:
        sheet.append(safe_row([value for _label, value in year_end_rows(settlement)]))
    for row in sheet.iter_rows():
        for cell in row:
            if hasattr(cell.value, "as_tuple"):
                cell.number_format = "#,##0.00"
    return _xlsx_response(workbook, filename)
