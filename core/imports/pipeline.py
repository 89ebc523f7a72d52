"""Bulk imports of base data from case workers' spreadsheets (CSV and XLSX).

One pipeline for every kind of import, shared by the management commands and the
admin (django-import-export resources):

1. **Read** (`read_table`, `table_from_dataset`): CSV in UTF-8 (with or without BOM),
   GBK/GB18030 as Excel writes it or UTF-16 with a BOM, or the first sheet of an XLSX
   workbook; every cell becomes a stripped string (dates as ISO dates, numbers without float
   noise). Within `IMPORT_MAX_BYTES` and `IMPORT_MAX_ROWS`, checked before the file is read
   whole; a file that cannot be read is refused as a whole (`ImportRefused`, row 0 = the file).
2. **Map headers**: English keys of CONTRACT.md or their Chinese labels (one table per
   import, `Importer.columns`).
3. **Parse** each row with the importer's pure `parse_row(raw) -> (values, problems)`:
   no database, so the admin and the commands validate identically and the parsers are
   trivially testable. Duplicate keys within the file are errors.
4. **Plan** against the database (`Importer.plan`): existing keys fetched in chunks,
   cross-row rules (a spouse at most, the Ziyang scheme rule, parents of internet
   hospitals...), each row classified created / updated / unchanged.
5. **Apply** in bulk (`bulk_create_with_history` / `bulk_update_with_history`), all in one
   transaction; a file with any bad row writes nothing, and a dry run rolls back.

Errors read `row N, column C: reason`, N being the spreadsheet's row (header = row 1).
"""

from __future__ import annotations

import csv
import io
import re
import time as clocks
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from core.audit_actions import AuditAction
from core.errors import echo
from core.idnumber import normalize_id_number, parse_id_number

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


# --------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class RowError:
    """One problem of one row: `row N, column C: reason` (header = row 1, row 0 = the file)."""

    row: int
    column: str  # as written in the file's header (or the English key if the column is absent)
    reason: str

    def contract_line(self) -> str:
        """The line the import commands print, in the fixed form of CONTRACT.md that operators'
        scripts parse (`row N, column C: reason`); only the reason is in the user's language."""
        if not self.column:
            return f"row {self.row}: {self.reason}"
        return f"row {self.row}, column {self.column}: {self.reason}"

    def __str__(self):
        if not self.column:
            return _("row %(row)s: %(reason)s") % {"row": self.row, "reason": self.reason}
        return _("row %(row)s, column %(column)s: %(reason)s") % {
            "row": self.row, "column": self.column, "reason": self.reason,
        }


class ImportRefused(Exception):
    """Raised by callers that prefer an exception; carries every RowError."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# --------------------------------------------------------------------------------------
# Reading files
#
# Nothing is read whole before it is known to fit (IMPORT_MAX_BYTES, IMPORT_MAX_ROWS in
# settings): a file's size comes from the file system or the upload; an .xlsx is refused from
# its zip directory alone when it would unpack to far more than that (zipfile never inflates a
# part beyond the size the directory declares, so the check bounds what openpyxl can read);
# rows are counted while they stream and the file is refused as soon as the count passes.

# A spreadsheet's XML unpacks to 10-15 times its .xlsx size. openpyxl streams the sheets in
# read-only mode but parses the other parts (shared strings, styles) whole.
XLSX_UNPACKED_RATIO = 10
XLSX_MAX_PARTS = 1000  # a workbook has a dozen; the zip directory itself is held in memory
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls, or an encrypted workbook

# The name of the file the admin is importing (set by core.imports.admin around a request),
# so that the admin's formats, which django-import-export calls with the bytes only, can name it.
upload_name: ContextVar[str] = ContextVar("upload_name", default="")


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int
    max_rows: int
    max_cell_chars: int = 10_000  # IMPORT_MAX_CELL_CHARS

    @classmethod
    def from_settings(cls) -> ImportLimits:
        from django.conf import settings

        return cls(max_bytes=settings.IMPORT_MAX_BYTES, max_rows=settings.IMPORT_MAX_ROWS,
                   max_cell_chars=settings.IMPORT_MAX_CELL_CHARS)

    @property
    def max_unpacked_bytes(self) -> int:
        return self.max_bytes * XLSX_UNPACKED_RATIO


@dataclass
class Table:
    """Headers and an iterator of (spreadsheet row number, cells as strings)."""

    headers: list[str]
    rows: Iterable[tuple[int, list[str]]]
    total: int | None = None  # data rows, when known (progress bar)
    close: Callable[[], None] | None = None  # releases the open workbook, if the rows were not all read

    def release(self) -> None:
        if self.close is not None:
            self.close()


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _refused(reason: str, row: int = 0) -> ImportRefused:
    return ImportRefused([RowError(row, "", reason)])


def _label(name: str) -> str:
    return name or upload_name.get() or _("The file")


def check_size(name: str, size: int, limits: ImportLimits) -> None:
    """Refuse a file larger than IMPORT_MAX_BYTES (before anything reads it)."""
    if size > limits.max_bytes:
        raise _refused(_("%(file)s is %(size)s (%(bytes)s bytes); the limit is %(limit)s (IMPORT_MAX_BYTES): "
                         "split it into smaller files.") % {
            "file": _label(name), "size": human_size(size), "bytes": f"{size:,}", "limit": human_size(limits.max_bytes)})


def _too_many_rows(name: str, number: int, limits: ImportLimits) -> ImportRefused:
    return _refused(_("%(file)s has more than %(limit)s data rows (IMPORT_MAX_ROWS): split it into smaller files.")
                    % {"file": _label(name), "limit": f"{limits.max_rows:,}"}, row=number)


def cell_too_long(number: int, column: str, limits: ImportLimits) -> ImportRefused:
    """The file refused for one cell longer than IMPORT_MAX_CELL_CHARS, naming its row and column."""
    return ImportRefused([RowError(number, column, _(
        "The cell holds more than %(limit)s characters (IMPORT_MAX_CELL_CHARS): the file is refused.")
        % {"limit": f"{limits.max_cell_chars:,}"})])


def column_letter(position: int) -> str:
    """A column's spreadsheet letter (0 → A, 26 → AA)."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def check_cells(number: int, cells: list[str], headers: list[str], limits: ImportLimits) -> None:
    """Refuse the file at the first cell of this row longer than IMPORT_MAX_CELL_CHARS, naming the
    row and the column (its header, cut, or its letter)."""
    if cells and max(map(len, cells)) > limits.max_cell_chars:
        position = next(i for i, cell in enumerate(cells) if len(cell) > limits.max_cell_chars)
        header = headers[position] if position < len(headers) and number != 1 else ""
        raise cell_too_long(number, echo(header) if header else column_letter(position), limits)


