"""factory-boy factories shared by every test folder."""

import itertools
from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from claims.models import CatalogItem
from core.idnumber import make_id_number
from core.roles import Role
from members.models import Enrollment, Member, PersonalAccount
from pharmacies.models import Provider, ProviderStaff

_sequence = itertools.count(1)


def new_id_number(born: date = date(1980, 5, 17), prefix: str = "370402") -> str:
    """A fresh valid ID number for the given birth date."""
    n = next(_sequence)
    return make_id_number(prefix, born, n % 1000) if n < 1000 else make_id_number(
        f"{370400 + n // 1000:06d}", born, n % 1000
    )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for role in extracted:
            self.groups.add(Group.objects.get(name=Role(role).value))
        if any(Role(role) != Role.PROVIDER for role in extracted):
            self.is_staff = True
        self.save()


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    class Params:
        born = date(1980, 5, 17)

    id_number = factory.LazyAttribute(lambda o: new_id_number(o.born))
    name = factory.Sequence(lambda n: f"参保人{n}")

    @factory.post_generation
    def enrollment(self, create, extracted, **kwargs):
        """MemberFactory(enrollment__employment_status="retired", ...) adds a spell from 2020-01-01."""
        if not create or extracted is False:
            return
        values = {
            "effective_from": date(2020, 1, 1),
            "employment_status": Enrollment.EmploymentStatus.IN_SERVICE,
            "scheme": Enrollment.Scheme.COMBINED,
            "contribution_base": Decimal("6000.00"),
        }
        values.update(kwargs)
        Enrollment.objects.create(member=self, **values)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonalAccount

    member = factory.SubFactory(MemberFactory)
    opened_on = date(2020, 1, 1)


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    kind = Provider.Kind.INSTITUTION
    code = factory.LazyAttributeSequence(lambda o, n: f"{'H' if o.kind == 'institution' else 'P'}{37040000000 + n:011d}")
    name = factory.Sequence(lambda n: f"定点机构{n}")
    level = factory.LazyAttribute(lambda o: Provider.Level.LEVEL_1 if o.kind == "institution" else "")


class ProviderStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderStaff

    user = factory.SubFactory(UserFactory, roles=[Role.PROVIDER])
    provider = factory.SubFactory(ProviderFactory)


class CatalogItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogItem
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ITEM-{n}")
    name = factory.Sequence(lambda n: f"目录项目{n}")
    kind = CatalogItem.Kind.DRUG
    item_class = CatalogItem.ItemClass.A


def api_key(user, **changes) -> str:
    """A working API key for `user` (a stored core.ApiToken row holding its digest only);
    `changes` set fields of the row, e.g. expires_at or revoked_at."""
    from core.tokens import new_key, token_row

    key = new_key()
    token = token_row(user=user, key=key)
    for name, value in changes.items():
        setattr(token, name, value)
    token.save()
    return key
