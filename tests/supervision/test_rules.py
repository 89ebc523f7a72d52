"""Each rule fires on a planted case and stays quiet on a near-miss; every check runs the
set-based SQL and the pure predicate over the same rows and requires them to agree."""

from datetime import date
from decimal import Decimal

import pytest

from members.models import Episode
from supervision.models import SupplyStandard
from tests.supervision.helpers import (
    batch_1,
    batch_7,
    batch_8_1,
    check,
    claim,
    institution,
    item,
    load,
    member,
    pharmacy,
)

pytestmark = pytest.mark.django_db

MARCH = (date(2024, 3, 1), date(2024, 3, 31))


def d(day: int, month: int = 3) -> date:
    return date(2024, month, day)


def test_visit_during_an_inpatient_stay_is_flagged_but_not_on_the_discharge_day():
    """Zaozhuang 第十一条: no outpatient pooling during an inpatient stay."""
    who = member()
    Episode.objects.create(member=who, kind=Episode.Kind.INPATIENT_STAY, start_date=d(1), end_date=d(10))
    inside = claim(who, d(5), [("DRUG-A", 1, "30.00")], provider=institution(), fund="20.00", account="5.00")
    claim(who, d(10), [("DRUG-A", 1, "30.00")], provider=institution(), fund="20.00")  # discharge day: near-miss
    claim(who, d(11), [("DRUG-A", 1, "30.00")], provider=institution(), fund="20.00")
    found = check("inpatient_visit", *MARCH)
    assert [(f.item_key, f.amount) for f in found] == [(f"claim:{inside.pk}", Decimal("25.00"))]
    # With the edges included, the discharge day counts too.
    assert len(check("inpatient_visit", *MARCH, include_admission_and_discharge_days=True)) == 2


def test_visit_after_death_is_flagged_and_the_day_of_death_is_not():
    """Jinan (二十): settlements in a dead member's name."""
    who = member(status="deceased", died_on=d(5))
    claim(who, d(5), [("DRUG-A", 1, "10.00")], provider=institution(), fund="8.00")
    after = claim(who, d(6), [("DRUG-A", 1, "10.00")], provider=institution(), fund="8.00")
    found = check("after_death", *MARCH)
    assert [(f.item_key, f.amount, f.member_id) for f in found] == [(f"claim:{after.pk}", Decimal("8.00"), who.pk)]


def test_repeated_prescribing_before_the_supply_ran_out_at_another_provider():
    """Jinan (十九) 重复开药: days' supply = quantity ÷ daily quantity (2 a day here)."""
    SupplyStandard.objects.create(item_code="DRUG-R", daily_quantity=Decimal("2"))
    who = member()
    first = claim(who, d(1), [("DRUG-R", 14, "3.00")], provider=institution())  # 7 days: to 03-08
    again = claim(who, d(5), [("DRUG-R", 14, "3.00")], provider=institution())  # 4 days later: fires
    claim(who, d(12), [("DRUG-R", 14, "3.00")], provider=institution())  # 7 days after 03-05: near-miss
    found = check("repeated_prescribing", *MARCH)
    line = again.lines.get()
    assert [(f.item_key, f.amount) for f in found] == [(f"line:{line.pk}", Decimal("42.00"))]
    assert found[0].claims == sorted([first.pk, again.pk])
    # An early refill tolerance of 3 days lets the 03-05 refill through (4 < 7 - 3 is false).
    assert check("repeated_prescribing", *MARCH, tolerance_days=3) == []


def test_over_quantity_above_seven_days_acute_and_thirty_chronic():
    """Jinan (十九) 超量开药."""
    SupplyStandard.objects.create(item_code="ACUTE", daily_quantity=Decimal("1"))
    SupplyStandard.objects.create(item_code="CHRONIC", daily_quantity=Decimal("1"), chronic=True)
    who = member()
    over = claim(who, d(2), [("ACUTE", 8, "10.00"), ("CHRONIC", 31, "2.00")], provider=institution())
    claim(who, d(3), [("ACUTE", 7, "10.00"), ("CHRONIC", 30, "2.00")], provider=institution())  # near-misses
    found = check("over_quantity", *MARCH)
    lines = {line.catalog_item.code: line.pk for line in over.lines.select_related("catalog_item")}
    # The amount beyond the limit: 80.00 × 1/8 and 62.00 × 1/31.
    assert [(f.item_key, f.amount) for f in found] == sorted(
        [(f"line:{lines['ACUTE']}", Decimal("10.00")), (f"line:{lines['CHRONIC']}", Decimal("2.00"))])


