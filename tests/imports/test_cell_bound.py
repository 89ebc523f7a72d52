"""Issue 11: "An .xlsx of a few hundred KB holding one huge cell costs about a gigabyte of memory,
and an error echoes the whole cell back." Every import reader bounds a cell while it streams
(IMPORT_MAX_CELL_CHARS) and refuses the file naming the row and the column; every value an error
repeats is cut to 100 characters. Tested as a class: XLSX (the cell in the shared strings, inline
in the sheet, a number) and CSV, through the command, the admin's upload, the rule library and the
reconciliation list."""

import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.errors import echo
from core.imports.pipeline import ImportRefused, read_table
from core.models import AuditEvent
from members.models import Enrollment, Member
from tests.factories import new_id_number

from .helpers import write_csv, write_xlsx
from .test_limits_and_bad_files import HEADER, form_errors, upload

pytestmark = pytest.mark.django_db

HUGE = 5 * 1024 * 1024  # a 5 MB cell: a few KB of .xlsx
MESSAGE_BOUND = 300


def rows_with(cell: str) -> list[list[str]]:
    """Two good member rows, then one whose name (column B, 姓名) is `cell`: spreadsheet row 4."""
    good = [[new_id_number(), "李秀英", "在职", "统账结合", "5000", "2021-01-01"] for _ in range(2)]
    return [HEADER, *good, [new_id_number(), cell, "在职", "统账结合", "5000", "2021-01-01"]]


def _rewrite(path: Path, change) -> Path:
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    change(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def _replace_cell(parts, ref: str, new: str) -> None:
    sheet, count = re.subn(rf'<c r="{ref}"[^>]*>.*?</c>', new, parts["xl/worksheets/sheet1.xml"].decode(), count=1)
    assert count == 1
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()


def inline_xlsx(path: Path, cell: str) -> Path:
    """Row 4's name (B4) written inline in the sheet (t="inlineStr"). openpyxl itself writes every
    string inline and cuts it to Excel's 32,767 characters, so the huge cell is put in by hand."""
    write_xlsx(path, rows_with("PLACEHOLDER"))
    return _rewrite(path, lambda parts: _replace_cell(parts, "B4", f'<c r="B4" t="inlineStr"><is><t>{cell}</t></is></c>'))


def shared_xlsx(path: Path, cell: str) -> Path:
    """Row 4's name (B4) as shared string 1 of xl/sharedStrings.xml, as Excel writes text."""
    write_xlsx(path, rows_with("PLACEHOLDER"))

    def change(parts):
        _replace_cell(parts, "B4", '<c r="B4" t="s"><v>1</v></c>')
        ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        parts["xl/sharedStrings.xml"] = (f'<sst xmlns="{ns}" count="2" uniqueCount="2"><si><t>unused</t></si>'
                                         f'<si><t>{cell}</t></si></sst>').encode()
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", (
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            b'spreadsheetml.sharedStrings+xml" /></Types>'))
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", (
            b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            b'Target="sharedStrings.xml" Id="rId99" /></Relationships>'))

    return _rewrite(path, change)


def huge_number_xlsx(path: Path, digits: int) -> Path:
    """Row 4's contribution base (E4) a number of `digits` digits written in the sheet."""
    write_xlsx(path, rows_with("王建国"))
    return _rewrite(path, lambda parts: _replace_cell(parts, "E4", f'<c r="E4"><v>{"9" * digits}</v></c>'))


def huge_file(tmp_path: Path, kind: str, size: int = HUGE) -> tuple[Path, str]:
    """(file, the column the refusal names)."""
    if kind == "xlsx-shared":
        return shared_xlsx(tmp_path / "members.xlsx", "x" * size), "B"
    if kind == "xlsx-inline":
        return inline_xlsx(tmp_path / "members.xlsx", "x" * size), "B"
    if kind == "xlsx-number":
        return huge_number_xlsx(tmp_path / "members.xlsx", size), "E"
    return write_csv(tmp_path / "members.csv", rows_with("x" * size)), "姓名"


def written():
    return Member.objects.count(), Enrollment.objects.count(), AuditEvent.objects.count()


