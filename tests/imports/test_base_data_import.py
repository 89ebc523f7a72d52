"""The other imports: family links, registrations, episodes, reference data, providers,
catalog and opening balances, from CSV and XLSX, with English or Chinese headers."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from claims.importers import CatalogItemImporter
from claims.models import CatalogItem
from core.imports.pipeline import import_file
from members.importers import (
    AccountOpeningImporter,
    EpisodeImporter,
    FamilyLinkImporter,
    ReferenceValueImporter,
    RegistrationImporter,
)
from members.models import (
    Episode,
    FamilyLink,
    LedgerEntry,
    PersonalAccount,
    ReferenceValue,
    Registration,
)
from pharmacies.importers import ProviderImporter
from pharmacies.models import Provider
from tests.factories import AccountFactory, MemberFactory, ProviderFactory

from .helpers import write_table

pytestmark = pytest.mark.django_db
FORMATS = ["csv", "csv-gbk", "xlsx"]


def command(name, path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, str(path), *args, stdout=out, stderr=err)
    return out.getvalue()


def errors_of(importer, path):
    return [(e.row, e.column) for e in import_file(importer, path).errors]


# Family links -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_family_links_are_stored_both_ways(tmp_path, fmt):
    husband, wife, son = MemberFactory(), MemberFactory(), MemberFactory()
    path = write_table(tmp_path, fmt, [
        ["身份证号", "亲属身份证号", "关系"],
        [husband.id_number, wife.id_number, "配偶"],
        [husband.id_number, son.id_number, "child"],
    ])

    out = command("import_family_links", path)

    assert "2 created" in out
    pairs = set(FamilyLink.objects.values_list("member_id", "relative_id", "relation"))
    assert pairs == {(husband.pk, wife.pk, "spouse"), (wife.pk, husband.pk, "spouse"),
                     (husband.pk, son.pk, "child"), (son.pk, husband.pk, "parent")}
    assert "2 unchanged" in command("import_family_links", path)
    assert FamilyLink.objects.count() == 4


def test_family_link_to_oneself_unknown_member_and_reversed_duplicate_are_refused(tmp_path):
    a, b = MemberFactory(), MemberFactory()
    stranger = MemberFactory.build().id_number
    path = write_table(tmp_path, "csv", [
        ["id_number", "relative_id_number", "relation"],
        [a.id_number, a.id_number, "spouse"],
        [a.id_number, stranger, "spouse"],
        [a.id_number, b.id_number, "parent"],
        [b.id_number, a.id_number, "child"],
    ])
    assert errors_of(FamilyLinkImporter(), path) == [
        (2, "relative_id_number"), (3, "relative_id_number"), (5, "relative_id_number")]
    assert FamilyLink.objects.count() == 0


def test_a_member_has_at_most_one_spouse(tmp_path):
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    FamilyLink.objects.create(member=a, relative=b, relation="spouse")
    FamilyLink.objects.create(member=b, relative=a, relation="spouse")
    path = write_table(tmp_path, "csv", [["id_number", "relative_id_number", "relation"],
                                         [c.id_number, a.id_number, "spouse"]])
    outcome = import_file(FamilyLinkImporter(), path)
    assert [(e.row, e.column, e.reason) for e in outcome.errors] == [
        (2, "relative_id_number", "The relative already has a spouse.")]


def test_an_existing_link_with_another_relation_is_refused(tmp_path):
    a, b = MemberFactory(), MemberFactory()
    FamilyLink.objects.create(member=a, relative=b, relation="parent")
    FamilyLink.objects.create(member=b, relative=a, relation="child")
    path = write_table(tmp_path, "csv", [["id_number", "relative_id_number", "relation"],
                                         [a.id_number, b.id_number, "child"]])
    assert errors_of(FamilyLinkImporter(), path) == [(2, "relation")]


# Registrations and episodes ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_registrations_import_and_update_their_end_date(tmp_path, fmt):
    member = MemberFactory()
    first = write_table(tmp_path, fmt, [["身份证号", "备案类型", "备案地区", "开始日期", "结束日期"],
                                        [member.id_number, "异地长期居住", "省外", "2023-01-01", ""]], name="a")
    assert "1 created" in command("import_registrations", first)
    assert "1 unchanged" in command("import_registrations", first)
    second = write_table(tmp_path, fmt, [["id_number", "kind", "place", "valid_from", "valid_to"],
                                         [member.id_number, "long_term_residence", "out_of_province", "2023-01-01",
                                          "2024-12-31"]], name="b")
    assert "1 updated" in command("import_registrations", second)
    registration = Registration.objects.get()
    assert (registration.place, registration.valid_to) == ("out_of_province", date(2024, 12, 31))
    assert registration.history.count() == 2


def test_registration_end_before_start_is_refused(tmp_path):
    member = MemberFactory()
    path = write_table(tmp_path, "csv", [["id_number", "place", "valid_from", "valid_to"],
                                         [member.id_number, "in_province", "2023-05-01", "2023-04-01"]])
    assert errors_of(RegistrationImporter(), path) == [(2, "valid_to")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_episodes_import_with_chinese_kinds(tmp_path, fmt):
    member = MemberFactory()
    path = write_table(tmp_path, fmt, [["身份证号", "类型", "开始日期", "结束日期"],
                                       [member.id_number, "住院", "2023-03-01", "2023-03-10"],
                                       [member.id_number, "医疗专护", "2023-04-01", ""]])
    assert "2 created" in command("import_episodes", path)
    assert set(Episode.objects.values_list("kind", "end_date")) == {
        ("inpatient_stay", date(2023, 3, 10)), ("ltc_medical_care", None)}
    assert "2 unchanged" in command("import_episodes", path)


def test_episode_kinds_as_labelled_with_either_colon(tmp_path):
    """The long-term care kinds read 长期护理：居家护理 (full-width colon); a file saved when the
    label had an ASCII colon still imports."""
    first, second = MemberFactory(), MemberFactory()
    path = write_table(tmp_path, "csv", [["身份证号", "类型", "开始日期", "结束日期"],
                                         [first.id_number, "长期护理：居家护理", "2023-04-01", ""],
                                         [second.id_number, "长期护理:机构护理", "2023-04-01", ""]])
    assert "2 created" in command("import_episodes", path)
    assert set(Episode.objects.values_list("member_id", "kind")) == {
        (first.pk, "ltc_home_care"), (second.pk, "ltc_institutional_care")}


def test_episode_of_unknown_member_is_refused_and_nothing_written(tmp_path):
    member = MemberFactory()
    path = write_table(tmp_path, "csv", [["id_number", "kind", "start_date", "end_date"],
                                         [member.id_number, "inpatient_stay", "2023-03-01", "2023-03-10"],
                                         [MemberFactory.build().id_number, "inpatient_stay", "2023-03-01", ""]])
    with pytest.raises(CommandError):
        command("import_episodes", path)
    assert errors_of(EpisodeImporter(), path) == [(3, "id_number")]
    assert Episode.objects.count() == 0


# Reference data ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_reference_values_import_by_kind_year_and_sector(tmp_path, fmt):
    path = write_table(tmp_path, fmt, [["指标", "年度", "单位类型", "数值"],
                                       ["基本养老金平均水平", "2023", "", "3000"],
                                       ["average_pension", "2023", "企业", "2800.50"],
                                       ["average_wage", 2022, "", 90000]])
    assert "3 created" in command("import_reference", path)
    assert ReferenceValue.objects.get(kind="average_pension", year=2023, sector="enterprise").value == Decimal("2800.50")
    assert "3 unchanged" in command("import_reference", path)


def test_reference_value_must_be_positive_and_unique_in_the_file(tmp_path):
    path = write_table(tmp_path, "csv", [["kind", "year", "sector", "value"],
                                         ["average_wage", "2022", "", "0"],
                                         ["average_pension", "2022", "", "2900"],
                                         ["average_pension", "2022", "", "2950"]])
    assert errors_of(ReferenceValueImporter(), path) == [(2, "value"), (4, "year")]


# Providers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_internet_hospital_may_rely_on_an_institution_in_the_same_file(tmp_path, fmt):
    """Jinan (十二): an internet hospital follows its physical institution's level."""
    path = write_table(tmp_path, fmt, [
        ["机构编码", "机构名称", "机构类型", "机构等级", "依托机构编码", "纳入门诊统筹", "状态"],
        ["H37040299002", "市立医院互联网医院", "定点医疗机构", "互联网医院", "H37040299001", "是", "正常"],
        ["H37040299001", "市立医院", "定点医疗机构", "三级", "", "是", "正常"],
        ["P37040299001", "大药房", "定点零售药店", "", "", "否", "暂停"],
    ])
    assert "3 created" in command("import_providers", path)
    online = Provider.objects.get(code="H37040299002")
    assert online.parent.code == "H37040299001" and online.policy_level == "level_3"
    pharmacy = Provider.objects.get(code="P37040299001")
    assert (pharmacy.outpatient_pooling, pharmacy.status) == (False, "suspended")
    assert "3 unchanged" in command("import_providers", path)


