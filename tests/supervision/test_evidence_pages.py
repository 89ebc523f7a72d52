"""A flag's evidence (佐证说明) reads as a table in Chinese on its admin page, whatever rule raised
it (amounts as ¥, dates, settlements linked), and its 流转记录 link lists the workflow steps."""

import re
from datetime import date
from decimal import Decimal

import pytest

from core.roles import Role
from supervision.evidence import evidence_rows, label
from supervision.models import Flag, SupplyStandard
from supervision.monitoring import monitoring_run
from supervision.services import flag_confirm, flag_first_review
from tests.factories import UserFactory
from tests.i18n.scan import codes_in, visible_text
from tests.supervision.helpers import claim, institution, item, member, pharmacy

pytestmark = pytest.mark.django_db
MARCH = (date(2024, 3, 1), date(2024, 3, 31))


@pytest.fixture
def flags():
    """Three rules' flags: a price above the platform's, a drained account, a repeated prescription."""
    shop = pharmacy()
    priced = claim(member(), date(2024, 3, 8), [(item("DRUG-P", platform_price="10.00"), 5, "12.00")], provider=shop)
    drained = claim(member(), date(2024, 3, 9), [("DRUG-A", 1, "1350.50")], provider=shop, account="1350.50",
                    balance_after="0.00")
    SupplyStandard.objects.create(item_code="DRUG-R", daily_quantity=Decimal("2"))
    who = member()
    first = claim(who, date(2024, 3, 1), [("DRUG-R", 14, "3.00")], provider=institution())
    again = claim(who, date(2024, 3, 5), [("DRUG-R", 14, "3.00")], provider=institution())
    monitoring_run(date_from=MARCH[0], date_to=MARCH[1], codes=["price_above_platform", "cash_out", "repeated_prescribing"])
    return {
        "price_above_platform": (Flag.objects.get(rule__code="price_above_platform"), [priced]),
        "cash_out": (Flag.objects.get(rule__code="cash_out"), [drained]),
        "repeated_prescribing": (Flag.objects.get(rule__code="repeated_prescribing"), [first, again]),
    }


def _evidence_cell(page: str) -> str:
    match = re.search(r'<div class="form-row field-evidence_details">(.*?)</table>\s*</div>', page, re.S)
    assert match, "the evidence row is on the page"
    return match.group(1)


def _settlements_cell(page: str) -> str:
    match = re.search(r'<div class="form-row field-evidence_settlements">(.*?)</div>\s*</div>', page, re.S)
    assert match, "the settlements row is on the page"
    return match.group(1)