KINDS = ["xlsx-shared", "xlsx-inline", "xlsx-number", "csv"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_refuses_a_huge_cell_naming_row_and_column_with_a_short_message(tmp_path, kind):
    path, column = huge_file(tmp_path, kind)
    before = written()
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_members", str(path), stdout=io.StringIO(), stderr=err, verbosity=0)
    lines = err.getvalue().splitlines()
    assert lines == [f"row 4, column {column}: The cell holds more than 10,000 characters (IMPORT_MAX_CELL_CHARS): "
                     "the file is refused."]
    assert written() == before


@pytest.mark.parametrize("kind", KINDS)
def test_the_admin_upload_refuses_a_huge_cell_the_same_way(staff_client, tmp_path, kind):
    path, column = huge_file(tmp_path, kind)
    page = upload(staff_client, path.name, path.read_bytes())
    errors = form_errors(page)
    assert errors == [f"row 4, column {column}: The cell holds more than 10,000 characters (IMPORT_MAX_CELL_CHARS): "
                      "the file is refused."]
    assert len(page.content) < 200_000  # the page does not carry the cell either


@pytest.mark.parametrize("kind", ["xlsx-shared", "xlsx-inline"])
def test_reading_a_workbook_with_a_5mb_cell_stays_within_a_few_megabytes(tmp_path, kind):
    path, _column = huge_file(tmp_path, kind)
    assert path.stat().st_size < 100_000  # a few KB on disk
    tracemalloc.start()
    try:
        with pytest.raises(ImportRefused) as refused:
            table = read_table(path)
            list(table.rows)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.errors[0].row == 4
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes: the cell was built"  # the cell alone is 5 MB


@pytest.mark.parametrize("kind", ["xlsx-shared", "xlsx-inline", "csv"])
def test_a_cell_just_over_the_limit_is_refused_by_its_header_and_one_at_the_limit_imports(tmp_path, settings, kind):
    """Within the byte scan's margin the cell is read and checked exactly, by the header's name."""
    settings.IMPORT_MAX_CELL_CHARS = 60
    # at the limit: imports (the name is then refused by its own field length, not by the reader)
    path, _column = huge_file(tmp_path, kind, size=60)
    table = read_table(path)
    assert [len(cells[1]) for _number, cells in table.rows] == [3, 3, 60]
    path, _column = huge_file(tmp_path, kind, size=61)
    with pytest.raises(ImportRefused) as refused:
        list(read_table(path).rows)
    assert [str(error) for error in refused.value.errors] == [
        "row 4, column 姓名: The cell holds more than 60 characters (IMPORT_MAX_CELL_CHARS): the file is refused."]


def test_a_huge_header_cell_is_refused_as_row_1(tmp_path):
    path = write_csv(tmp_path / "members.csv", [["身份证号", "y" * 20_000], ["1", "2"]])
    with pytest.raises(ImportRefused) as refused:
        read_table(path)
    assert [str(error) for error in refused.value.errors] == [
        "row 1, column B: The cell holds more than 10,000 characters (IMPORT_MAX_CELL_CHARS): the file is refused."]


def test_an_unused_huge_shared_string_is_refused_for_the_file(tmp_path):
    path = shared_xlsx(tmp_path / "members.xlsx", "王建国")

    def change(parts):
        parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
            b"</sst>", b"<si><t>" + b"z" * HUGE + b"</t></si></sst>")

    assert [len(cells[1]) for _number, cells in read_table(path).rows] == [3, 3, 3]  # it reads without the text…
    _rewrite(path, change)
    with pytest.raises(ImportRefused) as refused:  # … but the text is refused before it is built
        read_table(path)
    assert [str(error) for error in refused.value.errors] == [
        "row 0: members.xlsx holds a text of more than 10,000 characters (IMPORT_MAX_CELL_CHARS): the file is refused."]


# --- values repeated in errors are cut --------------------------------------------------------


def test_echo_cuts_to_100_characters_with_an_ellipsis():
    assert echo("a" * 100) == "a" * 100
    assert echo("a" * 101) == "a" * 100 + "…"
    assert echo(12) == "12"


def test_every_importer_keeps_its_messages_short_whatever_a_cell_holds():
    """Each importer's parse_row, given 9,000 characters (within the cell bound) in every column,
    reports each problem in a bounded message: no value is repeated whole."""
    from core.imports.pipeline import Cells, Importer

    Cells.today = None
    importers = _all_importers(Importer)
    assert len(importers) >= 10
    for importer_class in importers:
        importer = importer_class()
        raw = {column.key: "选" * 9_000 for column in importer.columns}
        _values, problems = importer.parse_row(raw)
        assert problems, importer_class
        for key, reason in problems:
            assert len(reason) < MESSAGE_BOUND, (importer_class.__name__, key, reason[:200])


def _all_importers(base):
    import importlib

    for module in ("members.importers", "pharmacies.importers", "claims.importers"):
        importlib.import_module(module)
    found, pending = [], list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None) and cls.columns:
            found.append(cls)
    return found


# --- the rule library and the reconciliation list ----------------------------------------------


def test_the_rule_library_refuses_a_huge_cell_naming_row_and_column(tmp_path):
    from core.errors import DomainError
    from supervision.models import FrequencyLimit
    from tests.supervision.helpers import batch_8_1, load

    # openpyxl writes at most 32,767 characters a cell: over the bound, read and checked exactly (B: 项目S2qq…)
    path = batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日"), ("S2" + "q" * HUGE, 1, "日")])
    with pytest.raises(DomainError) as refused:
        load(path)
    assert refused.value.details["errors"] == [
        "row 3, column B: The cell holds more than 10,000 characters (IMPORT_MAX_CELL_CHARS): the file is refused."]
    assert not FrequencyLimit.objects.exists()


def test_the_rule_library_cuts_values_it_repeats(tmp_path):
    from core.errors import DomainError
    from tests.supervision.helpers import batch_8_1, load

    path = batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日" * 5_000)])
    with pytest.raises(DomainError) as refused:
        load(path)
    (error,) = refused.value.details["errors"]
    assert "日" * 100 + "…" in error and len(error) < MESSAGE_BOUND