def test_frequent_visits_more_than_the_monthly_limit():
    busy, calm = member(), member()
    for day in (1, 5, 9, 20):
        claim(busy, d(day), [("DRUG-A", 1, "10.00")], provider=institution(), fund="6.00")
    for day in (1, 5, 9):
        claim(calm, d(day), [("DRUG-A", 1, "10.00")], provider=institution(), fund="6.00")
    found = check("frequent_visits", *MARCH, max_visits_per_month=3)
    assert [(f.item_key, f.amount, len(f.claims)) for f in found] == [(f"member:{busy.pk}:2024-03", Decimal("24.00"), 4)]
    # The nightly run of one day of the month sees the whole month.
    assert len(check("frequent_visits", d(20), d(20), max_visits_per_month=3)) == 1


def test_one_member_two_places_far_apart_on_the_same_day():
    """Jinan (二十) 冒名就医."""
    east, west, east_too = institution(district="东区"), institution(district="西区"), institution(district="东区")
    far, near = member(), member()
    claim(far, d(7), [("DRUG-A", 1, "10.00")], provider=east, fund="5.00")
    claim(far, d(7), [("DRUG-A", 1, "10.00")], provider=west, fund="5.00")
    claim(near, d(7), [("DRUG-A", 1, "10.00")], provider=east, fund="5.00")
    claim(near, d(7), [("DRUG-A", 1, "10.00")], provider=east_too, fund="5.00")  # same district: near-miss
    found = check("two_places", *MARCH)
    assert [(f.item_key, f.amount) for f in found] == [(f"member:{far.pk}:2024-03-07", Decimal("10.00"))]
    assert len(check("two_places", *MARCH, different_district_only=False)) == 2


def test_account_cash_out_patterns_round_sums_drained_balance_and_self_paid_items():
    """Ziyang 第十七条 个人账户套现."""
    shop = pharmacy()
    rounder, almost = member(), member()
    for total in ("100.00", "200.00", "300.00"):
        claim(rounder, d(3), [("DRUG-A", 1, total)], provider=shop, account=total)
    for total in ("100.00", "200.00", "150.50"):  # two round sums only: near-miss
        claim(almost, d(3), [("DRUG-A", 1, total)], provider=shop, account=total)
    drained = claim(member(), d(4), [("DRUG-A", 1, "350.50")], provider=shop, account="350.50", balance_after="0.00")
    claim(member(), d(4), [("DRUG-A", 1, "350.50")], provider=shop, account="350.50", balance_after="0.01")
    self_paid = claim(member(), d(4), [("DRUG-A", 1, "100.10")], provider=shop, account="50.00", fully_self_paid="80.08")
    claim(member(), d(4), [("DRUG-A", 1, "100.10")], provider=shop, account="50.00", fully_self_paid="80.07")
    found = check("cash_out", *MARCH)
    assert {(f.item_key, f.amount) for f in found} == {
        (f"round:member:{rounder.pk}:2024-03", Decimal("600.00")),
        (f"drain:claim:{drained.pk}", Decimal("350.50")),
        (f"self_paid:claim:{self_paid.pk}", Decimal("50.00")),
    }


def test_pharmacy_price_above_the_platform_price():
    """Ziyang 第二十一条."""
    listed = item("DRUG-P", platform_price="10.00")
    shop = pharmacy()
    dear = claim(member(), d(8), [(listed, 3, "12.00")], provider=shop)
    claim(member(), d(8), [(listed, 3, "10.00")], provider=shop)  # at the platform price: near-miss
    claim(member(), d(8), [(listed, 3, "12.00")], provider=institution())  # not a pharmacy
    found = check("price_above_platform", *MARCH)
    assert [(f.item_key, f.amount) for f in found] == [(f"line:{dear.lines.get().pk}", Decimal("6.00"))]
    assert check("price_above_platform", *MARCH, tolerance_percent="20") == []


def test_sex_restricted_drug_from_national_batch_1(tmp_path):
    """National rule library batch 1 (限定性别)."""
    load(batch_1(tmp_path / "b1.xlsx", {"阿帕他胺片": ("男", ["XL02BBA326A001010102180"])}))
    woman, man = member(sex="F"), member(sex="M")
    wrong = claim(woman, d(9), [("XL02BBA326A001010102180", 1, "99.00")], provider=institution())
    claim(man, d(9), [("XL02BBA326A001010102180", 1, "99.00")], provider=institution())
    found = check("sex_restricted_drug", *MARCH)
    assert [(f.item_key, f.amount) for f in found] == [(f"line:{wrong.lines.get().pk}", Decimal("99.00"))]


