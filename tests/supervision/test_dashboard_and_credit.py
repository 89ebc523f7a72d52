"""The agency dashboard with its charts (Chart.js served by the project), provider credit
scores (the formula in supervision.credit_rating) on the provider's admin page and in the portal."""

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from core.roles import Role
from supervision.credit_rating import CreditInputs, credit_score
from supervision.models import Flag, ProviderCreditScore, Rule
from supervision.services import provider_credit_compute
from tests.factories import ProviderStaffFactory, UserFactory
from tests.supervision.helpers import claim, institution, member

DAY = date(2024, 3, 8)


def confirmed_flag(provider, code="price_above_platform", amount="1500.00", key="x", who=None, day=DAY):
    return Flag.objects.create(rule=Rule.objects.get(code=code), item_key=key, day=day, provider=provider, member=who,
                               message="m", amount_at_stake=Decimal(amount), status=Flag.Status.DEDUCTED,
                               confirmed_amount=Decimal(amount))


@pytest.mark.parametrize(("inputs", "score", "grade"), [
    (CreditInputs(0, Decimal("0"), 0), 100, "A"),
    (CreditInputs(1, Decimal("999.99"), 0), 90, "A"),
    (CreditInputs(2, Decimal("2500.00"), 1), 73, "C"),  # 100 − 20 − 2 − 5
    (CreditInputs(9, Decimal("99999"), 9), 10, "D"),  # each part at its cap: 100 − 50 − 20 − 20
])
def test_credit_score_formula(inputs, score, grade):
    result = credit_score(inputs)
    assert (result.score, result.grade) == (score, grade)


@pytest.mark.django_db
def test_credit_scores_are_computed_for_every_provider_and_shown_on_its_pages(client):
    careless, careful = institution(), institution()
    confirmed_flag(careless, key="a")
    confirmed_flag(careless, code="provider_indicators", amount="0.00", key="b")
    auditor = UserFactory(roles=[Role.AUDITOR])
    assert provider_credit_compute(year=2024, user=auditor) == 2
    scores = dict(ProviderCreditScore.objects.values_list("provider_id", "score"))
    assert scores == {careless.pk: 84, careful.pk: 100}  # 100 − 10 − 1 − 5
    client.force_login(auditor)
    page = client.get(f"/admin/pharmacies/provider/{careless.pk}/change/").content.decode()
    assert "credit scores" in page.lower() or "信用" in page
    assert ">84<" in page.replace(" ", "")
    client.force_login(ProviderStaffFactory(provider=careless).user)
    portal = client.get("/portal/flags/").content.decode()
    assert "84" in portal and "2024" in portal


@pytest.mark.django_db
def test_the_dashboard_renders_its_charts_with_the_projects_own_chart_library(client):
    provider = institution()
    claim(member(), date.today(), [("DRUG-A", 1, "100.00")], provider=provider, fund="60.00")
    confirmed_flag(provider, key="c", day=date.today())
    auditor = UserFactory(roles=[Role.AUDITOR])
    client.force_login(auditor)
    response = client.get("/admin/supervision/flag/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/vendor/chart.umd.min.js" in page and "cdn" not in page.lower()
    # One benefit: its pie would have one slice, so the figure is written out instead (issue 16).
    assert page.count("<canvas") == 6 and 'id="chart-spending_by_benefit"' not in page
    data = json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert data["spending_by_month"]["fund"] == [60.0]
    # Chronic and special diseases are their own benefit (issue 14); this claim is pooling.
    assert data["spending_by_benefit"]["fund"] == [60.0] and data["spending_by_benefit"]["visits"] == [1]
    rule = Rule.objects.get(code="price_above_platform")
    assert data["flags_by_rule"] == {"labels": [rule.title], "counts": [1],
                                     "links": [f"/admin/supervision/flag/?rule__id__exact={rule.pk}&day__year={date.today().year}"]}
    assert data["top_violations"]["counts"] == [1]
    assert data["top_cost_per_visit"]["values"] == [100.0]
    library = Path(settings.BASE_DIR) / "static" / "vendor"
    assert (library / "chart.umd.min.js").read_text().startswith("/*!\n * Chart.js v4")
    assert "MIT" in (library / "chart.js-LICENSE.md").read_text()


@pytest.mark.django_db
def test_the_dashboard_is_for_agency_staff_only(client):
    response = client.get("/admin/supervision/flag/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(ProviderStaffFactory().user)
    assert client.get("/admin/supervision/flag/dashboard/").status_code == 302


@pytest.mark.django_db
def test_a_provider_sees_only_its_own_confirmed_flags_in_the_portal(client):
    own, other = institution(), institution()
    mine = confirmed_flag(own, key="mine")
    theirs = confirmed_flag(other, key="theirs")
    new = Flag.objects.create(rule=Rule.objects.get(code="after_death"), item_key="new", day=DAY, provider=own, message="m")
    client.force_login(ProviderStaffFactory(provider=own).user)
    listing = client.get("/portal/flags/").content.decode()
    assert f"/portal/flags/{mine.pk}/" in listing and f"/portal/flags/{new.pk}/" not in listing
    assert client.get(f"/portal/flags/{theirs.pk}/").status_code == 404
    assert client.get(f"/portal/flags/{new.pk}/").status_code == 404  # still under review
