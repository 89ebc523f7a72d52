"""The enrollment in force on a day: the settlement's fixed SQL and the credit run's set-based SQL
give the ORM's answer on the same generated spells (members.in_force, issue 12)."""

import random
from datetime import date, timedelta

import pytest
from django.db import connection

from claims.settlement_queries import member_on
from members.in_force import spell_in_force_id_sql, spells_in_force_sql
from members.models import Enrollment, Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

STARTS = [date(2020, 1, 1), date(2021, 7, 1), date(2022, 3, 15), date(2023, 1, 1), date(2024, 2, 29)]


def _members(seed=12):
    """Members with 0–4 spells on shared and own days; some spells are retirements (the spell
    starts on the retirement day), the last one is always open."""
    rng = random.Random(seed)
    members = [MemberFactory(enrollment=False)]  # never enrolled
    for index in range(24):
        member = MemberFactory(enrollment=False)
        starts = sorted(rng.sample(STARTS, rng.randint(1, 4)))
        if index % 3 == 0:  # an own day, between the shared ones
            starts = sorted({*starts, STARTS[1] + timedelta(days=index)})
        for number, start in enumerate(starts):
            retired = number > 0 and rng.random() < 0.4
            Enrollment.objects.create(
                member=member, effective_from=start, scheme=rng.choice(["combined", "pooled_only"]),
                employment_status="retired" if retired else "in_service", retired_on=start if retired else None,
            )
        members.append(member)
    return members


def _days():
    edges = set()
    for start in STARTS + [STARTS[1] + timedelta(days=n) for n in range(0, 25, 3)]:
        edges |= {start - timedelta(days=1), start, start + timedelta(days=1)}
    return sorted(edges | {date(2019, 1, 1), date(2030, 12, 31)})


def _orm(day):
    return dict(Enrollment.objects.in_force_on(day).values_list("member_id", "pk"))


def test_the_settlement_sql_and_the_credit_run_sql_agree_with_the_orm():
    members = _members()
    in_force_some_day = set()
    for day in _days():
        expected = _orm(day)
        # Member.enrollment_on (benefits endpoint, member pages) is the ORM definition too.
        assert {m.pk: spell.pk for m in members if (spell := m.enrollment_on(day))} == expected, day
        with connection.cursor() as cursor:
            spell_id = spell_in_force_id_sql('m."id"')
            cursor.execute(f'SELECT m."id", ({spell_id}) FROM {Member._meta.db_table} m', [day])
            settlement = {member_id: spell_id for member_id, spell_id in cursor.fetchall() if spell_id is not None}
            cursor.execute(f"SELECT e.member_id, e.id FROM {spells_in_force_sql()} e", [day])
            credit_run = dict(cursor.fetchall())
        assert settlement == expected, day
        assert credit_run == expected, day
        in_force_some_day |= set(expected.values())
    # The generated data did exercise the definition: every spell is in force on some day
    # checked, and the never-enrolled member never.
    assert in_force_some_day == set(Enrollment.objects.values_list("pk", flat=True))
    assert members[0].pk not in _orm(date(2030, 12, 31))


def test_the_settlement_hot_path_reads_the_spell_in_force():
    """The whole fixed statement of POST /api/v1/settlements (`member_on`), on the edge days."""
    member = MemberFactory(enrollment=False)
    Enrollment.objects.create(member=member, effective_from=date(2020, 1, 1), scheme="pooled_only",
                              employment_status="in_service")
    Enrollment.objects.create(member=member, effective_from=date(2023, 4, 1), scheme="combined",
                              employment_status="in_service")
    Enrollment.objects.create(member=member, effective_from=date(2024, 6, 30), scheme="combined",
                              employment_status="retired", retired_on=date(2024, 6, 30))
    for day in [date(2019, 12, 31), date(2020, 1, 1), date(2023, 3, 31), date(2023, 4, 1), date(2024, 6, 29),
                date(2024, 6, 30), date(2030, 1, 1)]:
        read = member_on(member.id_number, day)
        spell = member.enrollment_on(day)
        if spell is None:
            assert read.enrollment_from is None, day
            continue
        assert (read.enrollment_from, read.enrollment_status, read.enrollment_scheme) == (
            spell.effective_from, spell.employment_status, spell.scheme), day
    assert member_on(member.id_number, date(2024, 6, 30)).enrollment_status == "retired"
    assert member_on(member.id_number, date(2024, 6, 29)).enrollment_status == "in_service"
