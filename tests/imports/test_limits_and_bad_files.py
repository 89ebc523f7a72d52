"""Files that are too large, undecodable or malformed get one clear error and write nothing,
through the import commands and through the admin's upload; UTF-16 (Excel's "Unicode text")
imports correctly. Large inputs are simulated by lowering the limits, not by writing 50 MB."""

import io
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from core.models import AuditEvent
from members.importers import MemberImporter
from members.models import Enrollment, Member
from tests.factories import new_id_number

from .helpers import write_csv, write_xlsx

pytestmark = pytest.mark.django_db

HEADER = ["身份证号", "姓名", "在职状态", "参保方式", "缴费基数", "参保日期"]


def member_rows(count: int) -> list[list[str]]:
    return [HEADER] + [[new_id_number(), "李秀英", "在职", "统账结合", "5000", "2021-01-01"] for _ in range(count)]


def written() -> tuple[int, int, int]:
    return Member.objects.count(), Enrollment.objects.count(), AuditEvent.objects.count()


def refused(path: Path) -> list[str]:
    """Run import_members expecting exit 1; the contract lines it printed on stderr."""
    before = written()
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_members", str(path), stdout=io.StringIO(), stderr=err, verbosity=0)
    assert "nothing written" in str(failure.value)
    assert written() == before
    return err.getvalue().splitlines()


def imported(path: Path) -> str:
    out = io.StringIO()
    call_command("import_members", str(path), stdout=out, stderr=io.StringIO(), verbosity=0)
    return out.getvalue()


def never(*args, **kwargs):
    raise AssertionError("the file was read although it is over the limit")


# --------------------------------------------------------------------------------------
# Size and row limits, through the command


def test_a_csv_over_the_byte_limit_is_refused_before_it_is_read(tmp_path, settings, monkeypatch):
    path = write_csv(tmp_path / "members.csv", member_rows(60))
    size = path.stat().st_size
    settings.IMPORT_MAX_BYTES = size - 1
    monkeypatch.setattr(Path, "read_bytes", never)

    lines = refused(path)

    assert lines == [f"row 0: members.csv is {size / 1024:.1f} KB ({size:,} bytes); the limit is "
                     f"{(size - 1) / 1024:.1f} KB (IMPORT_MAX_BYTES): split it into smaller files."]
    monkeypatch.undo()
    settings.IMPORT_MAX_BYTES = size
    assert "60 created" in imported(path)


def test_an_xlsx_over_the_byte_limit_is_refused_before_openpyxl_opens_it(tmp_path, settings, monkeypatch):
    path = write_xlsx(tmp_path / "members.xlsx", member_rows(3))
    settings.IMPORT_MAX_BYTES = path.stat().st_size - 1
    monkeypatch.setattr(openpyxl, "load_workbook", never)

    [line] = refused(path)

    assert line.startswith("row 0: members.xlsx is ") and "(IMPORT_MAX_BYTES)" in line


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_rows_are_counted_while_streaming_and_the_file_refused_as_soon_as_the_limit_is_passed(
        tmp_path, settings, monkeypatch, fmt):
    settings.IMPORT_MAX_ROWS = 5
    writer = write_csv if fmt == "csv" else write_xlsx
    at_limit = writer(tmp_path / f"five.{fmt}", member_rows(5))
    over = writer(tmp_path / f"members.{fmt}", member_rows(9))
    parsed = []
    parse_row = MemberImporter.parse_row
    monkeypatch.setattr(MemberImporter, "parse_row", lambda self, raw: parsed.append(1) or parse_row(self, raw))

    lines = refused(over)

    assert lines == [f"row 7: members.{fmt} has more than 5 data rows (IMPORT_MAX_ROWS): split it into smaller files."]
    assert len(parsed) == 5  # rows 2-6; row 7 stopped the reading, rows 8-10 were never read
    assert "5 created" in imported(at_limit)