def _empty(name: str) -> ImportRefused:
    return _refused(_("%(file)s is empty.") % {"file": _label(name)})


def decode_csv_bytes(data: bytes, name: str = "") -> str:
    """CSV text: UTF-16 or UTF-32 with a BOM (Excel's "Unicode text"), UTF-8 with or without BOM,
    otherwise GB18030 (a superset of GBK, what Chinese Excel writes). Binary data is refused,
    naming what it looks like when it is a workbook."""
    label = _label(name)
    if not data:
        raise _empty(name)
    text = None
    for bom, encoding in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                          (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)  # the codec reads the BOM's byte order and drops it
            except UnicodeDecodeError:
                raise _refused(_("%(file)s starts like UTF-16 text but is not.") % {"file": label}) from None
            break
    if text is None:
        if data.startswith(_ZIP_MAGIC):
            raise _refused(_("%(file)s is a zip archive (an .xlsx workbook?), not CSV text: give it the .xlsx "
                             "extension, or save it as CSV.") % {"file": label})
        if data.startswith(_OLE_MAGIC):
            raise _refused(_("%(file)s is an Excel 97-2003 (.xls) or password-protected workbook, not CSV text: "
                             "save it as .xlsx or CSV without a password.") % {"file": label})
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise _refused(_("%(file)s is not text in UTF-8, UTF-16 or GBK: save the spreadsheet as CSV or .xlsx.")
                           % {"file": label})
    if "\x00" in text:
        raise _refused(_("%(file)s contains binary data, not CSV text: save the spreadsheet as CSV or .xlsx.")
                       % {"file": label})
    if not text.strip():
        raise _empty(name)
    return text


_FLOAT_NOISE = re.compile(r"^-?\d+\.0$")


def cell_text(value: Any) -> str:
    """A cell as a stripped string: dates ISO, whole floats without `.0`, booleans as 是/否."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        if _FLOAT_NOISE.match(text):
            text = text[:-2]
        return text
    return str(value).strip()


def csv_table(text: str, name: str = "", limits: ImportLimits | None = None) -> Table:
    """Comma-separated, or tab-separated when the header has tabs and no comma (Excel's "Unicode
    text" and "Text (tab delimited)" exports)."""
    limits = limits or ImportLimits.from_settings()
    first_line = text[:text.find("\n")] if "\n" in text else text
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    buffer = io.StringIO(text)
    reader = csv.reader(buffer, delimiter=delimiter)
    headers: list[str] = []

    def unreadable(number: int, error: csv.Error, start: int) -> ImportRefused:
        if "field larger than field limit" in str(error):  # a cell over csv's own 131,072 characters
            position = _long_field(text, start, delimiter, limits.max_cell_chars)
            if position is not None:
                header = headers[position] if position < len(headers) else ""
                return cell_too_long(number, echo(header) if header else column_letter(position), limits)
        return _refused(_("This row cannot be read as CSV (%(reason)s).") % {"reason": echo(error)}, row=number)

    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _empty(name) from None
    except csv.Error as error:
        raise unreadable(1, error, 0) from None
    check_cells(1, headers, headers, limits)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)

    def rows():
        number = 1
        while True:
            start = buffer.tell()
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise unreadable(number + 1, error, start) from None
            number += 1
            if number - 1 > limits.max_rows:
                raise _too_many_rows(name, number, limits)
            cells = [cell.strip() for cell in row]
            check_cells(number, cells, headers, limits)
            yield number, cells

    return Table(headers, rows(), max(lines - 1, 0))


