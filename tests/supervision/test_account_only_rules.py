"""Supervision of account-only settlements (CONTRACT.md "Account-only settlement"): a purchase
for a relative outside the registry is on the account owner's claims, so the rules about the
use of the account (frequency) count it, and those about the owner's own body and whereabouts
(an inpatient stay, death, sex) do not. SQL and the pure predicate agree (helpers.check)."""

from datetime import date

import pytest

from claims.models import Claim
from members.models import Episode
from tests.factories import new_id_number
from tests.supervision.helpers import check, claim, member, pharmacy

pytestmark = pytest.mark.django_db

MARCH = (date(2024, 3, 1), date(2024, 3, 31))


def for_relative(record: Claim) -> Claim:
    Claim.objects.filter(pk=record.pk).update(
        benefit=Claim.Benefit.PERSONAL_ACCOUNT, treated_id_number=new_id_number(date(1950, 1, 1)), treated_name="母亲")
    return record


def test_a_relatives_purchase_while_the_owner_is_in_hospital_is_not_an_inpatient_visit():
    """Zaozhuang 第十一条 concerns the member's own outpatient visits."""
    owner = member()
    Episode.objects.create(member=owner, kind=Episode.Kind.INPATIENT_STAY, start_date=date(2024, 3, 1), end_date=date(2024, 3, 10))
    for_relative(claim(owner, date(2024, 3, 5), [("DRUG-A", 1, "30.00")], provider=pharmacy(), account="30.00"))
    own = claim(owner, date(2024, 3, 6), [("DRUG-A", 1, "30.00")], provider=pharmacy(), account="30.00")
    assert [f.item_key for f in check("inpatient_visit", *MARCH)] == [f"claim:{own.pk}"]


def test_account_only_purchases_count_toward_the_frequency_rule():
    owner = member()
    sales = [claim(owner, date(2024, 3, day), [("DRUG-A", 1, "10.00")], provider=pharmacy(), account="10.00") for day in range(1, 5)]
    for_relative(sales[0])
    found = check("frequent_visits", *MARCH, max_visits_per_month=3)
    assert [(f.member_id, len(f.claims)) for f in found] == [(owner.pk, 4)]