def test_internet_hospital_with_unknown_or_missing_parent_is_refused(tmp_path):
    ProviderFactory(code="P37040299009", kind="pharmacy")
    path = write_table(tmp_path, "csv", [
        ["code", "name", "kind", "level", "parent_code"],
        ["H37040299003", "甲", "institution", "internet_hospital", ""],
        ["H37040299004", "乙", "institution", "internet_hospital", "H37040299999"],
        ["H37040299005", "丙", "institution", "internet_hospital", "P37040299009"],
        ["P37040299006", "丁", "institution", "level_1", ""],
        ["H3704029900", "戊", "institution", "level_1", ""],
    ])
    assert errors_of(ProviderImporter(), path) == [
        (2, "parent_code"), (3, "parent_code"), (4, "parent_code"), (5, "code"), (6, "code")]
    assert Provider.objects.count() == 1


def test_provider_import_updates_a_changed_status_and_keeps_absent_columns(tmp_path):
    provider = ProviderFactory(code="H37040299010", district="市中区")
    path = write_table(tmp_path, "csv", [["code", "name", "kind", "level", "status"],
                                         ["H37040299010", provider.name, "institution", "level_1", "suspended"]])
    assert "1 updated" in command("import_providers", path)
    provider.refresh_from_db()
    assert (provider.status, provider.district) == ("suspended", "市中区")


