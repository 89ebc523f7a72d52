"""The admin's django-import-export resources import through the same parsers and bulk path
as the commands: preview (dry run) writes nothing, a bad row refuses the whole file with its
row, column and reason, and exports use the English keys so that they import back unchanged."""

from datetime import date
from decimal import Decimal

import pytest
import tablib

from claims.models import CatalogItem
from claims.resources import CatalogItemResource
from core.imports.formats import DetectingCSV, StreamingXLSX
from members.models import (
    Enrollment,
    Episode,
    FamilyLink,
    Member,
    PersonalAccount,
    ReferenceValue,
    Registration,
)
from members.resources import (
    AccountOpeningResource,
    EpisodeResource,
    FamilyLinkResource,
    MemberResource,
    ReferenceValueResource,
    RegistrationResource,
)
from pharmacies.models import Provider
from pharmacies.resources import ProviderResource
from tests.factories import MemberFactory, UserFactory, new_id_number

pytestmark = pytest.mark.django_db


def dataset(rows):
    data = tablib.Dataset(headers=rows[0])
    for row in rows[1:]:
        data.append(row)
    return data


def member_rows(*id_numbers, header=("id_number", "name", "employment_status", "scheme", "contribution_base",
                                     "enrolled_on")):
    return [list(header)] + [[n, "张伟", "in_service", "combined", "5000", "2021-01-01"] for n in id_numbers]


def test_member_resource_preview_writes_nothing_then_import_writes():
    data = dataset(member_rows(new_id_number(), new_id_number()))

    preview = MemberResource().import_data(data, dry_run=True)

    assert not preview.has_errors() and not preview.has_validation_errors()
    assert preview.totals["new"] == 2
    assert Member.objects.count() == 0

    user = UserFactory()
    result = MemberResource().import_data(data, dry_run=False, user=user)
    assert result.totals["new"] == 2
    assert Member.objects.count() == 2 and Enrollment.objects.count() == 2
    assert {row.instance.pk for row in result.rows} == set(Member.objects.values_list("pk", flat=True))
    assert set(Member.history.values_list("history_user", flat=True)) == {user.pk}

    again = MemberResource().import_data(data, dry_run=False)
    assert again.totals["skip"] == 2 and again.totals["new"] == 0


def test_member_resource_reports_invalid_rows_by_spreadsheet_row_and_column():
    good = new_id_number()
    data = dataset(member_rows(good, "370402198005171230"))

    result = MemberResource().import_data(data, dry_run=False)

    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [3]
    assert list(result.invalid_rows[0].field_specific_errors) == ["身份证号 (id_number)"]  # its Chinese name
    assert Member.objects.count() == 0


def test_member_resource_reads_chinese_headers_from_xlsx(tmp_path):
    from .helpers import write_xlsx

    id_number = new_id_number()
    path = write_xlsx(tmp_path / "m.xlsx", member_rows(
        id_number, header=("身份证号", "姓名", "在职状态", "参保方式", "缴费基数", "参保日期")))
    data = StreamingXLSX().create_dataset(path.read_bytes())
    result = MemberResource().import_data(data, dry_run=False)
    assert result.totals["new"] == 1
    assert Member.objects.get().id_number == id_number


def test_detecting_csv_format_reads_gbk_uploads():
    text = "身份证号,姓名,在职状态,参保方式,缴费基数,参保日期\n" + ",".join(
        [new_id_number(), "李秀英", "在职", "统账结合", "5000", "2021-01-01"]) + "\n"
    for encoded in (text.encode("gbk"), text.encode("utf-8-sig"), text.encode("utf-8")):
        data = DetectingCSV().create_dataset(encoded)
        assert data.headers[1] == "姓名" and data[0][1] == "李秀英"
    result = MemberResource().import_data(DetectingCSV().create_dataset(text.encode("gbk")), dry_run=False)
    assert result.totals["new"] == 1


def test_member_export_imports_back_unchanged():
    MemberFactory(enrollment__employment_status="retired", enrollment__contribution_base=None,
                  enrollment__monthly_pension=Decimal("3100.00"), enrollment__retired_on=date(2019, 5, 1))
    MemberFactory()
    exported = MemberResource().export()
    assert exported.headers[:4] == ["id_number", "name", "employment_status", "scheme"]
    result = MemberResource().import_data(tablib.Dataset().load(exported.csv, format="csv"), dry_run=False)
    assert not result.has_validation_errors(), [r.error_dict for r in result.invalid_rows]
    assert result.totals["skip"] == 2