def _long_field(text: str, start: int, delimiter: str, limit: int) -> int | None:
    """The position (from 0) of the first field longer than `limit` in the CSV record starting at
    `start`, read with regular expressions (C speed over a field of megabytes), or None."""
    field = re.compile(rf'"[^"]*(?:""[^"]*)*"|[^{re.escape(delimiter)}"\r\n]*')
    position, column = start, 0
    while position <= len(text):
        match = field.match(text, position)
        if len(match.group(0)) > limit:
            return column
        position = match.end()
        if text[position:position + 1] != delimiter:
            return None
        position, column = position + 1, column + 1
    return None


def check_xlsx_archive(stream: BinaryIO, name: str, limits: ImportLimits) -> None:
    """Refuse, from its first bytes and its zip directory alone, a file that is not an .xlsx or
    that would unpack to more than IMPORT_MAX_BYTES × XLSX_UNPACKED_RATIO (a decompression bomb)."""
    label = _label(name)
    not_xlsx = _("%(file)s is not an .xlsx workbook: save it from Excel as .xlsx or CSV.") % {"file": label}
    stream.seek(0)
    head = stream.read(8)
    if not head:
        raise _empty(name)
    if head.startswith(_OLE_MAGIC):
        raise _refused(_("%(file)s is an Excel 97-2003 (.xls) or password-protected workbook: save it as .xlsx or "
                         "CSV without a password.") % {"file": label})
    if not head.startswith(_ZIP_MAGIC):
        raise _refused(not_xlsx)
    try:
        end = zipfile._EndRecData(stream)  # the directory's end record: how many parts, before reading them
        if end is None or end[zipfile._ECD_ENTRIES_TOTAL] > XLSX_MAX_PARTS:
            raise _refused(not_xlsx)
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        # NotImplementedError: a part needing a zip feature Python lacks; RuntimeError: encrypted.
        raise _refused(not_xlsx) from None
    finally:
        stream.seek(0)
    if not any(part.filename == "[Content_Types].xml" for part in parts):
        raise _refused(not_xlsx)
    unpacked = sum(part.file_size for part in parts)
    if unpacked > limits.max_unpacked_bytes:
        raise _refused(_("%(file)s would unpack to %(size)s; the limit is %(limit)s (%(ratio)s × IMPORT_MAX_BYTES): "
                         "split it into smaller files.") % {
            "file": label, "size": human_size(unpacked), "limit": human_size(limits.max_unpacked_bytes),
            "ratio": XLSX_UNPACKED_RATIO})
    for part in parts:  # parsed whole by openpyxl, unlike the sheets
        if part.file_size > limits.max_bytes and not part.filename.startswith("xl/worksheets/"):
            raise _refused(_("%(file)s has a part (%(part)s) that would unpack to %(size)s; the limit is %(limit)s "
                             "(IMPORT_MAX_BYTES).") % {
                "file": label, "part": part.filename, "size": human_size(part.file_size),
                "limit": human_size(limits.max_bytes)})
    try:
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            _check_xlsx_text_runs(archive, parts, label, limits)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError, zlib.error):
        raise _refused(not_xlsx) from None
    finally:
        stream.seek(0)


# A cell's text in the sheet XML or the shared strings takes at most this many bytes a character
# (UTF-8 takes up to 4; an entity such as &quot; 6): a longer run of bytes without a "<" cannot be
# a cell within IMPORT_MAX_CELL_CHARS, and is refused before openpyxl builds it as one string.
XLSX_BYTES_PER_CHAR = 8
_SCAN_CHUNK = 256 * 1024
_CONTEXT = 512  # bytes kept before a text run: the <c r="B7" …> that names its cell
_SHARED_STRINGS = "xl/sharedStrings.xml"


