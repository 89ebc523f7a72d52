"""import_members: columns of CONTRACT.md, English or Chinese headers, CSV (UTF-8/GBK) and XLSX."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from core.imports.pipeline import import_file
from members.importers import MemberImporter
from members.models import Enrollment, Member
from tests.factories import new_id_number

from .helpers import write_table

pytestmark = pytest.mark.django_db

HEADER = ["id_number", "name", "employment_status", "scheme", "category", "sector", "civil_servant",
          "pre_1949_veteran", "contribution_base", "monthly_pension", "enrolled_on", "retired_on", "status",
          "died_on", "phone"]
CHINESE = ["身份证号", "姓名", "在职状态", "参保方式", "人员类别", "单位类型", "公务员医疗补助", "建国前老工人",
           "缴费基数", "月养老金", "参保日期", "退休日期", "参保状态", "死亡日期", "联系电话"]


def member_row(id_number, **overrides):
    row = {"id_number": id_number, "name": "王建国", "employment_status": "in_service", "scheme": "combined",
           "category": "employee", "sector": "enterprise", "civil_servant": "false", "pre_1949_veteran": "false",
           "contribution_base": "6000.00", "monthly_pension": "", "enrolled_on": "2020-01-01", "retired_on": "",
           "status": "active", "died_on": "", "phone": "13800000000"}
    row.update(overrides)
    return [row[key] for key in HEADER]


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_members", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "csv-bom", "csv-gbk", "xlsx"])
def test_members_import_from_csv_and_xlsx_creates_member_and_first_enrollment(tmp_path, fmt):
    id_number = new_id_number(date(1970, 3, 5))
    path = write_table(tmp_path, fmt, [HEADER, member_row(id_number)])

    out, _err = run(path)

    member = Member.objects.get(id_number=id_number)
    assert (member.name, member.birth_date, member.phone) == ("王建国", date(1970, 3, 5), "13800000000")
    spell = member.enrollments.get()
    assert spell.effective_from == date(2020, 1, 1)
    assert spell.contribution_base == Decimal("6000.00")
    assert (spell.employment_status, spell.scheme) == ("in_service", "combined")
    assert "1 created, 0 updated, 0 unchanged" in out
    assert member.history.count() == 1


@pytest.mark.parametrize("fmt", ["csv-gbk", "xlsx"])
def test_chinese_headers_and_chinese_values_are_accepted(tmp_path, fmt):
    id_number = new_id_number(date(1955, 6, 1))
    row = member_row(id_number, name="李秀英", employment_status="退休", scheme="统账结合", category="灵活就业",
                     sector="机关事业单位", civil_servant="是", pre_1949_veteran="否", contribution_base="",
                     monthly_pension="3200.5", retired_on="2015-06-01", status="正常")
    path = write_table(tmp_path, fmt, [CHINESE, row])

    run(path)

    spell = Enrollment.objects.get(member__id_number=id_number)
    assert spell.employment_status == "retired"
    assert spell.category == "flexible_employment"
    assert spell.sector == "government"
    assert spell.civil_servant is True and spell.pre_1949_veteran is False
    assert spell.monthly_pension == Decimal("3200.50")
    assert spell.retired_on == date(2015, 6, 1)


def test_a_file_with_one_bad_row_writes_nothing_and_names_row_column_reason(tmp_path):
    good = new_id_number()
    bad = good[:17] + ("0" if good[17] != "0" else "1")  # wrong check character
    path = write_table(tmp_path, "csv", [
        HEADER, member_row(good), member_row(bad), member_row(new_id_number(), contribution_base="abc"),
    ])

    with pytest.raises(CommandError) as refused:
        run(path)

    assert Member.objects.count() == 0 and Enrollment.objects.count() == 0
    assert "2 bad row(s)" in str(refused.value)
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "id_number"), (4, "contribution_base")]
    assert "check character" in outcome.errors[0].reason
    assert str(outcome.errors[1]) == "row 4, column contribution_base: Enter a number."


def test_errors_name_the_chinese_header_the_file_used(tmp_path):
    path = write_table(tmp_path, "xlsx", [CHINESE, member_row(new_id_number(), employment_status="离休")])
    outcome = import_file(MemberImporter(), path)
    assert [str(e).split(":")[0] for e in outcome.errors] == ["row 2, column 在职状态"]


def test_duplicate_id_numbers_within_a_file_are_errors(tmp_path):
    id_number = new_id_number()
    path = write_table(tmp_path, "csv", [HEADER, member_row(id_number), member_row(id_number.lower())])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column, e.reason) for e in outcome.errors] == [(3, "id_number", "Duplicate of row 2.")]
    assert Member.objects.count() == 0


def test_missing_required_column_is_reported_on_row_1(tmp_path):
    path = write_table(tmp_path, "csv", [HEADER[:-1][1:], member_row(new_id_number())[1:-1]])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [(1, "id_number")]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_refused(tmp_path, fmt):
    path = write_table(tmp_path, fmt, [HEADER, member_row(new_id_number(), name="=HYPERLINK(\"http://x\")"),
                                       member_row(new_id_number(), name="+cmd|' /C calc'!A0")])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "name"), (3, "name")]
    assert Member.objects.count() == 0


def test_dry_run_writes_nothing_but_counts(tmp_path):
    path = write_table(tmp_path, "csv", [HEADER, member_row(new_id_number()), member_row(new_id_number())])
    out, _err = run(path, "--dry-run")
    assert "2 created" in out and "Dry run" in out
    assert Member.objects.count() == 0 and Enrollment.objects.count() == 0


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    path = write_table(tmp_path, "xlsx", [HEADER, member_row(new_id_number()), member_row(new_id_number())])
    run(path)
    history_before = Member.history.count()

    out, _err = run(path)

    assert "0 created, 0 updated, 2 unchanged" in out
    assert Enrollment.objects.count() == 2
    assert Member.history.count() == history_before


def test_a_changed_base_adds_a_new_enrollment_spell_and_keeps_the_old_one(tmp_path):
    id_number = new_id_number()
    run(write_table(tmp_path, "csv", [HEADER, member_row(id_number)], name="first"))
    changed = write_table(tmp_path, "csv", [HEADER + ["effective_from"],
                                            member_row(id_number, contribution_base="7000") + ["2024-01-01"]],
                          name="second")

    out, _err = run(changed)

    assert "1 updated" in out
    spells = list(Enrollment.objects.filter(member__id_number=id_number).order_by("effective_from"))
    assert [(s.effective_from, s.contribution_base) for s in spells] == [
        (date(2020, 1, 1), Decimal("6000.00")), (date(2024, 1, 1), Decimal("7000.00"))]
    member = Member.objects.get(id_number=id_number)
    assert member.enrollment_on(date(2023, 12, 31)).contribution_base == Decimal("6000.00")
    # and the same changed file again changes nothing
    out, _err = run(changed)
    assert "1 unchanged" in out and Enrollment.objects.count() == 2


def test_retirement_spell_starts_on_the_retirement_date(tmp_path):
    id_number = new_id_number(date(1964, 2, 2))
    run(write_table(tmp_path, "csv", [HEADER, member_row(id_number)], name="first"))
    run(write_table(tmp_path, "csv", [HEADER, member_row(
        id_number, employment_status="retired", contribution_base="", monthly_pension="3000",
        retired_on="2024-03-01")], name="second"))
    spells = Enrollment.objects.filter(member__id_number=id_number).order_by("effective_from")
    assert [(s.effective_from, s.employment_status) for s in spells] == [
        (date(2020, 1, 1), "in_service"), (date(2024, 3, 1), "retired")]


def test_a_new_spell_never_starts_on_or_before_the_latest_one(tmp_path):
    id_number = new_id_number()
    run(write_table(tmp_path, "csv", [HEADER, member_row(id_number)], name="first"))
    path = write_table(tmp_path, "csv", [HEADER + ["effective_from"],
                                         member_row(id_number, contribution_base="7000") + ["2020-01-01"]])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "effective_from")]
    assert Enrollment.objects.count() == 1


def test_ziyang_pooled_only_switches_to_combined_once_never_back(tmp_path):
    """Ziyang 第八条(二): pooled-only → combined is allowed once, never back."""
    id_number = new_id_number()
    header = HEADER + ["effective_from"]
    run(write_table(tmp_path, "csv", [header, member_row(id_number, scheme="pooled_only") + [""]], name="a"))
    run(write_table(tmp_path, "csv", [header, member_row(id_number, scheme="combined") + ["2022-01-01"]], name="b"))
    back = write_table(tmp_path, "csv", [header, member_row(id_number, scheme="pooled_only") + ["2023-01-01"]],
                       name="c")

    with pytest.raises(CommandError):
        run(back)

    outcome = import_file(MemberImporter(), back)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "scheme")]
    # The one message of the enrollment service (members.services.enrollment).
    from members.services import SCHEME_GOES_BACK

    assert outcome.errors[0].reason == str(SCHEME_GOES_BACK)
    schemes = list(Enrollment.objects.filter(member__id_number=id_number).order_by("effective_from")
                   .values_list("scheme", flat=True))
    assert schemes == ["pooled_only", "combined"]


def test_columns_absent_from_the_file_keep_recorded_values(tmp_path):
    id_number = new_id_number()
    run(write_table(tmp_path, "csv", [HEADER, member_row(id_number, sector="government", phone="0632-1234567")],
                    name="full"))
    short = ["id_number", "name", "employment_status", "scheme", "contribution_base", "enrolled_on"]
    run(write_table(tmp_path, "csv", [short, [id_number, "王建国", "in_service", "combined", "6000", "2020-01-01"]],
                    name="short"))
    member = Member.objects.get(id_number=id_number)
    assert member.phone == "0632-1234567"
    assert member.enrollments.get().sector == "government"


def test_status_and_death_date_go_together(tmp_path):
    path = write_table(tmp_path, "csv", [
        HEADER,
        member_row(new_id_number(), status="deceased"),
        member_row(new_id_number(), died_on="2024-01-01"),
        member_row(new_id_number(), status="deceased", died_on="2024-01-01"),
    ])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "died_on"), (3, "status")]


def test_in_service_member_needs_a_base_and_has_no_pension(tmp_path):
    path = write_table(tmp_path, "csv", [
        HEADER,
        member_row(new_id_number(), contribution_base=""),
        member_row(new_id_number(), monthly_pension="3000", retired_on="2020-01-01"),
    ])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column) for e in outcome.errors] == [
        (2, "contribution_base"), (3, "retired_on"), (3, "monthly_pension")]


def test_command_exits_non_zero_listing_each_bad_row(tmp_path):
    path = write_table(tmp_path, "csv", [HEADER, member_row("123"), member_row(new_id_number(), scheme="x")])
    err = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_members", str(path), stdout=io.StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert any(line.startswith("row 2, column id_number:") for line in lines)
    assert any(line.startswith("row 3, column scheme:") for line in lines)
    assert "nothing written" in str(refused.value)


# real_clock: runs manage.py in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_command_exit_status_is_non_zero_from_the_shell(tmp_path):
    import subprocess
    import sys

    from django.conf import settings

    path = write_table(tmp_path, "csv", [HEADER, member_row("123")])
    completed = subprocess.run([sys.executable, "manage.py", "import_members", str(path)], cwd=settings.BASE_DIR,
                               capture_output=True, text=True, env={**__import__("os").environ,
                                                                    "LANGUAGE": "en"})
    assert completed.returncode != 0
    assert "row 2, column id_number" in completed.stderr


def test_reasons_are_translated_to_chinese(tmp_path):
    from django.utils import translation

    path = write_table(tmp_path, "csv", [HEADER, member_row(new_id_number(), contribution_base="abc")])
    with translation.override("zh-hans"):
        outcome = import_file(MemberImporter(), path)
        assert str(outcome.errors[0]).endswith("输入一个数字。")


def test_a_changed_name_or_status_updates_the_member_and_records_history(tmp_path):
    id_number = new_id_number()
    run(write_table(tmp_path, "csv", [HEADER, member_row(id_number)], name="a"))
    out, _err = run(write_table(tmp_path, "csv", [HEADER, member_row(id_number, name="王建军", status="suspended")],
                                name="b"))
    assert "1 updated" in out
    member = Member.objects.get(id_number=id_number)
    assert (member.name, member.status) == ("王建军", "suspended")
    assert list(member.history.order_by("history_date").values_list("history_type", "name")) == [
        ("+", "王建国"), ("~", "王建军")]
    assert member.enrollments.count() == 1


def test_progress_bar_goes_to_stderr_and_summary_to_stdout(tmp_path):
    path = write_table(tmp_path, "csv", [HEADER, member_row(new_id_number())])
    out, err = run(path)
    assert "validating" in err and "writing" in err
    assert out.strip().startswith("members: 1 rows, 1 created, 0 updated, 0 unchanged.")
    assert len(out.strip().splitlines()) == 1


def test_bench_import_runs_through_the_import_members_code():
    call_command("bench_database", "--mark", stdout=io.StringIO())  # devtools.guard
    out = io.StringIO()
    call_command("bench_import", "--rows", "300", "--prefix", "530300", "--reimport", stdout=out,
                 stderr=io.StringIO())
    assert "first import: 300 rows" in out.getvalue() and "300 unchanged" in out.getvalue()
    assert Member.objects.filter(id_number__startswith="530300").count() == 300


def test_xlsx_date_and_number_cells_are_read_as_values(tmp_path):
    id_number = new_id_number()
    row = member_row(id_number, contribution_base=6000.5, enrolled_on=date(2021, 7, 1))
    path = write_table(tmp_path, "xlsx", [HEADER, row])
    run(path)
    spell = Enrollment.objects.get(member__id_number=id_number)
    assert (spell.effective_from, spell.contribution_base) == (date(2021, 7, 1), Decimal("6000.50"))


def test_reimport_leaves_no_audit_trace_but_a_changing_import_does(tmp_path):
    from core.models import AuditEvent

    path = write_table(tmp_path, "csv", [HEADER, member_row(new_id_number())])
    run(path)
    assert AuditEvent.objects.filter(action="import.members").count() == 1
    run(path)
    assert AuditEvent.objects.filter(action="import.members").count() == 1
