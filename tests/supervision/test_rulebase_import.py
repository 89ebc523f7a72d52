"""The national rule library batches import from spreadsheets in the published format, replace
their batch whole, and refuse a file with any bad row without writing anything."""

import pytest
from django.core.management import CommandError, call_command

from core.errors import DomainError
from core.roles import Role
from supervision.models import FrequencyLimit, RepeatedChargePair, RulebaseImport, SexRestrictedDrug
from tests.factories import UserFactory
from tests.supervision.helpers import batch_1, batch_7, batch_8_1, load, workbook

pytestmark = pytest.mark.django_db


def test_batch_1_imports_through_the_command_with_the_batch_detected_from_the_headers(tmp_path, capsys):
    path = batch_1(tmp_path / "b1.xlsx", {"阿帕他胺片": ("男", ["XL02BBA326A001010102180", "XL02BBA326A001010178537"]),
                                          "艾附暖宫丸": ("女", ["ZD03AAA0043010100166"])})
    call_command("import_rulebase", str(path))
    assert dict(SexRestrictedDrug.objects.values_list("drug_code", "sex")) == {
        "XL02BBA326A001010102180": "M", "XL02BBA326A001010178537": "M", "ZD03AAA0043010100166": "F"}
    assert "batch 1: 3 rows" in capsys.readouterr().out
    assert RulebaseImport.objects.get().batch == "1"


def test_reimporting_a_batch_replaces_it_and_leaves_the_other_batches(tmp_path):
    load(batch_7(tmp_path / "b7.xlsx", [("单日", "A1", "B1"), ("单次就诊", "A2", "B2")]))
    load(batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日")]))
    load(batch_7(tmp_path / "b7-new.xlsx", [("6小时", "A3", "B3")]), batch="7")
    assert list(RepeatedChargePair.objects.values_list("main_code", "included_code", "period")) == [("A3", "B3", "6小时")]
    assert list(FrequencyLimit.objects.values_list("item_code", "max_count", "unit")) == [("S1", 1, "日")]


def test_batch_8_1_skips_the_published_footer_rows(tmp_path):
    load(batch_8_1(tmp_path / "b8.xlsx", [("001102000040000", 1, "日"), ("001204000010000", 2, "小时")]), batch="8-1")
    assert FrequencyLimit.objects.count() == 2


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(tmp_path):
    load(batch_8_1(tmp_path / "good.xlsx", [("KEEP", 1, "日")]))
    bad = workbook(tmp_path / "bad.xlsx", {"Sheet1": [
        ("序号", "项目名称", "限制数量", "数量单位", "项目编码"),
        (1, "甲", 1, "日", "X1"),
        (2, "乙", "两次", "日", "X2"),
        (3, "丙", 1, "周", "X3"),
        (4, "丁", 1, "日", ""),
    ]})
    with pytest.raises(DomainError) as refused:
        load(bad)
    assert refused.value.code == "rulebase_invalid"
    assert refused.value.details["errors"] == [
        "row 3, column 限制数量: not a positive number: '两次'",
        "row 4, column 数量单位: unknown unit '周'",
        "row 5, column 项目编码: required",
    ]
    assert list(FrequencyLimit.objects.values_list("item_code", flat=True)) == ["KEEP"]
    assert RulebaseImport.objects.count() == 1


def test_batch_1_refuses_a_code_whose_drug_is_not_on_the_first_sheet(tmp_path):
    path = workbook(tmp_path / "b1.xlsx", {
        "Sheet1": [("药品通用名", "药品说明", "限定类型", "限定对象"), ("甲药", "", "限定性别对象", "男")],
        "Sheet2": [("药品通用名", "序号", "药品代码", "限定类型"), ("乙药", 1, "C1", "限定性别对象")],
    })
    with pytest.raises(DomainError) as refused:
        load(path)
    assert refused.value.details["errors"] == ["Sheet2 row 2, column 药品通用名: not on the first sheet"]
    assert not SexRestrictedDrug.objects.exists()


def test_the_command_refuses_a_file_of_another_batch(tmp_path):
    path = batch_7(tmp_path / "b7.xlsx", [("单日", "A1", "B1")])
    with pytest.raises(CommandError):
        call_command("import_rulebase", str(path), "--batch", "1")
    assert not RepeatedChargePair.objects.exists()


def test_an_auditor_uploads_a_batch_in_the_admin(tmp_path, client):
    auditor = UserFactory(roles=[Role.AUDITOR])
    client.force_login(auditor)
    path = batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日")])
    page = client.get("/admin/supervision/rulebaseimport/upload/")
    assert page.status_code == 200
    with path.open("rb") as upload:
        response = client.post("/admin/supervision/rulebaseimport/upload/", {"file": upload, "batch": ""})
    assert response.status_code == 302
    assert FrequencyLimit.objects.get().item_code == "S1"
    assert RulebaseImport.objects.get().imported_by == auditor


def test_a_case_worker_may_not_import(tmp_path):
    worker = UserFactory(roles=[Role.CASE_WORKER])
    from supervision.services import rulebase_import

    with pytest.raises(DomainError) as refused:
        rulebase_import(source=str(batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日")])), user=worker)
    assert refused.value.code == "forbidden"
    assert not FrequencyLimit.objects.exists()


def test_the_rule_library_is_held_to_the_import_limits_and_nothing_is_written(tmp_path, settings):
    """The same IMPORT_MAX_BYTES / IMPORT_MAX_ROWS as every import (core.imports.pipeline)."""
    load(batch_8_1(tmp_path / "good.xlsx", [("KEEP", 1, "日")]))
    path = batch_8_1(tmp_path / "b8.xlsx", [(f"X{n}", 1, "日") for n in range(5)])
    settings.IMPORT_MAX_ROWS = 3
    with pytest.raises(DomainError) as refused:
        load(path)
    assert refused.value.details["errors"] == [
        "Sheet “医疗服务项目限定频次”规则对应知识点明细 has more than 3 data rows (IMPORT_MAX_ROWS)."
    ]
    settings.IMPORT_MAX_ROWS = 1000
    settings.IMPORT_MAX_BYTES = 1000
    with pytest.raises(DomainError) as refused:
        load(path)
    assert "the limit is 1000 B (IMPORT_MAX_BYTES)" in refused.value.details["errors"][0]
    not_xlsx = tmp_path / "photo.xlsx"
    not_xlsx.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DomainError) as refused:
        load(not_xlsx)
    assert "is not an .xlsx workbook" in refused.value.details["errors"][0]
    assert list(FrequencyLimit.objects.values_list("item_code", flat=True)) == ["KEEP"]
    assert RulebaseImport.objects.count() == 1


def test_an_import_is_labelled_in_beijing_time_at_half_past_midnight(tmp_path):
    """At 00:30 Beijing the stored time is 16:30 UTC of the day before: the import's label (the
    admin's list and the rules' source) is the Beijing date and hour."""
    from datetime import datetime

    import time_machine

    from tests.conftest import BEIJING

    with time_machine.travel(datetime(2026, 12, 4, 0, 30, tzinfo=BEIJING), tick=False):
        load(batch_8_1(tmp_path / "b8.xlsx", [("S1", 1, "日")]))
    imported = RulebaseImport.objects.get()
    assert imported.imported_at.isoformat() == "2026-12-03T16:30:00+00:00"
    assert str(imported).endswith(" 2026-12-04 00:30")
