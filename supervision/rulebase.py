"""Reading the national rule library spreadsheets (国家医保智能监管 规则库) into the knowledge base.

The format is that of the published batches (see shared/data/rulebase/README.md):
- batch 1 (限定性别): Sheet1 药品通用名 | 药品说明 | 限定类型 | 限定对象 (男/女);
  Sheet2 药品通用名 | 序号 | 药品代码 | 限定类型 — every code's drug must be on Sheet1;
- batch 7 (重复收费): 序号 | 频度 | 主项名称 | 主项编码 | 从项名称 | 从项编码 | 备注;
- batch 8-1 (限定频次): 序号 | 项目名称 | 限制数量 | 数量单位 | 项目编码.
The batch is recognised from the headers. The whole file is checked before anything is written;
a problem is reported as `row N, column C: reason` (spreadsheet row numbers, header = row 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils.translation import gettext as _

from core.errors import echo
from core.imports.pipeline import (
    ImportLimits,
    ImportRefused,
    cell_text,
    check_cells,
    check_size,
    check_xlsx_archive,
)

from .models import FrequencyLimit, RepeatedChargePair, RulebaseBatch, SexRestrictedDrug

BATCH_HEADERS = {
    RulebaseBatch.SEX_RESTRICTED: {"药品通用名", "限定对象"},
    RulebaseBatch.REPEATED_CHARGE: {"频度", "主项编码", "从项编码"},
    RulebaseBatch.FREQUENCY_LIMIT: {"限制数量", "数量单位", "项目编码"},
}
SEX = {"男": "M", "女": "F"}
FOOTERS = ("合计", "备注")


class RulebaseInvalid(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors[:5]))


@dataclass
class Parsed:
    batch: str
    objects: list


def _described(error) -> str:
    """A refusal of the pipeline: the file's (row 0) as its reason, a cell's naming row and column."""
    return error.reason if error.row == 0 else str(error)


def _checked_stream(source, limits: ImportLimits):
    """The file as a binary stream, refused first (as every import is) when it is larger than
    IMPORT_MAX_BYTES or not an .xlsx that unpacks within bounds (core.imports.pipeline)."""
    stream = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115
    name = Path(source).name if isinstance(source, str | Path) else getattr(source, "name", "") or ""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    try:
        check_size(name, size, limits)
        check_xlsx_archive(stream, name, limits)
    except ImportRefused as refused:
        if stream is not source:
            stream.close()
        raise RulebaseInvalid([_described(error) for error in refused.errors]) from None
    stream.seek(0)
    return stream


def _sheets(source) -> list[tuple[str, list[tuple]]]:
    import openpyxl

    limits = ImportLimits.from_settings()
    stream = _checked_stream(source, limits)
    try:
        try:
            book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is one refusal
            raise RulebaseInvalid([_("The file is not a readable .xlsx spreadsheet (%(error)s).") % {"error": echo(error)}]) from None
        try:
            return [(sheet.title, _rows(sheet, limits)) for sheet in book.worksheets]
        except ImportRefused as refused:  # a cell over IMPORT_MAX_CELL_CHARS
            raise RulebaseInvalid([_described(error) for error in refused.errors]) from None
        finally:
            book.close()
    finally:
        if stream is not source:
            stream.close()


def _rows(sheet, limits: ImportLimits) -> list[tuple]:
    rows = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        check_cells(number, [cell if isinstance(cell, str) else "" for cell in row], [], limits)
        rows.append(tuple(row))
        if len(rows) > limits.max_rows + 1:  # the header, then at most IMPORT_MAX_ROWS rows
            raise RulebaseInvalid([_("Sheet %(sheet)s has more than %(limit)s data rows (IMPORT_MAX_ROWS).")
                                   % {"sheet": sheet.title, "limit": f"{limits.max_rows:,}"}])
    return rows


def _header(rows) -> list[str]:
    return [cell_text(cell) for cell in rows[0]] if rows else []


def detect_batch(headers: list[str]) -> str | None:
    present = set(headers)
    for batch, needed in BATCH_HEADERS.items():
        if needed <= present:
            return batch
    return None


def _records(rows, headers):
    """(spreadsheet row number, {header: text}) for the non-blank rows under the header."""
    for number, row in enumerate(rows[1:], start=2):
        values = {header: cell_text(value) for header, value in zip(headers, row, strict=False) if header}
        first = next((text for text in values.values() if text), "")
        # The published files end with a total and a note (合计, 备注：…): not data.
        if first and not first.startswith(FOOTERS):
            yield number, values


def _error(errors, sheet_prefix, number, column, reason):
    errors.append(_("%(sheet)srow %(row)s, column %(column)s: %(reason)s") % {
        "sheet": sheet_prefix, "row": number, "column": column, "reason": reason})


def _required(errors, prefix, number, values, column):
    value = values.get(column, "")
    if not value:
        _error(errors, prefix, number, column, _("required"))
    return value


def parse(source, batch: str | None = None) -> Parsed:
    """Read and check a whole spreadsheet; raise RulebaseInvalid listing every problem."""
    sheets = _sheets(source)
    if not sheets:
        raise RulebaseInvalid([_("The spreadsheet has no sheet.")])
    headers = _header(sheets[0][1])
    detected = detect_batch(headers)
    if detected is None:
        raise RulebaseInvalid([_("row 1: the headers are not those of batch 1, 7 or 8-1 of the national rule library.")])
    if batch is not None and str(batch) != detected:
        raise RulebaseInvalid([_("row 1: the headers are those of batch %(found)s, not batch %(given)s.") % {
            "found": detected, "given": batch}])
    parser = {RulebaseBatch.SEX_RESTRICTED: _batch_1, RulebaseBatch.REPEATED_CHARGE: _batch_7,
              RulebaseBatch.FREQUENCY_LIMIT: _batch_8_1}[detected]
    errors: list[str] = []
    objects = parser(sheets, errors)
    if errors:
        raise RulebaseInvalid(errors)
    return Parsed(detected, objects)


def _batch_1(sheets, errors) -> list[SexRestrictedDrug]:
    title, rows = sheets[0]
    headers = _header(rows)
    drugs: dict[str, tuple[str, str]] = {}
    for number, values in _records(rows, headers):
        name = _required(errors, "", number, values, "药品通用名")
        sex = values.get("限定对象", "")
        if sex not in SEX:
            _error(errors, "", number, "限定对象", _("must be 男 or 女, not %(value)r") % {"value": echo(sex)})
            continue
        if name in drugs and drugs[name][0] != SEX[sex]:
            _error(errors, "", number, "药品通用名", _("listed before with the other sex"))
        if name:
            drugs[name] = (SEX[sex], values.get("药品说明", ""))
    code_sheets = [(t, r) for t, r in sheets[1:] if "药品代码" in _header(r)]
    if not code_sheets:
        errors.append(_("The sheet of national drug codes (药品代码) is missing."))
        return []
    code_title, code_rows = code_sheets[0]
    prefix = f"{code_title} "
    objects, seen = [], set()
    for number, values in _records(code_rows, _header(code_rows)):
        name = _required(errors, prefix, number, values, "药品通用名")
        code = _required(errors, prefix, number, values, "药品代码")
        if not (name and code):
            continue
        if name not in drugs:
            _error(errors, prefix, number, "药品通用名", _("not on the first sheet"))
            continue
        if code in seen:
            _error(errors, prefix, number, "药品代码", _("duplicate code %(code)s") % {"code": echo(code)})
            continue
        seen.add(code)
        sex, description = drugs[name]
        objects.append(SexRestrictedDrug(drug_code=code, generic_name=name, sex=sex, description=description))
    return objects


def _number(errors, number, values, column, *, required=True) -> int | None:
    text = values.get(column, "")
    if not text:
        if required:
            _error(errors, "", number, column, _("required"))
        return None
    try:
        return int(text)
    except ValueError:
        _error(errors, "", number, column, _("not a whole number: %(value)r") % {"value": echo(text)})
        return None


def _batch_7(sheets, errors) -> list[RepeatedChargePair]:
    _title, rows = sheets[0]
    periods = set(RepeatedChargePair.Period.values)
    objects, seen = [], set()
    for number, values in _records(rows, _header(rows)):
        serial = _number(errors, number, values, "序号", required=False)
        period = values.get("频度", "")
        if period not in periods:
            _error(errors, "", number, "频度", _("unknown period %(value)r") % {"value": echo(period)})
        main = _required(errors, "", number, values, "主项编码")
        included = _required(errors, "", number, values, "从项编码")
        key = (main, included, period)
        if main and included and key in seen:
            _error(errors, "", number, "从项编码", _("the same pair is listed twice"))
        seen.add(key)
        objects.append(RepeatedChargePair(
            number=serial or number - 1, period=period, main_code=main, main_name=values.get("主项名称", ""),
            included_code=included, included_name=values.get("从项名称", ""), note=values.get("备注", ""),
        ))
    return objects


def _batch_8_1(sheets, errors) -> list[FrequencyLimit]:
    _title, rows = sheets[0]
    units = set(FrequencyLimit.Unit.values)
    objects, seen = [], set()
    for number, values in _records(rows, _header(rows)):
        serial = _number(errors, number, values, "序号", required=False)
        code = _required(errors, "", number, values, "项目编码")
        unit = values.get("数量单位", "")
        if unit not in units:
            _error(errors, "", number, "数量单位", _("unknown unit %(value)r") % {"value": echo(unit)})
        text = values.get("限制数量", "")
        try:
            max_count = Decimal(text)
            if max_count <= 0:
                raise InvalidOperation
        except InvalidOperation:
            _error(errors, "", number, "限制数量", _("not a positive number: %(value)r") % {"value": echo(text)})
            max_count = None
        if code and code in seen:
            _error(errors, "", number, "项目编码", _("duplicate code %(code)s") % {"code": echo(code)})
        seen.add(code)
        objects.append(FrequencyLimit(number=serial or number - 1, item_code=code, item_name=values.get("项目名称", ""),
                                      max_count=max_count or 0, unit=unit))
    return objects
