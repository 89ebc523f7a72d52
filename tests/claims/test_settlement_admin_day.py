"""A case worker's day with settlements (issue 16): find them by the member, filter by provider
and dates, read why a settlement paid what it paid, reverse it from its own page with a
reason, export the list; the API answer carries the same explanation."""

from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import Claim
from core.models import AuditEvent
from core.roles import Role
from members.models import LedgerEntry
from tests.factories import ProviderFactory, UserFactory

from .conftest import make_member

CHANGELIST = reverse("admin:claims_claim_changelist")


@pytest.fixture
def day(region, catalog, provider_client):
    region("zaozhuang")
    level1 = ProviderFactory(kind="institution", level="level_1", name="市立医院")
    other = ProviderFactory(kind="institution", level="level_1", name="矿务局医院")
    member = make_member(balance="100.00", name="李秀英")
    bystander = make_member(name="张伟")
    api, other_api = provider_client(level1), provider_client(other)

    def settle(client, who, ref, day="2023-02-01", quantity="30"):
        response = client.post("/api/v1/settlements", {
            "member_id_number": who.id_number, "visit_date": day, "external_ref": ref, "visit_place": "local",
            "use_account": True, "items": [{"code": "A-DRUG", "quantity": quantity, "unit_price": "10.00"}],
        }, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    first = settle(api, member, "HIS-1")
    settle(other_api, member, "HIS-2", day="2023-03-15", quantity="2")
    settle(api, bystander, "HIS-3", day="2023-02-20", quantity="1")
    case_worker = Client()
    case_worker.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    return {"member": member, "level1": level1, "other": other, "first": first, "admin": case_worker}


def _listed(client, **params):
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return sorted(claim.external_ref for claim in response.context["cl"].result_list)


def test_the_api_answer_explains_the_calculation_with_its_articles(day):
    """Zaozhuang 第五条(一)-(三), 第八条: each step names its article and its amounts."""
    answer = day["first"]
    steps = {step["step"]: step for step in answer["explanation"]}
    assert list(steps) == ["lines", "deductible", "ratio", "cap", "burden", "account"]
    assert steps["deductible"]["article"] == "枣庄 第五条(一)"
    assert steps["ratio"]["article"] == "枣庄 第五条(二)"
    assert steps["cap"]["article"] == "枣庄 第五条(三)"
    assert steps["account"]["article"] == "枣庄 第八条"
    # 70 per cent as people write it (Decimal's normalize() alone would say 7E+1).
    assert "70%" in steps["ratio"]["text"] and "E+" not in steps["ratio"]["text"]
    assert answer["deductible"] in steps["deductible"]["text"]
    assert answer["fund"] in steps["cap"]["text"] and answer["year"]["cap_remaining"] in steps["cap"]["text"]
    assert f"{answer['account']}" in steps["account"]["text"] and answer["cash"] in steps["account"]["text"]
    assert answer["total"] in steps["lines"]["text"]


def test_the_settlement_page_shows_the_explanation_in_chinese(day):
    claim = Claim.objects.get(external_ref="HIS-1")
    page = day["admin"].get(reverse("admin:claims_claim_change", args=[claim.pk])).content.decode()
    assert "枣庄 第五条(一)" in page and "起付" in page
    assert "撤销此结算" in page  # the reverse button on the settlement's own page


@pytest.mark.parametrize("term, expected", [
    ("HIS-2", ["HIS-2"]),
    ("秀英", ["HIS-1", "HIS-2"]),
    ("张", ["HIS-3"]),
])
def test_settlements_are_found_by_the_member_or_the_transaction_number(day, term, expected):
    assert _listed(day["admin"], q=term) == expected


def test_settlements_are_found_by_the_members_id_number_last_four_and_masked(day):
    member = day["member"]
    assert _listed(day["admin"], q=member.id_number) == ["HIS-1", "HIS-2"]
    assert _listed(day["admin"], q=member.id_number[-4:]) == ["HIS-1", "HIS-2"]
    assert _listed(day["admin"], q=member.masked_id_number) == ["HIS-1", "HIS-2"]


def test_settlements_filter_by_provider_and_date_range(day):
    admin = day["admin"]
    assert _listed(admin, provider__id__exact=day["other"].pk) == ["HIS-2"]
    assert _listed(admin, visit_date__gte="2023-02-10") == ["HIS-2", "HIS-3"]
    assert _listed(admin, visit_date__gte="2023-02-01", visit_date__lte="2023-02-28") == ["HIS-1", "HIS-3"]
    assert _listed(admin, visit_date__lte="2023-02-28", q="秀英") == ["HIS-1"]
    page = admin.get(CHANGELIST, {"visit_date__gte": "2023-02-10"}).content.decode()
    assert 'value="2023-02-10"' in page  # the range stays in its inputs


@pytest.mark.parametrize("bad", ["2023-02-30", "not-a-date", "99999-01-01", "2023-02-01\x00"])
def test_a_bad_date_in_the_range_is_ignored_not_a_server_error(day, bad):
    response = day["admin"].get(CHANGELIST, {"visit_date__gte": bad})
    # A NUL byte in any parameter is refused before the view (core.guard): 400, not ignored.
    assert response.status_code in ((400,) if "\x00" in bad else (200, 302))


def test_reverse_from_the_settlements_own_page_with_a_reason(day):
    admin, claim = day["admin"], Claim.objects.get(external_ref="HIS-1")
    url = reverse("admin:claims_claim_reverse", args=[claim.pk])
    entries = LedgerEntry.objects.count()

    assert admin.get(url).status_code == 200
    refused = admin.post(url, {"reason": ""})  # the reason is required: nothing happens
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    claim.refresh_from_db()
    assert claim.status == "settled" and LedgerEntry.objects.count() == entries

    response = admin.post(url, {"reason": "患者退药"}, follow=True)
    claim.refresh_from_db()
    assert (claim.status, claim.reversal_reason) == ("reversed", "患者退药")
    assert LedgerEntry.objects.count() == entries + 1  # the account refund
    assert AuditEvent.objects.filter(action="claim.reverse").count() == 1
    assert "已撤销" in response.content.decode()

    again = admin.post(url, {"reason": "再次撤销"}, follow=True)
    assert "已于" in again.content.decode()  # "was already reversed on …"
    claim.refresh_from_db()
    assert claim.reversal_reason == "患者退药" and LedgerEntry.objects.count() == entries + 1


def test_the_list_action_says_when_a_settlement_was_already_reversed(day):
    admin, claim = day["admin"], Claim.objects.get(external_ref="HIS-1")
    admin.post(reverse("admin:claims_claim_reverse", args=[claim.pk]), {"reason": "退药"})
    response = admin.post(CHANGELIST, {"action": "reverse_selected", "_selected_action": [claim.pk],
                                       "apply": "1", "reason": "又一次"}, follow=True)
    text = response.content.decode()
    assert "已于" in text and "0 笔" not in text


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FINANCE])
def test_only_case_workers_reverse(day, role):
    claim = Claim.objects.get(external_ref="HIS-1")
    client = Client()
    client.force_login(UserFactory(roles=[role]))
    assert client.post(reverse("admin:claims_claim_reverse", args=[claim.pk]), {"reason": "x"}).status_code == 403
    claim.refresh_from_db()
    assert claim.status == "settled"