def test_a_sparse_sheet_declaring_a_million_rows_stops_at_the_limit(tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 1000
    path = write_xlsx(tmp_path / "sparse.xlsx", member_rows(2))
    book = openpyxl.load_workbook(path)
    book.active.cell(row=1_000_000, column=1, value="x")
    book.save(path)

    assert refused(path) == ["row 1002: sparse.xlsx has more than 1,000 data rows (IMPORT_MAX_ROWS): "
                             "split it into smaller files."]


def declare_size(path: Path, part: str, size: int) -> None:
    """Rewrite the uncompressed size that the zip's headers declare for one part (the bytes stay)."""
    data = bytearray(path.read_bytes())
    name = part.encode()
    for signature, size_at, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_at:start + name_at + len(name)] == name:
                struct.pack_into("<I", data, start + size_at, size)
            start += 4
    path.write_bytes(bytes(data))


def test_an_xlsx_whose_zip_declares_a_huge_part_is_refused_without_decompressing_it(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "bomb.xlsx", member_rows(2))
    declare_size(path, "xl/worksheets/sheet1.xml", 3 * 1024**3)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 3 * 1024**3
    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    monkeypatch.setattr(openpyxl, "load_workbook", never)

    assert refused(path) == ["row 0: bomb.xlsx would unpack to 3.0 GB; the limit is 500.0 MB "
                             "(10 × IMPORT_MAX_BYTES): split it into smaller files."]


def test_a_real_decompression_bomb_is_refused_from_the_sizes_it_declares(tmp_path, settings):
    settings.IMPORT_MAX_BYTES = 1024**2
    path = write_xlsx(tmp_path / "bomb.xlsx", member_rows(2))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet2.xml", b"\0" * (12 * 1024**2))  # ~12 KB compressed
    assert path.stat().st_size < 100 * 1024

    [line] = refused(path)

    assert line.startswith("row 0: bomb.xlsx would unpack to 12.0 MB; the limit is 10.0 MB")


def test_a_part_that_openpyxl_parses_whole_may_not_exceed_the_byte_limit(tmp_path, settings):
    settings.IMPORT_MAX_BYTES = 64 * 1024
    path = write_xlsx(tmp_path / "strings.xlsx", member_rows(2))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings2.xml", b" " * (100 * 1024))

    assert refused(path) == ["row 0: strings.xlsx has a part (xl/sharedStrings2.xml) that would unpack to "
                             "100.0 KB; the limit is 64.0 KB (IMPORT_MAX_BYTES)."]


# --------------------------------------------------------------------------------------
# Undecodable and wrong-format files, through the command


def test_binary_garbage_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 40)
    assert refused(path) == ["row 0: garbage.csv is not text in UTF-8, UTF-16 or GBK: "
                             "save the spreadsheet as CSV or .xlsx."]


def test_an_image_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 4)
    assert refused(path) == ["row 0: photo.csv is not text in UTF-8, UTF-16 or GBK: "
                             "save the spreadsheet as CSV or .xlsx."]


