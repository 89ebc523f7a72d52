"""The supervision dashboard as a spreadsheet (XLSX, openpyxl): the summary, then one sheet per
chart with the rows the page's tables show. Rendering only: the figures are
supervision.dashboard's; every cell goes through core.exports.safe_row."""

from io import BytesIO

from django.http import HttpResponse
from django.utils.translation import gettext as _
from openpyxl import Workbook

from core.exports import safe_row

from .dashboard import Summary, Table, summary_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Characters a sheet title may not hold (Excel), and its length.
_NOT_IN_TITLES = str.maketrans({character: " " for character in "[]:*?/\\"})


def _title(text: str) -> str:
    return str(text).translate(_NOT_IN_TITLES)[:31]


def dashboard_xlsx(summary: Summary, tables: list[Table], filename: str) -> HttpResponse:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _title(_("Summary"))
    sheet.append(safe_row([_("Supervision dashboard"), summary.year]))
    for label, value in summary_rows(summary):
        sheet.append(safe_row([label, value]))
    for table in tables:
        sheet = workbook.create_sheet(_title(table.title))
        sheet.append(safe_row([str(header) for header in table.headers]))
        for row in table.rows:
            sheet.append(safe_row(list(row)))
        if table.empty:
            sheet.append([_("No data")])
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                if hasattr(cell.value, "as_tuple"):  # Decimal money: two decimals shown
                    cell.number_format = "#,##0.00"
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