# Catalog --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_catalog_import_with_extra_price_columns(tmp_path, fmt):
    path = write_table(tmp_path, fmt, [
        ["医保编码", "名称", "目录类别", "甲乙类", "先行自付比例", "支付标准", "限定性别", "最小年龄", "最大年龄",
         "价格", "挂网价格"],
        ["XB01", "阿托伐他汀钙片", "药品", "乙类", "10", "", "", "", "", "50.00", "48.00"],
        ["XA01", "阿莫西林胶囊", "drug", "A", "", "12.5", "女", "18", "60", "", ""],
    ])
    assert "2 created" in command("import_catalog", path)
    b = CatalogItem.objects.get(code="XB01")
    assert (b.item_class, b.prepay_percent, b.list_price, b.platform_price) == (
        "B", Decimal("10.00"), Decimal("50.00"), Decimal("48.00"))
    a = CatalogItem.objects.get(code="XA01")
    assert (a.sex, a.min_age, a.max_age, a.payment_standard) == ("F", 18, 60, Decimal("12.50"))
    assert "2 unchanged" in command("import_catalog", path)


def test_prepay_percent_is_required_for_class_b_only(tmp_path):
    path = write_table(tmp_path, "csv", [
        ["code", "name", "kind", "class", "prepay_percent", "min_age", "max_age"],
        ["B1", "乙类无比例", "drug", "B", "", "", ""],
        ["A1", "甲类有比例", "drug", "A", "10", "", ""],
        ["B2", "比例超百", "drug", "B", "120", "", ""],
        ["A2", "年龄倒置", "drug", "A", "", "60", "18"],
    ])
    assert errors_of(CatalogItemImporter(), path) == [
        (2, "prepay_percent"), (3, "prepay_percent"), (4, "prepay_percent"), (5, "max_age")]
    assert CatalogItem.objects.count() == 0


# Opening balances ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_opening_balance_opens_the_account_and_posts_one_entry(tmp_path, fmt):
    member = MemberFactory()
    path = write_table(tmp_path, fmt, [["身份证号", "账户余额", "结转日期", "前12个月划入金额"],
                                       [member.id_number, "1234.56", "2023-01-01", "980.00"]])

    assert "1 created" in command("import_accounts", path)

    account = PersonalAccount.objects.get(member=member)
    assert (account.balance, account.opened_on) == (Decimal("1234.56"), date(2023, 1, 1))
    assert (account.carried_over_credits, account.carried_over_as_of) == (Decimal("980.00"), date(2023, 1, 1))
    entry = account.entries.get()
    assert (entry.kind, entry.amount, entry.balance_after) == ("opening_balance", Decimal("1234.56"),
                                                               Decimal("1234.56"))
    # the same row again does nothing
    assert "1 unchanged" in command("import_accounts", path)
    assert LedgerEntry.objects.count() == 1


def test_opening_balance_adds_to_an_existing_account(tmp_path):
    account = AccountFactory()
    path = write_table(tmp_path, "csv", [["id_number", "balance", "as_of"],
                                         [account.member.id_number, "100", "2023-01-01"]])
    assert "1 updated" in command("import_accounts", path)
    account.refresh_from_db()
    assert account.balance == Decimal("100.00") and account.carried_over_as_of == date(2023, 1, 1)


