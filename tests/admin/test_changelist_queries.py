"""No changelist runs a query per row (list_select_related), whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.audit import audit
from core.roles import Role
from members.models import Episode, Registration
from members.services import family_link_create
from tests.factories import CatalogItemFactory, MemberFactory, ProviderFactory, ProviderStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def _rows(kind: str, count: int, user) -> None:
    for _index in range(count):
        if kind == "members_familylink":
            family_link_create(member=MemberFactory(), relative=MemberFactory(), relation="spouse", user=user)
        elif kind == "members_registration":
            Registration.objects.create(member=MemberFactory(), place="in_province", valid_from="2024-01-01")
        elif kind == "members_episode":
            Episode.objects.create(member=MemberFactory(), kind="inpatient_stay", start_date="2024-01-01")
        elif kind == "members_enrollment":
            MemberFactory(enrollment__recorded_by=user)
        elif kind == "pharmacies_provider":
            ProviderFactory(level="internet_hospital", parent=ProviderFactory())
        elif kind == "pharmacies_providerstaff":
            ProviderStaffFactory()
        elif kind == "claims_catalogitem":
            CatalogItemFactory()
        elif kind == "core_auditevent":
            audit(actor=user, action="member.read", target=MemberFactory())
        else:
            MemberFactory()


@pytest.mark.parametrize(
    "kind",
    ["members_member", "members_enrollment", "members_familylink", "members_registration", "members_episode",
     "pharmacies_provider", "pharmacies_providerstaff", "claims_catalogitem", "core_auditevent"],
)
def test_changelist_queries_do_not_grow_with_rows(client, kind):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    url = reverse(f"admin:{kind}_changelist")
    _rows(kind, 2, user)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _rows(kind, 5, user)
    with CaptureQueriesContext(connection) as more:
        response = client.get(url)
    assert len(response.context["cl"].result_list) >= 7
    assert len(more) == len(few), [q["sql"][:120] for q in more.captured_queries]