def test_the_api_reversal_carries_a_reason(day, provider_client):
    claim = Claim.objects.get(external_ref="HIS-1")
    api = provider_client(day["level1"])
    response = api.post(f"/api/v1/settlements/{claim.pk}/reverse", {"reason": "系统重复上传"}, format="json")
    assert response.status_code == 200, response.json()
    claim.refresh_from_db()
    assert claim.reversal_reason == "系统重复上传"


def test_export_selected_settlements_with_chinese_headings_and_masked_ids(day):
    ids = list(Claim.objects.values_list("pk", flat=True))
    response = day["admin"].post(CHANGELIST, {"action": "export_xlsx", "_selected_action": ids})
    assert response.status_code == 200
    rows = [[cell.value for cell in row] for row in load_workbook(BytesIO(response.content)).active.iter_rows()]
    assert rows[0][:2] == ["结算编号", "机构交易流水号"]
    assert sorted(row[1] for row in rows[1:]) == ["HIS-1", "HIS-2", "HIS-3"]
    assert day["member"].id_number not in str(rows)


def test_the_portal_shows_a_settlements_explanation_to_its_own_provider_only(day):
    from tests.factories import ProviderStaffFactory

    claim = Claim.objects.get(external_ref="HIS-1")
    url = reverse("portal_claims:settlement", args=[claim.pk])
    mine = Client()
    mine.force_login(ProviderStaffFactory(provider=day["level1"]).user)
    page = mine.get(url).content.decode()
    assert "枣庄 第五条(一)" in page and "HIS-1" in page and "甲类药" in page
    assert day["member"].id_number not in page
    assert url in mine.get(reverse("portal_claims:settlements")).content.decode()
    theirs = Client()
    theirs.force_login(ProviderStaffFactory(provider=day["other"]).user)
    assert theirs.get(url).status_code == 404