def _long_text_run(reader: BinaryIO, bound: int) -> tuple[bytes, int] | None:
    """The first run of more than `bound` bytes without a "<" in the unpacked XML part, read in
    chunks (memory stays a few chunks whatever the part holds): (up to _CONTEXT bytes before the
    run, how many <si> shared-string items began before it), or None."""
    pattern = re.compile(rb"<[^<]{%d}" % (bound + 1))
    run, before, tail, items = 0, b"", b"", 0
    while chunk := reader.read(_SCAN_CHUNK):
        first = chunk.find(b"<")
        if first == -1:
            run += len(chunk)
            if run > bound:
                return before, items
            tail = (tail + chunk)[-_CONTEXT:]
            continue
        if run + first > bound:
            return before, items
        window = tail[-3:] + chunk  # an item tag split between two chunks is counted once
        match = pattern.search(chunk)
        if match:
            head = window[:3 + match.start() + 1]
            return (tail + chunk[:match.start() + 1])[-_CONTEXT:], items + head.count(b"<si>") + head.count(b"<si ")
        items += window.count(b"<si>") + window.count(b"<si ")
        last = chunk.rfind(b"<")
        run = len(chunk) - last - 1
        before = (tail + chunk[:last + 1])[-_CONTEXT:]
        tail = (tail + chunk)[-_CONTEXT:]
    return None


_CELL_REF = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})(\d{1,7})"')


def _cell_using_string(archive: zipfile.ZipFile, sheets: list[zipfile.ZipInfo], index: int):
    """(row, column letter) of the first cell of a sheet showing shared string `index`, or None."""
    pattern = re.compile(rb'<c\b([^>]*)>\s*<v>%d</v>' % index)
    for part in sheets:
        with archive.open(part) as reader:
            tail = b""
            while chunk := reader.read(_SCAN_CHUNK):
                window = tail + chunk
                for match in pattern.finditer(window):
                    attributes = match.group(1)
                    ref = re.search(rb'\br="([A-Z]{1,3})(\d{1,7})"', attributes)
                    if ref and re.search(rb'\bt="s"', attributes):
                        return int(ref.group(2)), ref.group(1).decode()
                tail = window[-_CONTEXT:]
    return None


