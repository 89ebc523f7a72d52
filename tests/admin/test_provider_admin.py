import pytest
from django.urls import reverse

from core.roles import Role
from tests.factories import CatalogItemFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_worker(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    return user


def test_providers_are_searched_by_code_prefix_or_name(client, case_worker):
    hospital = ProviderFactory(name="枣庄市立医院")
    pharmacy = ProviderFactory(kind="pharmacy", name="老百姓大药房")
    url = reverse("admin:pharmacies_provider_changelist")
    assert list(client.get(url, {"q": hospital.code}).context["cl"].result_list) == [hospital]
    assert list(client.get(url, {"q": "p"}).context["cl"].result_list) == [pharmacy]
    assert list(client.get(url, {"q": "药房"}).context["cl"].result_list) == [pharmacy]


def test_the_parent_autocomplete_offers_physical_institutions_only(client, case_worker):
    """Jinan (十二): an internet hospital follows the physical institution it relies on."""
    hospital = ProviderFactory(name="市立医院")
    ProviderFactory(name="市立医院互联网医院", level="internet_hospital", parent=hospital)
    ProviderFactory(kind="pharmacy", name="市立医院药房")
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "pharmacies", "model_name": "provider", "field_name": "parent", "term": "市立"},
    )
    assert [row["id"] for row in response.json()["results"]] == [str(hospital.pk)]


def test_catalog_items_are_searched_by_code_or_name(client, case_worker):
    drug = CatalogItemFactory(code="XA01ABC", name="阿莫西林胶囊")
    CatalogItemFactory(code="XB02DEF", name="阿托伐他汀钙片")
    url = reverse("admin:claims_catalogitem_changelist")
    assert list(client.get(url, {"q": "XA01"}).context["cl"].result_list) == [drug]
    assert len(client.get(url, {"q": "阿"}).context["cl"].result_list) == 2
