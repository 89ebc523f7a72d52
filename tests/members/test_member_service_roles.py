"""The services that change a member's enrollment, family links and primary-care registration
refuse anyone but a case worker (经办: the role whose admin offers these paths, ROLE_PERMISSIONS,
and the only one allowed to import members), like the withdrawal and premium services: the
same error (Forbidden, code `forbidden`, the role required named) and nothing written. There is
no system caller: `user` None is refused too."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from core.errors import Forbidden
from core.models import AuditEvent
from core.roles import Role
from members.models import Enrollment, FamilyLink, PrimaryCareRegistration
from members.services import (
    enrollment_add,
    enrollment_change_scheme,
    family_link_create,
    family_link_create_outside,
    family_link_delete,
    primary_care_end,
    primary_care_register,
)
from members.services.enrollment import record_spell
from tests.factories import MemberFactory, ProviderFactory, UserFactory, new_id_number

pytestmark = pytest.mark.django_db

FACTS = {"effective_from": date(2024, 7, 1), "employment_status": "in_service", "scheme": "combined",
         "category": "employee", "sector": "enterprise", "contribution_base": Decimal("6000.00")}


# Each service: a setup (with a case worker making what it needs first) returning the call, as
# `call(user)`, and what the call writes when allowed.


def _enrollment_add(case_worker):
    member = MemberFactory()
    return lambda user: enrollment_add(member=member, user=user, **FACTS)


def _record_spell(case_worker):
    member = MemberFactory()

    def call(user):
        with transaction.atomic():
            return record_spell(member=member, user=user, facts=dict(FACTS))

    return call


def _enrollment_change_scheme(case_worker):
    member = MemberFactory(enrollment__scheme="pooled_only")
    return lambda user: enrollment_change_scheme(member=member, applied_on=date(2023, 3, 15), user=user)


def _family_link_create(case_worker):
    member, relative = MemberFactory(), MemberFactory()
    return lambda user: family_link_create(member=member, relative=relative, relation="spouse", user=user)


def _family_link_create_outside(case_worker):
    member, mother = MemberFactory(), new_id_number(date(1950, 1, 2))
    return lambda user: family_link_create_outside(member=member, relative_id_number=mother, relative_name="王桂兰",
                                                   relation="parent", user=user)


def _family_link_delete(case_worker):
    link = family_link_create(member=MemberFactory(), relative=MemberFactory(), relation="spouse", user=case_worker)
    return lambda user: family_link_delete(link=link, user=user)


def _primary_care_register(case_worker):
    member, provider = MemberFactory(), ProviderFactory()
    return lambda user: primary_care_register(member=member, provider=provider, valid_from=date(2026, 1, 1), user=user)


def _primary_care_end(case_worker):
    member = MemberFactory()
    primary_care_register(member=member, provider=ProviderFactory(), valid_from=date(2026, 1, 1), user=case_worker)
    return lambda user: primary_care_end(member=member, valid_to=date(2026, 12, 31), user=user)


SERVICES = {
    "enrollment_add": _enrollment_add,
    "record_spell": _record_spell,
    "enrollment_change_scheme": _enrollment_change_scheme,
    "family_link_create": _family_link_create,
    "family_link_create_outside": _family_link_create_outside,
    "family_link_delete": _family_link_delete,
    "primary_care_register": _primary_care_register,
    "primary_care_end": _primary_care_end,
}

# Everyone who is not a case worker: no user, a user without a role, each other role.
REFUSED = {
    "no user": lambda: None,
    "no role": lambda: UserFactory(),
    Role.AUDITOR.value: lambda: UserFactory(roles=[Role.AUDITOR]),
    Role.FINANCE.value: lambda: UserFactory(roles=[Role.FINANCE]),
    Role.ADMINISTRATOR.value: lambda: UserFactory(roles=[Role.ADMINISTRATOR]),
    Role.PROVIDER.value: lambda: UserFactory(roles=[Role.PROVIDER]),
}


def _written():
    """Everything these services write, in a fixed order."""
    return (
        list(Enrollment.objects.order_by("pk").values_list("pk", "member", "effective_from", "scheme", "recorded_by")),
        list(FamilyLink.objects.order_by("pk").values_list("pk", "member", "relative", "relative_id_number", "relation")),
        list(PrimaryCareRegistration.objects.order_by("pk").values_list("pk", "member", "provider", "valid_from", "valid_to")),
        list(AuditEvent.objects.order_by("pk").values_list("pk", "action")),
    )


@pytest.mark.parametrize("service", list(SERVICES))
@pytest.mark.parametrize("caller", list(REFUSED))
def test_only_a_case_worker_changes_a_member(service, caller):
    case_worker = UserFactory(roles=[Role.CASE_WORKER])
    call = SERVICES[service](case_worker)
    user = REFUSED[caller]()
    before = _written()
    with pytest.raises(Forbidden) as refused:
        call(user)
    assert refused.value.code == "forbidden" and refused.value.status == 403
    assert refused.value.details == {"required_roles": [Role.CASE_WORKER.value]}
    assert _written() == before


@pytest.mark.parametrize("service", list(SERVICES))
@pytest.mark.parametrize("caller", ["case worker", "superuser"])
def test_a_case_worker_or_superuser_is_allowed(service, caller):
    """The same call, by a case worker (or a superuser, who holds every role), goes through and
    writes (the refusal above is the role's, not the data's)."""
    case_worker = UserFactory(roles=[Role.CASE_WORKER])
    call = SERVICES[service](case_worker)
    user = case_worker if caller == "case worker" else UserFactory(is_superuser=True, is_staff=True)
    before = _written()
    call(user)
    after = _written()
    assert after != before
    expected_action = {
        "enrollment_add": "enrollment.add", "enrollment_change_scheme": "enrollment.change_scheme",
        "family_link_create": "family_link.create", "family_link_create_outside": "family_link.create",
        "family_link_delete": "family_link.delete", "primary_care_register": "primary_care.register",
        "primary_care_end": "primary_care.end",
    }.get(service)
    new_events = list(AuditEvent.objects.exclude(pk__in=[pk for pk, _action in before[3]])
                      .order_by("pk").values_list("action", "actor"))
    # record_spell is the services' shared step: it writes the spell, its callers audit it.
    assert new_events == ([(expected_action, user.pk)] if expected_action else [])