@pytest.mark.parametrize("rule", ["price_above_platform", "cash_out", "repeated_prescribing"])
def test_each_settlement_is_named_once_on_the_flag_page_and_once_per_item_of_it(flags, client, rule):
    """The flag's page listed its settlements twice (their own row, and again in the evidence
    table). Each settlement's number now appears once as a settlement, plus once for each item
    of it the evidence names (an item is named with its settlement's number and day)."""
    from claims.models import ClaimLine

    flag, settlements = flags[rule]
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    page = client.get(f"/admin/supervision/flag/{flag.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    line_ids = [pk for key in ("lines", "previous_lines", "main_lines") for pk in flag.evidence.get(key) or []]
    for settlement in settlements:
        items = ClaimLine.objects.filter(pk__in=line_ids, claim=settlement).values_list("pk", flat=True)
        named_items = sum(line_ids.count(pk) for pk in items)
        occurrences = len(re.findall(rf"{re.escape(settlement.external_ref)}(?![0-9])", page))
        assert occurrences == 1 + named_items, (settlement.external_ref, occurrences, named_items)
    if rule == "cash_out":  # no items named: the settlement's number exactly once
        assert len(re.findall(rf"{re.escape(settlements[0].external_ref)}(?![0-9])", page)) == 1


@pytest.mark.parametrize("rule", ["price_above_platform", "cash_out", "repeated_prescribing"])
def test_the_evidence_reads_as_a_chinese_table_with_linked_settlements(flags, client, rule):
    flag, settlements = flags[rule]
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    page = client.get(f"/admin/supervision/flag/{flag.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    cell = _evidence_cell(page)
    # No JSON and no key codes: every key has its label.
    text = " ".join(visible_text(cell))
    assert "&quot;" not in cell and "{" not in text and '"' not in text
    assert not [found for found in codes_in(page) if found[0] == "identifier"], codes_in(page)
    for key in [*flag.evidence, *flag.evidence["parameters"]]:
        assert key not in text, key
    assert "佐证说明" in page and "规则参数" in cell and "申诉期限（天）" in cell
    # The settlements are listed once, in their own row above the table (not again in it).
    assert "<th>涉及结算</th>" not in cell
    listed = _settlements_cell(page)
    for settlement in settlements:
        assert f'href="/admin/claims/claim/{settlement.pk}/change/"' in listed and settlement.external_ref in listed
    expected = {
        "price_above_platform": ["挂网价格", "¥10.00", "高于挂网价的容差", "0%", "仅限药店", "是"],
        "cash_out": ["发现的情形", "账户余额清零", "¥200.00", "¥100.00"],
        "repeated_prescribing": ["前次用药尚未用完的开药", "DRUG-R × 14，¥42.00", "回溯天数", "90"],
    }[rule]
    for text in expected:
        assert text in cell, text
    if rule == "cash_out":
        assert "¥1,350.50" in listed  # the settlement's total, as amounts read


def test_an_unknown_key_is_humanized_and_values_are_formatted():
    rows = dict(evidence_rows({"some_new_key": [1, 2], "died_on": "2024-03-01", "restricted_to": "F",
                               "previous_total": "1234.5", "claims": [], "parameters": {}}))
    assert label("some_new_key") == "Some new key"
    assert rows["Some new key"] == "1、2"
    assert rows[label("died_on")] == "2024-03-01"
    assert rows[label("restricted_to")] == "female"  # English here: the tests run in the source language
    assert rows[label("previous_total")] == "¥1,234.50"
    assert label("claims") not in rows and label("parameters") not in rows  # empty lists are left out


def test_the_history_link_lists_the_workflow_steps_in_chinese(flags, client):
    flag, _settlements = flags["price_above_platform"]
    first, second = UserFactory(roles=[Role.AUDITOR], last_name="王", first_name="芳"), UserFactory(roles=[Role.AUDITOR])
    flag_first_review(flag=flag, user=first, opinion="售价高于挂网价")
    flag_confirm(flag=flag, user=second, amount="10.00", note="违规属实", today=date(2024, 4, 1))
    client.force_login(first)
    change = client.get(f"/admin/supervision/flag/{flag.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f'href="/admin/supervision/flag/{flag.pk}/history/"' in change and "流转记录" in change
    page = client.get(f"/admin/supervision/flag/{flag.pk}/history/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    rows = re.findall(r"<tr>\s*<th scope=\"row\">[^<]+</th>(.*?)</tr>", page, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]
    assert cells == [  # step, from state, to state, by, note
        ["智能监控发现", "-", "新疑点", "-", ""],
        ["疑点初审", "新疑点", "已初审", "王芳", "售价高于挂网价"],
        ["确认违规", "已初审", "已确认违规", second.username, "违规属实"],
    ]
    assert "流转记录：疑点" in page and "变更历史" not in page
    assert not [found for found in codes_in(page) if found[0] == "identifier"], codes_in(page)


def test_the_portal_flag_page_shows_the_evidence_in_words_naming_only_the_providers_own_items(flags, client):
    """Repeated prescribing found across two hospitals: the hospital of the refill reads the
    evidence in words, its own items linked to its own settlement pages, the other's only counted."""
    from tests.factories import ProviderStaffFactory

    flag, (first, again) = flags["repeated_prescribing"]
    first_reviewer, second_reviewer = UserFactory(roles=[Role.AUDITOR]), UserFactory(roles=[Role.AUDITOR])
    flag_first_review(flag=flag, user=first_reviewer, opinion="重复开药")
    flag_confirm(flag=flag, user=second_reviewer, amount="42.00", note="违规属实", today=date.today())
    assert flag.provider_id == again.provider_id != first.provider_id
    client.force_login(ProviderStaffFactory(provider=again.provider).user)
    page = client.get(f"/portal/flags/{flag.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    text = " ".join(visible_text(page))
    assert "佐证说明" in text and "规则参数" in text and "回溯天数" in text
    assert "前次用药尚未用完的开药 1 笔在其他机构" in text  # the earlier dispensing is another hospital's
    assert f'href="/portal/settlements/{again.pk}/"' in page and f"/settlements/{first.pk}/" not in page
    assert first.external_ref not in text and again.external_ref in text
    assert not [found for found in codes_in(page) if found[0] == "identifier"], codes_in(page)
