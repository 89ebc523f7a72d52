"""A suspended or terminated provider through the national interface: it signs in and
reconciles; every other transaction answers infcode -1 (README Security)."""

import pytest

from pharmacies.models import Provider
from tests.factories import MemberFactory, ProviderFactory

from .conftest import his_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", [Provider.Status.SUSPENDED, Provider.Status.TERMINATED])
def test_an_inactive_provider_reads_no_member_through_the_gateway(status):
    provider = ProviderFactory(kind="institution", level="level_1")
    his = his_for(provider)
    his.sign_in()
    Provider.objects.filter(pk=provider.pk).update(status=status)
    member = MemberFactory()
    error = his.fails("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": member.id_number, "psn_cert_type": "01",
                                        "certno": member.id_number}})
    assert "中止或解除" in error
    assert his.sign_in()