def test_repeated_charging_from_national_batch_7(tmp_path):
    """National rule library batch 7 (重复收费): same day at one provider, or within one visit."""
    load(batch_7(tmp_path / "b7.xlsx", [("单日", "001103000010000", "001102000030000"),
                                         ("单次就诊", "002000000000001", "002000000000002")]))
    for code in ("001103000010000", "001102000030000", "002000000000001", "002000000000002"):
        item(code, kind="service")
    ward, other = institution(), institution()
    who = member()
    claim(who, d(10), [("001103000010000", 1, "50.00")], provider=ward)
    same_day = claim(who, d(10), [("001102000030000", 1, "15.00")], provider=ward)
    claim(who, d(10), [("001102000030000", 1, "15.00")], provider=other)  # other provider: near-miss
    one_visit = claim(who, d(11), [("002000000000001", 1, "40.00"), ("002000000000002", 1, "8.00")], provider=ward)
    claim(who, d(12), [("002000000000001", 1, "40.00")], provider=ward)
    claim(who, d(12), [("002000000000002", 1, "8.00")], provider=ward)  # two visits: near-miss
    found = check("repeated_charge", *MARCH)
    included = one_visit.lines.get(position=1)
    assert [(f.item_key, f.amount) for f in found] == sorted(
        [(f"line:{same_day.lines.get().pk}", Decimal("15.00")), (f"line:{included.pk}", Decimal("8.00"))])


def test_frequency_limited_item_from_national_batch_8_1(tmp_path):
    """National rule library batch 8-1 (限定频次): per member and day; hourly limits × 24."""
    load(batch_8_1(tmp_path / "b8.xlsx", [("001102000040000", 1, "日"), ("001204000010000", 2, "小时")]))
    often, once = member(), member()
    claim(often, d(13), [("001102000040000", 1, "10.00")], provider=institution())
    claim(often, d(13), [("001102000040000", 1, "10.00")], provider=institution())
    claim(once, d(13), [("001102000040000", 1, "10.00")], provider=institution())
    claim(once, d(14), [("001102000040000", 1, "10.00")], provider=institution())  # next day: near-miss
    claim(once, d(15), [("001204000010000", 48, "1.00")], provider=institution())  # 48 = 2 × 24: near-miss
    hourly = claim(often, d(15), [("001204000010000", 50, "1.00")], provider=institution())
    found = check("frequency_limit", *MARCH)
    assert [(f.item_key, f.amount) for f in found] == sorted([
        (f"member:{often.pk}:001102000040000:2024-03-13", Decimal("10.00")),  # 20.00 × (2 − 1) / 2
        (f"member:{often.pk}:001204000010000:2024-03-15", Decimal("2.00")),  # 50.00 × (50 − 48) / 50
    ])
    assert hourly.pk in found[1].claims


def test_provider_indicators_on_complete_months_only():
    """Ziyang 第二十一条, Jinan (十七): cost per visit, growth and out-of-catalog share."""
    steady, growing, dear = institution(), institution(), institution()
    who = member()
    for provider, feb, march, self_paid in ((steady, "90.00", "100.00", "25.00"), (growing, "50.00", "100.00", "0.00"),
                                             (dear, None, "400.00", "0.00")):
        for day in (3, 4):
            if feb:
                claim(who, d(day, 2), [("DRUG-A", 1, feb)], provider=provider)
            claim(who, d(day), [("DRUG-A", 1, march)], provider=provider, fully_self_paid=self_paid)
    found = check("provider_indicators", *MARCH, min_visits=2)
    # Peers average (200 + 200 + 800) / 6 = 200 per visit; bound 1.5 × 200 = 300.
    assert [(f.item_key, f.amount) for f in found] == sorted([
        (f"provider:{dear.pk}:2024-03:avg_cost", Decimal("200.00")),  # 800 − 300 × 2
        (f"provider:{growing.pk}:2024-03:growth", Decimal("70.00")),  # 200 − 100 × 1.3
        (f"provider:{steady.pk}:2024-03:out_of_catalog", Decimal("10.00")),  # 50 − 200 × 20 %
    ])
    # The growth of the steady provider (180 → 200, 11 %) stays under 30 %; a month not yet
    # complete is not judged.
    assert check("provider_indicators", d(1), d(30), min_visits=2) == []