def _check_xlsx_text_runs(archive: zipfile.ZipFile, parts: list[zipfile.ZipInfo], label: str,
                          limits: ImportLimits) -> None:
    """Refuse a workbook holding a cell far beyond IMPORT_MAX_CELL_CHARS before openpyxl reads it
    (openpyxl parses the shared strings whole, and each cell of a streamed sheet whole), naming
    the cell's row and column when a sheet shows it. Cells up to XLSX_BYTES_PER_CHAR times the
    limit are read and checked exactly as the rows stream (check_cells)."""
    bound = limits.max_cell_chars * XLSX_BYTES_PER_CHAR
    sheets = [part for part in parts if part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml")]
    strings = [part for part in parts if part.filename == _SHARED_STRINGS]
    for part in strings + sheets:
        if part.file_size <= bound:
            continue  # no run can be longer than the part
        with archive.open(part) as reader:
            found = _long_text_run(reader, bound)
        if found is None:
            continue
        before, items = found
        if part.filename == _SHARED_STRINGS:
            cell = _cell_using_string(archive, sheets, max(items - 1, 0))
        else:
            refs = _CELL_REF.findall(before)  # the last cell opened before the text: <c r="B7" …><is><t>
            cell = (int(refs[-1][1]), refs[-1][0].decode()) if refs else None
        if cell is None:
            raise _refused(_("%(file)s holds a text of more than %(limit)s characters (IMPORT_MAX_CELL_CHARS): "
                             "the file is refused.") % {"file": label, "limit": f"{limits.max_cell_chars:,}"})
        raise cell_too_long(cell[0], cell[1], limits)


def xlsx_table(source: str | Path | BinaryIO, name: str = "", limits: ImportLimits | None = None) -> Table:
    """The first sheet of a workbook (a path or a binary stream), streamed; rows are cut to the
    header's width. The workbook stays open until the rows are consumed."""
    import openpyxl

    limits = limits or ImportLimits.from_settings()
    if isinstance(source, (str, Path)):
        source = str(source)
        with open(source, "rb") as stream:
            check_xlsx_archive(stream, name, limits)
    else:
        check_xlsx_archive(source, name, limits)
    label = _label(name)

    def unreadable(error: Exception, number: int = 0) -> ImportRefused:
        return _refused(_("%(file)s cannot be read as an .xlsx workbook (%(reason)s).") % {
            "file": label, "reason": type(error).__name__}, row=number)

    book = None
    try:
        # read_only streams rows (100k rows without loading the sheet); data_only=False keeps
        # formulas as their text ("=SUM(...)") so that the parsers can refuse them.
        book = openpyxl.load_workbook(source, read_only=True, data_only=False)
        sheet = book.worksheets[0]
        header_row = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
        headers = [cell_text(v) for v in header_row]
        check_cells(1, headers, headers, limits)
    except (MemoryError, ImportRefused):
        raise
    except Exception as error:
        if book is not None:
            book.close()
        raise unreadable(error) from None
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        book.close()
        raise _empty(name)
    total = (sheet.max_row - 1) if sheet.max_row else None
    # A sheet's declared dimensions may be wrong (too few rows would drop data, too many
    # columns would pad every row): read every row, as wide as the header.
    sheet.reset_dimensions()

    def rows():
        number = 1
        try:
            for number, row in enumerate(sheet.iter_rows(min_row=2, max_col=len(headers), values_only=True), start=2):
                if number - 1 > limits.max_rows:
                    raise _too_many_rows(name, number, limits)
                cells = [cell_text(v) for v in row]
                check_cells(number, cells, headers, limits)
                yield number, cells
        except (ImportRefused, MemoryError):
            raise
        except Exception as error:
            raise unreadable(error, number + 1) from None
        finally:
            book.close()

    return Table(headers, rows(), total, close=book.close)


def read_table(path: str | Path, limits: ImportLimits | None = None) -> Table:
    """Open a `.csv` or `.xlsx` file by its extension, within the limits."""
    path = Path(path)
    limits = limits or ImportLimits.from_settings()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise _refused(_("Only .csv and .xlsx files can be imported."))
    check_size(path.name, path.stat().st_size, limits)
    if suffix == ".csv":
        return csv_table(decode_csv_bytes(path.read_bytes(), path.name), path.name, limits)
    return xlsx_table(path, path.name, limits)


def table_from_dataset(dataset) -> Table:
    """A tablib Dataset (the admin's upload) as a Table; its first data row is spreadsheet row 2."""
    headers = [cell_text(h) for h in (dataset.headers or [])]

    def rows():
        for index, row in enumerate(dataset, start=2):
            yield index, [cell_text(v) for v in row]

    return Table(headers, rows(), len(dataset))


def dataset_from_table(table: Table):
    """A Table as the tablib Dataset django-import-export wants: every row as wide as the header
    (cells beyond it have no column; a short row is padded), blank rows kept so that row
    numbers stay the spreadsheet's."""
    import tablib

    width = len(table.headers)
    dataset = tablib.Dataset(headers=table.headers)
    for _number, cells in table.rows:
        dataset.append((cells + [""] * (width - len(cells)))[:width])
    return dataset


# --------------------------------------------------------------------------------------
# Columns and cell parsers (pure)


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the Chinese label (README lists them)
    required: bool = False  # the header must be present
    aliases: tuple[str, ...] = ()


def normalise_header(text: str) -> str:
    return re.sub(r"[\s_\-（）()*]+", "", (text or "").replace("\ufeff", "")).lower()


BOOLEAN_WORDS = {
    "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
    "y": True, "n": False, "t": True, "f": False, "是": True, "否": False, "有": True, "无": False,
    "√": True, "×": False,
}

# Characters that make a spreadsheet treat a cell as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]00:00")
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(0, 7)}
_TOO_LARGE = Decimal("1e12")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


class ChoiceMap(dict):
    """Accepted spellings (lower-cased) → stored code, remembering each code's label (lazy, in
    the reader's language) so that an error lists the allowed values as words (在职、退休), not
    codes; a label as shown is accepted too."""

    def __init__(self, mapping: dict[str, str], labels: dict[str, Any]):
        super().__init__(mapping)
        self.labels = labels

    def lookup(self, value: str) -> str:
        """The code of a spelling or of a label in the current language; KeyError otherwise."""
        word = value.lower()
        if word in self:
            return self[word]
        for code, label in self.labels.items():
            if str(label).lower() == word:
                return code
        raise KeyError(value)

    def allowed(self) -> str:
        """The allowed values as the reader sees them: labels joined by 、 (the blank choice,
        when there is one, is left out: a blank cell takes the default)."""
        separator = "、" if (get_language() or "").startswith("zh") else ", "
        return separator.join(str(label) for code, label in self.labels.items() if code)


def choice_map(choices, aliases: dict[str, str] | None = None) -> ChoiceMap:
    """Accepted spellings (lower-cased) → stored code: the English code itself and Chinese aliases;
    the model's labels are kept for messages (and accepted as shown, see ChoiceMap.lookup)."""
    mapping = {str(value).lower(): value for value, _label in choices}
    for word, value in (aliases or {}).items():
        mapping[word.lower()] = value
    return ChoiceMap(mapping, {value: label for value, label in choices})