def test_a_different_opening_balance_for_the_same_member_is_refused(tmp_path):
    member = MemberFactory()
    header = ["id_number", "balance", "as_of"]
    command("import_accounts", write_table(tmp_path, "csv", [header, [member.id_number, "100", "2023-01-01"]],
                                           name="a"))
    again = write_table(tmp_path, "csv", [header, [member.id_number, "150", "2023-01-01"]], name="b")
    with pytest.raises(CommandError):
        command("import_accounts", again)
    assert errors_of(AccountOpeningImporter(), again) == [(2, "balance")]
    assert PersonalAccount.objects.get(member=member).balance == Decimal("100.00")
    assert LedgerEntry.objects.count() == 1


def test_bad_account_rows_write_nothing(tmp_path):
    good, pooled = MemberFactory(), MemberFactory(enrollment__scheme="pooled_only")
    path = write_table(tmp_path, "csv", [["id_number", "balance", "as_of"],
                                         [good.id_number, "100", "2023-01-01"],
                                         [pooled.id_number, "50", "2023-01-01"],
                                         [MemberFactory().id_number, "-5", "2023-01-01"]])
    assert errors_of(AccountOpeningImporter(), path) == [(3, "id_number"), (4, "balance")]
    assert PersonalAccount.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_zero_opening_balance_opens_the_account_without_an_entry(tmp_path):
    member = MemberFactory()
    path = write_table(tmp_path, "csv", [["id_number", "balance", "as_of"], [member.id_number, "0", "2023-01-01"]])
    command("import_accounts", path)
    assert PersonalAccount.objects.get(member=member).carried_over_as_of == date(2023, 1, 1)
    assert LedgerEntry.objects.count() == 0
    assert "1 unchanged" in command("import_accounts", path)


def test_dry_run_of_accounts_writes_nothing(tmp_path):
    member = MemberFactory()
    path = write_table(tmp_path, "csv", [["id_number", "balance", "as_of"], [member.id_number, "10", "2023-01-01"]])
    assert "1 created" in command("import_accounts", path, "--dry-run")
    assert PersonalAccount.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_catalog_account_payable_column_defaults_to_true_and_is_kept_when_absent(tmp_path):
    """CONTRACT.md "Account-only settlement": `account_payable` false for health-care products
    (Zaozhuang 第八条); empty or absent means true."""
    path = write_table(tmp_path, "csv", [
        ["code", "name", "kind", "class", "个人账户可支付"],
        ["TONIC", "保健品", "drug", "C", "否"],
        ["PILL", "阿莫西林", "drug", "A", ""],
    ])
    assert "2 created" in command("import_catalog", path)
    assert dict(CatalogItem.objects.values_list("code", "account_payable")) == {"TONIC": False, "PILL": True}
    without = write_table(tmp_path, "csv", [["code", "name", "kind", "class"], ["TONIC", "保健品", "drug", "C"]])
    assert "1 unchanged" in command("import_catalog", without)
    assert CatalogItem.objects.get(code="TONIC").account_payable is False
    bad = write_table(tmp_path, "csv", [["code", "name", "kind", "class", "account_payable"], ["PILL", "阿莫西林", "drug", "A", "maybe"]])
    assert errors_of(CatalogItemImporter(), bad) == [(2, "account_payable")]


def test_catalog_separately_paid_column_defaults_to_false_and_is_kept_when_absent(tmp_path):
    """Jinan (十六), Yangzhou 三(三): nationally negotiated drugs paid separately (单独支付); the
    flag imports (empty: false), an import without the column keeps it, and it exports."""
    path = write_table(tmp_path, "csv", [
        ["code", "name", "kind", "class", "单独支付"],
        ["NEGO", "谈判药", "drug", "A", "是"],
        ["PILL", "阿莫西林", "drug", "A", ""],
    ])
    assert "2 created" in command("import_catalog", path)
    assert dict(CatalogItem.objects.values_list("code", "separately_paid")) == {"NEGO": True, "PILL": False}
    without = write_table(tmp_path, "csv", [["code", "name", "kind", "class"], ["NEGO", "谈判药", "drug", "A"]])
    assert "1 unchanged" in command("import_catalog", without)
    assert CatalogItem.objects.get(code="NEGO").separately_paid is True
    bad = write_table(tmp_path, "csv", [["code", "name", "kind", "class", "separately_paid"], ["PILL", "阿莫西林", "drug", "A", "maybe"]])
    assert errors_of(CatalogItemImporter(), bad) == [(2, "separately_paid")]
    assert CatalogItem.objects.get(code="PILL").separately_paid is False
