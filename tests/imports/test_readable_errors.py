"""Issue 16: the admin's import page lists each bad row's reasons as text (row number, the
column's Chinese name, the reason in full) under a heading that reads correctly, and a value
outside a choice names the allowed values as the case worker reads them (在职、退休), not codes."""

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

import claims.chronic_importers
import claims.importers
import members.importers
import pharmacies.importers
from core.imports.pipeline import Cells, ChoiceMap
from core.roles import Role
from members.models import Enrollment, Member
from pharmacies.models import Provider
from tests.factories import UserFactory, new_id_number

pytestmark = pytest.mark.django_db

HEADING = "以下行未通过校验，未导入任何数据："
GARBLED = "某些行验数据证失败"  # django-import-export's own zh_Hans heading


@pytest.fixture
def case_worker(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    return client


def post_csv(client, url: str, text: str):
    from core.imports.formats import IMPORT_FORMATS, DetectingCSV

    return client.post(url, {
        "resource": "0", "format": str(IMPORT_FORMATS.index(DetectingCSV)),
        "import_file": SimpleUploadedFile("bad.csv", text.encode("utf-8"), content_type="text/csv"),
    }, HTTP_ACCEPT_LANGUAGE="zh-hans")


def bad_lines(page: str) -> list[tuple[str, str, str]]:
    """(row number or "", column, reason) of each line of the bad-rows table, as text."""
    table = re.search(r'<table class="import-bad-rows".*?</table>', page, re.S).group(0)
    lines = []
    for tr in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S):
        number = re.search(r'class="import-bad-row-number"[^>]*>(.*?)</th>', tr, re.S)
        column = re.search(r'class="import-bad-row-column">(.*?)</td>', tr, re.S).group(1)
        reason = re.search(r'class="import-bad-row-reason">(.*?)</td>', tr, re.S).group(1)
        lines.append((number.group(1) if number else "", html.unescape(column), html.unescape(reason)))
    return lines


def test_the_member_import_lists_each_bad_row_reason_in_full_in_chinese(case_worker):
    good, fixed = new_id_number(), new_id_number()
    wrong_check_digit = fixed[:-1] + ("0" if fixed[-1] != "0" else "1")
    text = ("身份证号,姓名,在职状态,参保方式,缴费基数,参保日期\n"
            f"{good},王建国,在职,统账结合,5000,2021-01-01\n"
            f"{wrong_check_digit},李秀英,在职,统账结合,5000,2021-01-01\n"
            f"{new_id_number()},张伟,在岗,统账结合,5000,2021-01-01\n")

    response = post_csv(case_worker, "/admin/members/member/import/", text)

    assert response.status_code == 200
    page = response.content.decode()
    assert HEADING in page and GARBLED not in page
    assert bad_lines(page) == [
        ("3", "身份证号", "身份证号校验码错误。"),
        ("4", "在职状态", "“在岗”不在可选值内：在职、退休。"),
    ]
    assert wrong_check_digit in page  # the row's cells, to find it in the file
    assert 'class="validation-error-count"' not in page  # no hover-only tooltip
    assert not response.context.get("confirm_form")
    assert Member.objects.count() == 0 and Enrollment.objects.count() == 0


def test_english_headers_are_named_in_chinese_with_the_header_as_written(case_worker):
    text = ("code,name,kind,level,status\n"
            "H37040200001,市立医院,hospital,二级,正常\n"
            "H37040200002,市中医院,定点医疗机构,二级,open\n")

    response = post_csv(case_worker, "/admin/pharmacies/provider/import/", text)

    page = response.content.decode()
    assert HEADING in page
    assert bad_lines(page) == [
        ("2", "机构类型 (kind)", "“hospital”不在可选值内：定点医疗机构、定点零售药店。"),
        ("3", "状态 (status)", "“open”不在可选值内：正常、暂停、终止、协议已到期。"),
    ]
    assert Provider.objects.count() == 0


def test_a_missing_required_column_is_named_in_chinese(case_worker):
    response = post_csv(case_worker, "/admin/members/member/import/",
                        f"身份证号,姓名,参保方式,缴费基数,参保日期\n{new_id_number()},王芳,统账结合,5000,2021-01-01\n")

    page = response.content.decode()
    assert HEADING in page
    assert bad_lines(page) == [("1", "在职状态 (employment_status)", "缺少必需的列（在职状态）。")]
    assert Member.objects.count() == 0


CHOICE_MAPS = [(f"{module.__name__}.{name}", value)
               for module in (members.importers, claims.importers, claims.chronic_importers, pharmacies.importers)
               for name, value in vars(module).items() if isinstance(value, ChoiceMap)]


def test_every_import_choice_is_a_choice_map():
    """Every importer module's choices keep their labels (a plain dict would list codes)."""
    for module in (members.importers, claims.importers, claims.chronic_importers, pharmacies.importers):
        plain = [name for name, value in vars(module).items()
                 if name.isupper() and type(value) is dict and value and all(isinstance(v, str) for v in value.values())]
        assert plain == [], module.__name__
    assert len(CHOICE_MAPS) >= 18


@pytest.mark.parametrize(("name", "mapping"), CHOICE_MAPS, ids=[name for name, _m in CHOICE_MAPS])
def test_a_value_outside_a_choice_names_the_allowed_values_in_chinese(name, mapping):
    with translation.override("zh-hans"):
        cells = Cells({"x": "not-a-choice"})
        assert cells.choice("x", mapping) is None
        [(column, reason)] = cells.problems
        assert reason.startswith("“not-a-choice”不在可选值内：") and reason.endswith("。"), reason
        allowed = reason.removeprefix("“not-a-choice”不在可选值内：").removesuffix("。")
        codes = {code for code in mapping.labels if code}
        assert not any(re.search(rf"\b{re.escape(code)}\b", allowed) for code in codes if code.isascii()), allowed
        # Every value listed is accepted as shown.
        for code, label in mapping.labels.items():
            if code:
                assert str(label) in allowed
                assert Cells({"x": str(label)}).choice("x", mapping) == code