def test_text_with_nul_bytes_is_refused_as_binary(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n\x00\x00\x00\n")
    assert refused(path) == ["row 0: nul.csv contains binary data, not CSV text: save the spreadsheet as CSV or .xlsx."]


def test_a_workbook_renamed_csv_is_named_for_what_it_is(tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(write_xlsx(tmp_path / "real.xlsx", member_rows(1)).read_bytes())
    assert refused(path) == ["row 0: members.csv is a zip archive (an .xlsx workbook?), not CSV text: "
                             "give it the .xlsx extension, or save it as CSV."]


@pytest.mark.parametrize("name", ["old.xls.csv", "old.xlsx"])
def test_an_excel_97_workbook_is_refused_with_what_to_do(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    [line] = refused(path)
    assert line.startswith(f"row 0: {name} is an Excel 97-2003 (.xls) or password-protected workbook")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_utf16_text_as_excel_exports_it_is_imported(tmp_path, encoding, delimiter):
    rows = member_rows(2)
    text = "\r\n".join(delimiter.join(row) for row in rows) + "\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "unicode.csv"
    path.write_bytes(data)

    assert "2 created" in imported(path)
    assert set(Member.objects.values_list("id_number", "name")) == {(rows[1][0], "李秀英"), (rows[2][0], "李秀英")}


def test_an_xlsx_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "members.xlsx"
    path.write_text("id_number,name\n1,2\n")
    assert refused(path) == ["row 0: members.xlsx is not an .xlsx workbook: save it from Excel as .xlsx or CSV."]


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "members.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert refused(path) == ["row 0: members.xlsx is not an .xlsx workbook: save it from Excel as .xlsx or CSV."]


def test_a_workbook_with_a_broken_sheet_is_refused(tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", member_rows(2))
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            target.writestr(info, data)
    [line] = refused(path)
    assert line.startswith("row ") and "broken.xlsx cannot be read as an .xlsx workbook (" in line


@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx"])
def test_an_empty_file_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert refused(path) == [f"row 0: {name} is empty."]


def test_a_csv_of_blank_lines_is_empty(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\n\r\n")
    assert refused(path) == ["row 0: blank.csv is empty."]


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_a_file_with_only_a_header_imports_nothing_and_succeeds(tmp_path, writer):
    """CONTRACT.md: an import exits non-zero when a row is bad; a header alone has no bad row
    (a daily export may be empty): it succeeds, with 0 rows, and writes nothing."""
    path = writer(tmp_path / ("header.csv" if writer is write_csv else "header.xlsx"), [HEADER, [], []])
    before = written()
    assert imported(path).startswith("members: 0 rows")
    assert written() == before


def test_a_row_the_csv_reader_cannot_read_is_named(tmp_path):
    """A field over the CSV reader's own limit (131,072 characters) is named by row and column, as
    any cell over IMPORT_MAX_CELL_CHARS is (issue 11; tests/imports/test_cell_bound.py)."""
    path = tmp_path / "long.csv"
    path.write_text(",".join(HEADER) + "\n" + "x" * 200_000 + "\n", encoding="utf-8")
    assert refused(path) == ["row 2, column 身份证号: The cell holds more than 10,000 characters "
                             "(IMPORT_MAX_CELL_CHARS): the file is refused."]


def test_file_level_refusals_are_translated(tmp_path, settings):
    from django.utils import translation

    from core.imports.pipeline import import_file

    settings.IMPORT_MAX_ROWS = 1
    path = write_csv(tmp_path / "members.csv", member_rows(2))
    with translation.override("zh-hans"):
        outcome = import_file(MemberImporter(), path)
        assert outcome.errors[0].reason == "members.csv 超过 1 行数据（IMPORT_MAX_ROWS）：请拆分为较小的文件。"
        assert outcome.summary() == "members：文件被拒绝，未写入任何数据。"
    assert Member.objects.count() == 0


# --------------------------------------------------------------------------------------
# The admin's upload (preview): the error on the import page, status 200, nothing written


def upload(client, name: str, data: bytes, fmt=None):
    from core.imports.formats import IMPORT_FORMATS, DetectingCSV, StreamingXLSX

    fmt = fmt or (StreamingXLSX if name.endswith(".xlsx") else DetectingCSV)
    before = written()
    page = client.post("/admin/members/member/import/", {
        "resource": "0", "format": str(IMPORT_FORMATS.index(fmt)),
        "import_file": SimpleUploadedFile(name, data)}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert written() == before
    return page


def form_errors(page) -> list[str]:
    assert not page.context.get("confirm_form")
    return page.context["form"].errors.get("import_file", [])


def csv_bytes(rows, encoding="utf-8") -> bytes:
    return "".join(",".join(row) + "\n" for row in rows).encode(encoding)


def test_admin_refuses_an_upload_over_the_byte_limit_before_storing_it(staff_client, settings, monkeypatch):
    from core.imports.admin import ImportLimitsMixin

    data = csv_bytes(member_rows(40))
    settings.IMPORT_MAX_BYTES = len(data) - 1
    # The method the admin really calls (ImportLimitsMixin's own, ahead of django-import-export's).
    monkeypatch.setattr(ImportLimitsMixin, "write_to_tmp_storage", never)

    page = upload(staff_client, "members.csv", data)

    assert form_errors(page) == [f"members.csv is {len(data) / 1024:.1f} KB ({len(data):,} bytes); the limit is "
                                 f"{(len(data) - 1) / 1024:.1f} KB (IMPORT_MAX_BYTES): split it into smaller files."]


@pytest.mark.parametrize("name", ["members.csv", "members.xlsx"])
def test_admin_refuses_an_upload_over_the_row_limit(staff_client, settings, tmp_path, name):
    settings.IMPORT_MAX_ROWS = 3
    rows = member_rows(4)
    data = csv_bytes(rows) if name.endswith(".csv") else write_xlsx(tmp_path / name, rows).read_bytes()

    page = upload(staff_client, name, data)

    assert form_errors(page) == [f"row 5: {name} has more than 3 data rows (IMPORT_MAX_ROWS): "
                                 "split it into smaller files."]


def test_admin_refuses_garbage_with_a_clear_message(staff_client):
    page = upload(staff_client, "garbage.csv", bytes(range(256)) * 40)
    assert form_errors(page) == ["garbage.csv is not text in UTF-8, UTF-16 or GBK: save the spreadsheet as CSV or .xlsx."]


def test_admin_refuses_an_xlsx_that_is_not_a_zip_and_a_zip_bomb(staff_client, tmp_path):
    page = upload(staff_client, "members.xlsx", b"not a workbook")
    assert form_errors(page) == ["members.xlsx is not an .xlsx workbook: save it from Excel as .xlsx or CSV."]

    path = write_xlsx(tmp_path / "bomb.xlsx", member_rows(2))
    declare_size(path, "xl/worksheets/sheet1.xml", 3 * 1024**3)
    page = upload(staff_client, "bomb.xlsx", path.read_bytes())
    assert form_errors(page) == ["bomb.xlsx would unpack to 3.0 GB; the limit is 500.0 MB (10 × IMPORT_MAX_BYTES): "
                                 "split it into smaller files."]


def test_admin_imports_a_utf16_tab_separated_upload(staff_client):
    rows = member_rows(2)
    data = "\r\n".join("\t".join(row) for row in rows).encode("utf-16")

    preview = upload(staff_client, "unicode.csv", data)

    confirm = preview.context["confirm_form"]
    assert confirm is not None
    done = staff_client.post("/admin/members/member/process_import/", confirm.initial)
    assert done.status_code == 302
    assert set(Member.objects.values_list("id_number", flat=True)) == {rows[1][0], rows[2][0]}


def test_admin_xlsx_refuses_formulas_like_the_command(staff_client, tmp_path):
    rows = member_rows(1)
    rows[1][4] = "=2500*2"
    page = upload(staff_client, "members.xlsx", write_xlsx(tmp_path / "f.xlsx", rows).read_bytes())
    result = page.context["result"]
    assert [row.number for row in result.invalid_rows] == [2]
    assert not page.context.get("confirm_form")


# --------------------------------------------------------------------------------------
# The settings


def test_import_limits_come_from_the_environment_and_are_validated():
    from config.settings.imports import import_limits

    assert import_limits({}) == (50 * 1024**2, 200_000)
    assert import_limits({"IMPORT_MAX_BYTES": "10MB", "IMPORT_MAX_ROWS": "300_000"}) == (10 * 1024**2, 300_000)
    assert import_limits({"IMPORT_MAX_BYTES": "2097152"})[0] == 2 * 1024**2
    assert import_limits({"IMPORT_MAX_BYTES": "1g"})[0] == 1024**3
    for environ in ({"IMPORT_MAX_BYTES": "lots"}, {"IMPORT_MAX_BYTES": "10"}, {"IMPORT_MAX_BYTES": "-5MB"},
                    {"IMPORT_MAX_ROWS": "0"}, {"IMPORT_MAX_ROWS": "1e5"}, {"IMPORT_MAX_ROWS": "-1"}):
        with pytest.raises(ImproperlyConfigured):
            import_limits(environ)