def test_family_link_resource_creates_both_directions():
    a, b = MemberFactory(), MemberFactory()
    result = FamilyLinkResource().import_data(
        dataset([["id_number", "relative_id_number", "relation"], [a.id_number, b.id_number, "parent"]]),
        dry_run=False)
    assert result.totals["new"] == 1
    assert set(FamilyLink.objects.values_list("member_id", "relation")) == {(a.pk, "parent"), (b.pk, "child")}
    exported = FamilyLinkResource().export()
    again = FamilyLinkResource().import_data(tablib.Dataset().load(exported.csv, format="csv"), dry_run=False)
    assert not again.has_validation_errors() and FamilyLink.objects.count() == 2


def test_registration_and_episode_resources():
    member = MemberFactory()
    RegistrationResource().import_data(dataset([
        ["id_number", "kind", "place", "valid_from", "valid_to"],
        [member.id_number, "long_term_residence", "in_province", "2023-01-01", ""]]), dry_run=False)
    EpisodeResource().import_data(dataset([
        ["id_number", "kind", "start_date", "end_date"],
        [member.id_number, "ltc_home_care", "2023-01-01", "2023-02-01"]]), dry_run=False)
    assert Registration.objects.get().place == "in_province"
    assert Episode.objects.get().end_date == date(2023, 2, 1)
    preview = EpisodeResource().import_data(dataset([
        ["id_number", "kind", "start_date", "end_date"],
        [member.id_number, "ltc_home_care", "2023-01-01", "2023-03-01"]]), dry_run=True)
    assert preview.totals["update"] == 1
    assert Episode.objects.get().end_date == date(2023, 2, 1)


def test_reference_provider_and_catalog_resources():
    ReferenceValueResource().import_data(dataset([["kind", "year", "sector", "value"],
                                                  ["average_wage", "2023", "", "91000"]]), dry_run=False)
    ProviderResource().import_data(dataset([["code", "name", "kind", "level", "parent_code"],
                                            ["H37040288001", "医院", "institution", "level_2", ""],
                                            ["H37040288002", "互联网医院", "institution", "internet_hospital",
                                             "H37040288001"]]), dry_run=False)
    result = CatalogItemResource().import_data(dataset([["code", "name", "kind", "class", "prepay_percent"],
                                                        ["B9", "乙类药", "drug", "B", ""]]), dry_run=False)
    assert ReferenceValue.objects.get().value == Decimal("91000.00")
    assert Provider.objects.get(code="H37040288002").parent.code == "H37040288001"
    assert result.has_validation_errors() and CatalogItem.objects.count() == 0
    for resource in (ReferenceValueResource, ProviderResource):
        exported = resource().export()
        again = resource().import_data(tablib.Dataset().load(exported.csv, format="csv"), dry_run=False)
        assert not again.has_validation_errors(), [r.error_dict for r in again.invalid_rows]
        assert again.totals["new"] == 0 and again.totals["update"] == 0


def test_account_opening_resource_posts_through_the_ledger_and_exports_the_opening():
    member = MemberFactory()
    result = AccountOpeningResource().import_data(dataset([["id_number", "balance", "as_of"],
                                                           [member.id_number, "88.80", "2023-01-01"]]),
                                                  dry_run=False)
    assert result.totals["new"] == 1
    account = PersonalAccount.objects.get()
    assert account.balance == Decimal("88.80") and account.entries.get().kind == "opening_balance"
    exported = AccountOpeningResource().export()
    again = AccountOpeningResource().import_data(tablib.Dataset().load(exported.csv, format="csv"), dry_run=False)
    assert again.totals["skip"] == 1 and account.entries.count() == 1


def test_export_never_writes_a_live_formula(settings):
    """Formula injection: names cannot start with =, + , - or @ on import; exports escape too."""
    assert settings.IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT is True


def test_catalog_resource_exports_separately_paid_and_imports_it_back():
    CatalogItem.objects.create(code="NEGO", name="谈判药", kind="drug", item_class="A", separately_paid=True)
    CatalogItem.objects.create(code="PILL", name="阿莫西林", kind="drug", item_class="A")
    exported = CatalogItemResource().export()
    assert "separately_paid" in exported.headers
    CatalogItem.objects.filter(code="NEGO").update(separately_paid=False)
    again = CatalogItemResource().import_data(tablib.Dataset().load(exported.csv, format="csv"), dry_run=False)
    assert not again.has_validation_errors(), [r.error_dict for r in again.invalid_rows]
    assert dict(CatalogItem.objects.values_list("code", "separately_paid")) == {"NEGO": True, "PILL": False}