class Cells:
    """Reads one raw row, collecting (column key, reason) problems instead of raising."""

    today: date | None = None  # set once per import by run_import (date.today() per row is measurable)

    def __init__(self, raw: dict[str, str]):
        self.raw = raw
        self.problems: list[tuple[str, str]] = []
        self.refused: set[str] = set()
        self.facts: dict[str, Any] = {}  # parsed ID numbers (birth date, sex) by column

    def fail(self, key: str, reason) -> None:
        self.problems.append((key, str(reason)))

    def get(self, key: str) -> str:
        value = self.raw.get(key) or ""  # readers strip cells already
        if value[:1] == "=":
            self.fail(key, _("Formulas are not accepted; enter the value itself."))
            self.refused.add(key)
            return ""
        return value

    def missing(self, key: str, required: bool) -> None:
        if required and key not in self.refused:
            self.fail(key, _("This value is required."))

    def text(self, key: str, *, required: bool = False, max_length: int = 200) -> str:
        value = self.get(key)
        if not value:
            self.missing(key, required)
            return ""
        if value.startswith(FORMULA_PREFIXES):
            # Refused rather than escaped: a name starting with + - @ would become a formula
            # when the data is exported back to a spreadsheet.
            self.fail(key, _("A value may not start with =, +, -, @ or a tab."))
            return ""
        if len(value) > max_length:
            self.fail(key, _("At most %(n)s characters.") % {"n": max_length})
            return ""
        return value

    def choice(self, key: str, mapping: dict[str, str], *, required: bool = True, default: str | None = None):
        value = self.get(key)
        if not value:
            if default is not None and key not in self.refused:
                return default
            self.missing(key, required)
            return None
        try:
            return mapping.lookup(value) if isinstance(mapping, ChoiceMap) else mapping[value.lower()]
        except KeyError:
            if isinstance(mapping, ChoiceMap):
                allowed = mapping.allowed()
            else:
                allowed = ", ".join(sorted({v for v in mapping.values() if v}))
            self.fail(key, _("%(value)s is not one of: %(choices)s.") % {"value": echo(value), "choices": allowed})
            return None

    def boolean(self, key: str, *, default: bool) -> bool | None:
        value = self.get(key)
        if not value:
            return default
        try:
            return BOOLEAN_WORDS[value.lower()]
        except KeyError:
            self.fail(key, _("Enter true or false (是 or 否)."))
            return None

    def date(self, key: str, *, required: bool = False) -> date | None:
        value = self.get(key)
        if not value:
            self.missing(key, required)
            return None
        if len(value) == 10 and value[4] == "-" and value[7] == "-":  # the common case, fast
            try:
                return date.fromisoformat(value)
            except ValueError:
                self.fail(key, _("Enter a real date as YYYY-MM-DD."))
                return None
        value = value.split(" ")[0].split("T")[0] if _MIDNIGHT.match(value) else value
        for pattern in _DATE_PATTERNS:
            match = pattern.match(value)
            if match:
                try:
                    return date(*(int(part) for part in match.groups()))
                except ValueError:
                    break
        self.fail(key, _("Enter a real date as YYYY-MM-DD."))
        return None

    def decimal(self, key: str, *, required: bool = False, places: int = 2, minimum=None, maximum=None,
                positive: bool = False) -> Decimal | None:
        value = self.get(key)
        if "," in value or "，" in value:
            value = value.replace(",", "").replace("，", "")
        if not value:
            self.missing(key, required)
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.fail(key, _("Enter a number."))
            return None
        if not number.is_finite():
            self.fail(key, _("Enter a number."))
            return None
        if abs(number) >= _TOO_LARGE:
            self.fail(key, _("The number is too large."))
            return None
        quantum = _QUANTUM[places]
        if number != number.quantize(quantum):
            self.fail(key, _("At most %(n)s decimal places.") % {"n": places})
            return None
        if positive and number <= 0:
            self.fail(key, _("Must be greater than zero."))
            return None
        if minimum is not None and number < minimum:
            self.fail(key, _("Must be at least %(n)s.") % {"n": minimum})
            return None
        if maximum is not None and number > maximum:
            self.fail(key, _("Must be at most %(n)s.") % {"n": maximum})
            return None
        return number.quantize(quantum)

    def integer(self, key: str, *, required: bool = False, minimum=None, maximum=None) -> int | None:
        number = self.decimal(key, required=required, places=0, minimum=minimum, maximum=maximum)
        return int(number) if number is not None else None

    def id_number(self, key: str = "id_number", *, required: bool = True) -> str | None:
        value = normalize_id_number(self.get(key))
        if not value:
            self.missing(key, required)
            return None
        try:
            self.facts[key] = parse_id_number(value, today=Cells.today or date.today())
        except ValidationError as error:
            self.fail(key, error.messages[0])
            return None
        return value


# --------------------------------------------------------------------------------------
# The importer protocol and the pipeline


@dataclass
class ParsedRow:
    number: int
    values: dict[str, Any]
    action: str = ""  # CREATED / UPDATED / UNCHANGED, set by plan()
    instance: Any = None  # the main object written (admin log entries, previews)


