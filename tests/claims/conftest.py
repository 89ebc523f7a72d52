"""Fixtures for settlement tests: the acceptance catalog, region presets, provider API clients."""

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from claims.models import CatalogItem
from claims.policy_services import policy_load
from members.models import Enrollment, LedgerEntry, ReferenceValue
from members.services import account_post_entry
from pharmacies.models import Provider, ProviderStaff
from tests.factories import AccountFactory, MemberFactory, ProviderFactory, UserFactory, api_key

PRESETS = Path(__file__).resolve().parents[2] / "claims" / "policies"


def preset(region: str) -> dict:
    return json.loads((PRESETS / f"{region}.json").read_text(encoding="utf-8"))


@pytest.fixture
def catalog(db):
    """The catalog of the worked examples (acceptance README): A-DRUG 10.00 class A, B-DRUG
    50.00 class B with 10% prepay, C-DRUG 30.00 class C, A-SVC class A with standard 20.00."""
    return {
        "A-DRUG": CatalogItem.objects.create(code="A-DRUG", name="甲类药", kind="drug", item_class="A", list_price=Decimal("10.00")),
        "B-DRUG": CatalogItem.objects.create(code="B-DRUG", name="乙类药", kind="drug", item_class="B", prepay_percent=Decimal("10"), list_price=Decimal("50.00")),
        "C-DRUG": CatalogItem.objects.create(code="C-DRUG", name="丙类药", kind="drug", item_class="C", list_price=Decimal("30.00")),
        "A-SVC": CatalogItem.objects.create(code="A-SVC", name="甲类诊疗", kind="service", item_class="A", payment_standard=Decimal("20.00")),
    }


def configure(data: dict, changes: dict) -> dict:
    """Set the parameters a case configures (the **param** cells) in every version of a preset."""
    data = copy.deepcopy(data)
    for version in data["versions"]:
        parameters = version["parameters"]
        for key, value in changes.items():
            if key == "deductible_annual":
                parameters["deductible"]["amount"] = value
            elif key == "deductible_percent_of_wage":
                parameters["deductible"]["amount"]["percent_of_average_wage"] = value
            elif key == "cap_percent_of_wage":
                parameters["annual_cap"]["percent_of_average_wage"] = value
            elif key == "ratio_in_service":
                parameters["ratio"]["base"] = dict(value)
            elif key == "large_expense_subsidy_ratio":
                parameters["large_expense_subsidy"]["ratio_percent"] = value
            elif key == "chosen_max_count":
                # Jinan (四): the number of chosen institutions, the agency's parameter.
                if parameters.get("chosen_institutions"):
                    parameters["chosen_institutions"]["max_count"] = value
            elif key == "average_wage_2021":
                continue
            else:
                raise KeyError(key)
    return data


@pytest.fixture
def region(settings, db):
    """region("jinan", deductible_annual="500.00"): load the preset, configured, as REGION."""

    def use(name: str, **changes):
        settings.REGION = name
        if "average_wage_2021" in changes:
            ReferenceValue.objects.create(kind="average_wage", year=2021, value=Decimal(changes["average_wage_2021"]))
        policy_load(data=configure(preset(name), changes))

    return use


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


@pytest.fixture
def provider_client(db):
    """provider_client(provider) -> an API client authenticated as that provider's user."""

    def make(provider):
        user = UserFactory(roles=["定点机构"])
        ProviderStaff.objects.create(user=user, provider=provider)
        return client_for(user)

    return make


@pytest.fixture
def platform_client(db):
    user = UserFactory(roles=["定点机构"])
    ProviderStaff.objects.create(user=user, provider=None, cross_region_platform=True)
    return client_for(user)


def make_member(*, employment="in_service", scheme="combined", balance=None, veteran=False, **kwargs):
    member = MemberFactory(
        enrollment__employment_status=employment,
        enrollment__scheme=scheme,
        enrollment__pre_1949_veteran=veteran,
        enrollment__effective_from=date(2020, 1, 1),
        **kwargs,
    )
    if scheme == Enrollment.Scheme.COMBINED:
        account = AccountFactory(member=member)
        if balance and Decimal(balance) > 0:
            with transaction.atomic():
                account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=Decimal(balance), reference="test")
    return member


def provider_of_level(level: str, **kwargs) -> Provider:
    if level == "pharmacy":
        return ProviderFactory(kind="pharmacy", **kwargs)
    return ProviderFactory(kind="institution", level=level, **kwargs)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Test users' passwords need no real key stretching.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