def test_settlement_lines_are_numbered_from_one_on_the_portal_and_the_admin_page(day, provider_client):
    """序号 counts from 1 as people count; the stored position stays from 0 (issue 16)."""
    import re

    from tests.factories import ProviderStaffFactory

    response = provider_client(day["level1"]).post("/api/v1/settlements", {
        "member_id_number": day["member"].id_number, "visit_date": "2023-02-02", "external_ref": "HIS-4",
        "visit_place": "local", "use_account": True, "items": [
            {"code": "A-DRUG", "quantity": "1", "unit_price": "10.00"},
            {"code": "C-DRUG", "quantity": "1", "unit_price": "30.00"}],
    }, format="json")
    assert response.status_code == 201, response.json()
    claim = Claim.objects.get(external_ref="HIS-4")
    assert list(claim.lines.values_list("position", flat=True)) == [0, 1]
    portal = Client()
    portal.force_login(ProviderStaffFactory(provider=day["level1"]).user)
    page = portal.get(reverse("portal_claims:settlement", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<th>序号</th>" in page
    assert re.findall(r"<tr><td>(\d+)</td><td>(?:A|C)-DRUG", page) == ["1", "2"]
    page = day["admin"].get(reverse("admin:claims_claim_change", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "序号" in page
    numbers = re.findall(r'<td class="field-number">\s*<p>(\d+)</p>', page)
    assert numbers == ["1", "2"], numbers
    assert f"结算编号 {claim.pk} 第 1 项" in page and f"结算编号 {claim.pk} 第 2 项" in page  # each line's caption
    assert f"{claim.pk}#0" not in page


def test_resending_a_reversed_settlement_says_it_was_reversed_in_beijing_time(day, provider_client):
    """A HIS that retries after a reversal must not book the visit as paid."""
    claim = Claim.objects.get(external_ref="HIS-1")
    api = provider_client(day["level1"])
    reversal = api.post(f"/api/v1/settlements/{claim.pk}/reverse", {"reason": "退费"}, format="json").json()
    assert reversal["reversed_at"].endswith("+08:00")
    entries = LedgerEntry.objects.count()
    again = api.post("/api/v1/settlements", {
        "member_id_number": day["member"].id_number, "visit_date": "2023-02-01", "external_ref": "HIS-1",
        "visit_place": "local", "use_account": True, "items": [{"code": "A-DRUG", "quantity": "30", "unit_price": "10.00"}],
    }, format="json")
    assert again.status_code == 200
    body = again.json()
    assert body["status"] == "reversed" and body["reversed_at"] == reversal["reversed_at"]
    assert "撤销" in body["message"] and "新的交易流水号" in body["message"]
    assert LedgerEntry.objects.count() == entries  # nothing paid again


def test_the_member_page_lists_the_latest_settlements_linked(day):
    member = day["member"]
    page = day["admin"].get(reverse("admin:members_member_change", args=[member.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for ref in ("HIS-1", "HIS-2"):
        claim = Claim.objects.get(external_ref=ref)
        assert reverse("admin:claims_claim_change", args=[claim.pk]) in html
    assert "HIS-3" not in html  # another member's
    assert "最近结算" in html


def _section_rows(html: str, title: str) -> list[list[str]]:
    """The body rows of the member page's section titled `title` (cells' text)."""
    import re

    start = html.index(f"<h3>{title}</h3>")
    table = html[start + 4:].split("<h3>")[0].split("</table>")[0]
    if "<table>" not in table:
        return []
    body = table.split("<tbody>")[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_member_page_answers_the_phone_call_with_the_year_so_far_and_the_flags(day):
    from datetime import date
    from decimal import Decimal

    from claims.chronic_models import ChronicYear, Disease
    from claims.models import MemberYear
    from supervision.models import Flag, Rule

    member = day["member"]
    year = MemberYear.objects.get(member=member, year=2023)
    # The two settlements above (300.00 and 20.00 of a level-1 institution in Zaozhuang).
    assert year.fund_paid > 0
    disease = Disease.objects.create(region="zaozhuang", code="M03900", name="高血压病", group="chronic")
    ChronicYear.objects.create(member=member, year=2023, tally=f"disease:{disease.code}", deductible_met=Decimal("200.00"),
                               fund_paid=Decimal("150.50"), limit=Decimal("3000.00"))
    ChronicYear.objects.create(member=member, year=2023, tally="group:two_diseases", fund_paid=Decimal("12.00"))
    ChronicYear.objects.create(member=member, year=2022, tally="group:special", fund_paid=Decimal("99.99"))
    claim = Claim.objects.get(external_ref="HIS-2")
    rule = Rule.objects.get(code="after_death")
    on_claim = Flag.objects.create(rule=rule, item_key="c", day=date(2023, 3, 15), provider=claim.provider, claim=claim,
                                   message="三十日内重复开药", amount_at_stake=Decimal("20.00"), status=Flag.Status.CONFIRMED)
    Flag.objects.create(rule=rule, item_key="other", day=date(2023, 3, 15), message="别人的", member=day["member"].__class__.objects.exclude(pk=member.pk).first())

    page = day["admin"].get(reverse("admin:members_member_change", args=[member.pk]), {"year": "2023"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "本年度至今：2023" in html

    pooling = _section_rows(html, "门诊统筹")
    assert pooling[0][:4] == [f"{year.deductible_met:.2f}", f"{year.fund_paid:.2f}", f"{year.cap:.2f}", f"{year.cap_remaining:.2f}"]
    assert pooling[0][5:] == [f"{year.large_expense_burden:.2f}", f"{year.large_expense_pending_base:.2f}"]

    chronic = _section_rows(html, "门诊慢特病")
    assert chronic[0] == ["高血压病", "200.00", "150.50", "3000.00", "2849.50"]
    assert len(chronic) == 2 and chronic[1][1:3] == ["0.00", "12.00"] and "group:" not in html
    assert "99.99" not in html  # another year's

    # The account's uses are by the year the entries were posted (today), not the visit's.
    assert _section_rows(html, "个人账户使用情况")[0][1:5] == ["0.00", "0.00", "0.00", "0.00"]

    flags = _section_rows(html, "监管疑点（各年度，最近50条）")
    assert len(flags) == 1  # the other member's flag is not shown
    assert flags[0][0] == rule.title and flags[0][3] == "HIS-2" and flags[0][5] == "20.00"
    assert reverse("admin:supervision_flag_change", args=[on_claim.pk]) in html

    # Another year: nothing settled then.
    page = day["admin"].get(reverse("admin:members_member_change", args=[member.pk]), {"year": "2024"})
    html = page.content.decode()
    assert _section_rows(html, "门诊统筹")[0][1] == "0.00"
    assert _section_rows(html, "门诊慢特病") == []

    # This year (the default): the account, 100.00 opening, the settlements' account parts paid from it.
    html = day["admin"].get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    paid = -sum(e.amount for e in LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.SETTLEMENT_PAYMENT))
    assert paid > 0
    account = _section_rows(html, "个人账户使用情况")
    assert account[0][2] == f"{paid:.2f}" and account[0][3:5] == ["0.00", "0.00"]
    member.account.refresh_from_db()
    assert account[0][5] == f"{member.account.balance:.2f}" == f"{Decimal('100.00') - paid:.2f}"