@dataclass
class Outcome:
    kind: str
    counts: dict[str, int] = field(default_factory=lambda: {CREATED: 0, UPDATED: 0, UNCHANGED: 0})
    errors: list[RowError] = field(default_factory=list)
    rows: list[ParsedRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    refused: bool = False  # the file as a whole (too large, unreadable...), not some of its rows
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (benchmarks)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        values = {"kind": self.kind, "rows": sum(self.counts.values()), **self.counts}
        if self.errors and (self.refused or all(e.row == 0 for e in self.errors)):
            return _("%(kind)s: the file was refused; nothing written.") % {"kind": self.kind}
        if self.errors:
            bad_rows = len({e.row for e in self.errors})
            return _("%(kind)s: %(bad)s bad row(s), %(errors)s error(s); nothing written.") % {
                "kind": self.kind, "bad": bad_rows, "errors": len(self.errors)}
        line = _("%(kind)s: %(rows)s rows, %(created)s created, %(updated)s updated, %(unchanged)s unchanged.") % values
        if self.dry_run:
            line += " " + _("Dry run: nothing written.")
        return line


class Importer(ABC):
    """One kind of import. Subclasses give `kind`, `columns`, `parse_row`, `key`, `plan`, `apply`."""

    kind: str = ""
    columns: tuple[Column, ...] = ()
    batch_size = 2000
    # Keys of the columns the file has (set by run_import): an absent optional column keeps
    # what is recorded instead of blanking it.
    present: frozenset[str] = frozenset()
    # The admin needs each row's saved instance (log entries); the commands do not.
    keep_instances: bool = False

    def __init__(self, *, user=None, change_reason: str = ""):
        self.user = user if getattr(user, "pk", None) else None
        self.change_reason = change_reason or f"import {self.kind}"

    # pure, per row ------------------------------------------------------------------
    @abstractmethod
    def parse_row(self, raw: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Clean one row's raw cells: (values, [(column, reason), …])."""

    def key(self, values: dict[str, Any]) -> tuple[Any, str] | None:
        """(natural key, column to blame) for duplicate detection within one file."""
        return None

    # database ------------------------------------------------------------------------
    @abstractmethod
    def plan(self, rows: list[ParsedRow], fail: Callable[[ParsedRow, str, str], None]) -> None:
        """Classify each row (row.action) and report cross-row/database problems via fail()."""

    @abstractmethod
    def apply(self, rows: list[ParsedRow], progress: Callable[[int], None]) -> None:
        """Write the planned rows (inside the import's transaction)."""

    # helpers ----------------------------------------------------------------------------
    @property
    def chunk_size(self) -> int:
        # SQLite builds may cap bound parameters at 999; PostgreSQL takes one array (any_of).
        return 900 if connection.vendor != "postgresql" else 100_000

    def chunks(self, items: list) -> Iterator[list]:
        size = self.chunk_size
        for start in range(0, len(items), size):
            yield items[start:start + size]

    @staticmethod
    def any_of(queryset, field_name: str, values: list):
        """queryset.filter(field__in=values). On PostgreSQL the values travel as ONE array
        parameter, `IN (SELECT unnest(%s))`: the planner then probes the index once per key,
        where a 5,000-item IN list or `= ANY(array)` tends to become a sequential scan."""
        if connection.vendor != "postgresql":
            return queryset.filter(**{f"{field_name}__in": values})
        field = queryset.model._meta.get_field(field_name)
        array_type = "text" if field.get_internal_type() in ("CharField", "TextField") else "bigint"
        return queryset.filter(**{f"{field_name}__in": RawSQL(f"SELECT unnest(%s::{array_type}[])", [list(values)])})

    def history_kwargs(self) -> dict[str, Any]:
        return {"default_user": self.user, "default_change_reason": self.change_reason[:100]}

    def pks_by(self, queryset, field_name: str, values: Iterable) -> dict[Any, int]:
        """{value: pk} of the rows whose `field_name` is one of `values` (chunked, one array
        parameter a chunk on PostgreSQL)."""
        wanted = sorted(set(values))
        found: dict[Any, int] = {}
        for chunk in self.chunks(wanted):
            found.update(self.any_of(queryset, field_name, chunk).values_list(field_name, "pk"))
        return found


def map_headers(columns: tuple[Column, ...], headers: list[str]):
    """(key → position, key → header as written, errors, ignored headers)."""
    lookup: dict[str, str] = {}
    for column in columns:
        for spelling in (column.key, column.label, *column.aliases):
            lookup[normalise_header(spelling)] = column.key
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    errors: list[RowError] = []
    ignored: list[str] = []
    for position, header in enumerate(headers):
        if not header:
            continue
        key = lookup.get(normalise_header(header))
        if key is None:
            ignored.append(header)
            continue
        if key in positions:
            errors.append(RowError(1, header, _("This column appears twice (%(other)s).") % {"other": written[key]}))
            continue
        positions[key] = position
        written[key] = header
    for column in columns:
        if column.required and column.key not in positions:
            errors.append(RowError(1, column.key, _("Required column is missing (%(label)s).") % {"label": column.label}))
    return positions, written, errors, ignored


class _NoProgress:
    def update(self, n=1):
        pass


def no_progress(description: str, total: int | None):
    return nullcontext(_NoProgress())


def run_import(importer: Importer, table: Table, *, dry_run: bool = False, progress=no_progress,
               keep_rows: bool = False) -> Outcome:
    """Validate the whole table, then write it in one transaction, or write nothing.

    `progress(description, total)` is a context manager factory returning an object with
    `update(n)` (tqdm fits). Returns an Outcome; `outcome.errors` non-empty means nothing
    was written.
    """
    outcome = Outcome(kind=importer.kind, dry_run=dry_run)
    positions, written, header_errors, ignored = map_headers(importer.columns, table.headers)
    outcome.ignored_columns = ignored
    importer.present = frozenset(positions)
    if header_errors:
        outcome.errors = header_errors
        return outcome

    def column_name(key: str) -> str:
        return written.get(key, key)

    clock = clocks.perf_counter()
    Cells.today = date.today()
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    seen: dict[Any, int] = {}
    items = list(positions.items())
    data_rows = 0
    with progress(_("validating"), table.total) as bar:
        try:
            for number, cells in table.rows:
                if number % 1000 == 0:
                    bar.update(1000)
                if not any(cells):
                    continue  # blank lines Excel leaves behind
                data_rows += 1
                raw = {key: (cells[pos] if pos < len(cells) else "") for key, pos in items}
                values, problems = importer.parse_row(raw)
                if problems:
                    errors.extend(RowError(number, column_name(key) if key else "", reason) for key, reason in problems)
                    continue
                keyed = importer.key(values)
                if keyed is not None:
                    natural_key, blame = keyed
                    first = seen.setdefault(natural_key, number)
                    if first != number:
                        errors.append(RowError(number, column_name(blame), _("Duplicate of row %(row)s.") % {"row": first}))
                        continue
                rows.append(ParsedRow(number, values))
        except ImportRefused as refused:  # too many rows, or unreadable part-way: the file is refused whole
            outcome.errors, outcome.refused = refused.errors, True
            return outcome
    outcome.timings["validate"] = clocks.perf_counter() - clock
    if not rows:  # nothing valid to check against the database
        outcome.errors = errors
        return outcome

    def fail(row: ParsedRow, key: str, reason: str) -> None:
        errors.append(RowError(row.number, column_name(key) if key else "", str(reason)))

    with transaction.atomic():
        # Plan inside the transaction so that what was checked is what gets written.
        clock = clocks.perf_counter()
        importer.plan(rows, fail)
        outcome.timings["plan"] = clocks.perf_counter() - clock
        if errors:
            errors.sort(key=lambda e: e.row)
            outcome.errors = errors
            return outcome
        clock = clocks.perf_counter()
        with progress(_("writing"), len(rows)) as bar:
            importer.apply(rows, bar.update)
        outcome.timings["write"] = clocks.perf_counter() - clock
        for row in rows:
            outcome.counts[row.action] += 1
        from core.audit import audit

        if outcome.counts[CREATED] or outcome.counts[UPDATED]:  # an import that changes nothing leaves no trace
            audit(actor=importer.user, action=AuditAction(f"import.{importer.kind}"), label=importer.change_reason,
                  dry_run=dry_run, **outcome.counts)
        if dry_run:
            transaction.set_rollback(True)
        clock = clocks.perf_counter()
    outcome.timings["commit"] = clocks.perf_counter() - clock
    if keep_rows:
        outcome.rows = rows
    return outcome


def import_file(importer: Importer, path: str | Path, **kwargs) -> Outcome:
    try:
        table = read_table(path)
    except ImportRefused as refused:
        return Outcome(kind=importer.kind, errors=refused.errors, refused=True)
    try:
        return run_import(importer, table, **kwargs)
    finally:
        table.release()


@contextmanager
def tqdm_progress_factory(stream, disable: bool = False):
    """For commands: returns a progress factory drawing tqdm bars on `stream` (stderr)."""
    from tqdm import tqdm

    def factory(description, total):
        return tqdm(total=total, desc=str(description), unit=" rows", file=stream, disable=disable,
                    mininterval=0.5, leave=False)

    yield factory


def changed_fields(instance, values: dict[str, Any], fields: Iterable[str]) -> list[str]:
    return [name for name in fields if getattr(instance, name) != values[name]]
