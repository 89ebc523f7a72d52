"""The reads of the settlement hot path, as fixed SQL (core.sql).

Every settlement runs the same few reads; building them through the ORM cost about half of
a settlement's CPU (profiled: the member's annotated lookup alone was a quarter). Here each
is written once, from the models' table and column names, and read back into ordinary model
instances with Django's own converters, so the services see what a QuerySet would give.
Everything that is not on the per-request path stays on the ORM.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.db import models

from core.models import ApiToken as Token
from core.sql import Statement, columns, fields, for_update, instance, one_of, statement
from members.in_force import spell_in_force_id_sql
from members.models import Enrollment, Episode, Member, PersonalAccount
from pharmacies.models import Provider, ProviderStaff

from .models import CatalogItem, ChronicRegistration, MemberYear, PolicyVersion

User = get_user_model()


def _table(model: type[models.Model]) -> str:
    return f'"{model._meta.db_table}"'


def _width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


# --- the caller: token, user, provider link, provider, its physical institution -------------

_TOKEN = Statement(
    f"""SELECT {columns(Token, "t")}, {columns(User, "u")}, {columns(ProviderStaff, "s")},
               {columns(Provider, "p")}, {columns(Provider, "pp")}
          FROM {_table(Token)} t
          JOIN {_table(User)} u ON u."{User._meta.pk.column}" = t."user_id"
          LEFT JOIN {_table(ProviderStaff)} s ON s."user_id" = u."{User._meta.pk.column}"
          LEFT JOIN {_table(Provider)} p ON p."id" = s."provider_id"
          LEFT JOIN {_table(Provider)} pp ON pp."id" = p."parent_id"
         WHERE t."digest" = %s""",
    fields(Token) + fields(User) + fields(ProviderStaff) + fields(Provider) + fields(Provider),
)


def token_with_provider(digest: str) -> Token | None:
    """The token (by its key's digest, core.tokens) and its user, with the user's provider link, provider and parent already
    attached (staff_link and Provider.policy_level then read no more rows)."""
    row = _TOKEN.first([digest])
    if row is None:
        return None
    widths = [_width(Token), _width(User), _width(ProviderStaff), _width(Provider), _width(Provider)]
    parts, start = [], 0
    for width in widths:
        parts.append(row[start:start + width])
        start += width
    token = instance(Token, parts[0])
    user = instance(User, parts[1])
    staff = instance(ProviderStaff, parts[2])
    provider = instance(Provider, parts[3])
    parent = instance(Provider, parts[4])
    token.user = user
    if staff is None:
        # Cached as "no link", so staff_link answers without a query.
        User.provider_staff.related.set_cached_value(user, None)
    else:
        user.provider_staff = staff
        if provider is not None:
            staff.provider = provider
            if parent is not None:
                provider.parent = parent
    return token


# --- the catalog items of a visit ------------------------------------------------------------

def catalog_items(codes: set[str]) -> dict[str, CatalogItem]:
    if not codes:
        return {}
    where, params = one_of('c."code"', sorted(codes))
    rows = statement(f"SELECT {_CATALOG_COLUMNS} FROM {_table(CatalogItem)} c WHERE {where}", _CATALOG_FIELDS).rows(params)
    items = (instance(CatalogItem, row) for row in rows)
    return {item.code: item for item in items}


_CATALOG_COLUMNS = columns(CatalogItem, "c")
_CATALOG_FIELDS = tuple(fields(CatalogItem))


# --- the member on the visit date ------------------------------------------------------------

SPELL_FIELDS = ("effective_from", "employment_status", "scheme", "pre_1949_veteran", "benefits_from")
_SPELL = [Enrollment._meta.get_field(name) for name in SPELL_FIELDS]
_SUSPENDING = tuple(Episode.SUSPENDS_OUTPATIENT_POOLING)
# Zaozhuang 第十八条: outpatient and emergency costs before admission are paid by outpatient
# pooling, so an inpatient stay switches it off only from the day after admission (a visit on
# the admission day is the one that led to it); other suspending episodes from their first day.
_episode_flag = ", ".join(
    f"""EXISTS (SELECT 1 FROM {_table(Episode)} ep
                 WHERE ep."member_id" = m."id" AND ep."kind" = %s
                   AND ep."start_date" {"<" if _kind == Episode.Kind.INPATIENT_STAY else "<="} %s
                   AND (ep."end_date" IS NULL OR ep."end_date" >= %s))"""
    for _kind in _SUSPENDING
)
# Whether the member holds an approved chronic/special disease registration covering the day:
# only then does a pooling settlement read the chronic policy (its ordinary_pooling_too), so
# the hot path keeps its statements.
_chronic_flag = f"""EXISTS (SELECT 1 FROM {_table(ChronicRegistration)} cr
                 WHERE cr."member_id" = m."id" AND cr."status" = '{ChronicRegistration.Status.APPROVED.value}'
                   AND cr."valid_from" <= %s AND (cr."valid_to" IS NULL OR cr."valid_to" >= %s))"""
_MEMBER = Statement(
    f"""SELECT {columns(Member, "m")}, {columns(PersonalAccount, "a")},
               {", ".join(f'e."{field.column}"' for field in _SPELL)}, {_episode_flag}, {_chronic_flag}
          FROM {_table(Member)} m
          LEFT JOIN {_table(PersonalAccount)} a ON a."member_id" = m."id"
          LEFT JOIN {_table(Enrollment)} e ON e."id" = ({spell_in_force_id_sql('m."id"')})
         WHERE m."id_number" = %s""",
    fields(Member) + fields(PersonalAccount) + _SPELL + [models.BooleanField() for _kind in _SUSPENDING] + [models.BooleanField()],
)


def member_on(id_number: str, day: date) -> Member | None:
    """The member with their account, the enrollment spell in force on `day` (as
    `enrollment_from`, `enrollment_status`, `enrollment_scheme`, `enrollment_veteran`,
    `enrollment_benefits_from`, None
    when not enrolled), for each episode kind that switches outpatient pooling off,
    `in_<kind>`: whether one covers `day`, and `has_chronic_registration`: whether an approved
    chronic/special disease registration covers `day`."""
    params = []
    for kind in _SUSPENDING:
        params += [kind, day, day]
    row = _MEMBER.first([*params, day, day, day, id_number])
    if row is None:
        return None
    start = _width(Member)
    member = instance(Member, row[:start])
    account = instance(PersonalAccount, row[start:start + _width(PersonalAccount)])
    if account is None:
        Member.account.related.set_cached_value(member, None)
    else:
        member.account = account
    start += _width(PersonalAccount)
    (member.enrollment_from, member.enrollment_status, member.enrollment_scheme,
     member.enrollment_veteran, member.enrollment_benefits_from) = row[start:start + len(_SPELL)]
    for offset, kind in enumerate(_SUSPENDING):
        setattr(member, f"in_{kind}", row[start + len(_SPELL) + offset])
    member.has_chronic_registration = bool(row[start + len(_SPELL) + len(_SUSPENDING)])
    return member


# --- the policy version in force -------------------------------------------------------------

_POLICY = Statement(
    f"""SELECT {columns(PolicyVersion, "v")} FROM {_table(PolicyVersion)} v
         WHERE v."region" = %s AND v."kind" = %s AND v."effective_from" <= %s
           AND (v."effective_to" IS NULL OR v."effective_to" >= %s)
         ORDER BY v."effective_from" DESC LIMIT 1""",
    fields(PolicyVersion),
)


def policy_version_on(region: str, kind: str, day: date) -> PolicyVersion | None:
    row = _POLICY.first([region, kind, day, day])
    return instance(PolicyVersion, row) if row is not None else None


# --- the member's year, locked ---------------------------------------------------------------

def member_year_locked(member_id: int, year: int) -> MemberYear | None:
    """The member's year row under a row lock (PostgreSQL), None when it does not exist yet."""
    sql = f"""SELECT {_YEAR_COLUMNS} FROM {_table(MemberYear)} y
               WHERE y."member_id" = %s AND y."year" = %s{for_update()}"""
    row = statement(sql, _YEAR_FIELDS).first([member_id, year])
    return instance(MemberYear, row) if row is not None else None


_YEAR_COLUMNS = columns(MemberYear, "y")
_YEAR_FIELDS = tuple(fields(MemberYear))
