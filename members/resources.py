"""Admin import/export resources for members' base data (django-import-export).

Imports go through members.importers (the same row parsers and bulk path as the import_*
commands); exports write the CONTRACT.md English column keys, so an exported file imports
back unchanged."""

from django.db.models import F, Q, Sum
from import_export.fields import Field

from core.imports.resources import ImporterResource

from .importers import (
    AccountOpeningImporter,
    EpisodeImporter,
    FamilyLinkImporter,
    MemberImporter,
    ReferenceValueImporter,
    RegistrationImporter,
)
from .models import (
    Episode,
    FamilyLink,
    LedgerEntry,
    Member,
    PersonalAccount,
    ReferenceValue,
    Registration,
)

SPELL_COLUMNS = ("employment_status", "scheme", "category", "sector", "civil_servant", "pre_1949_veteran",
                 "contribution_base", "monthly_pension", "retired_on")


class MemberResource(ImporterResource):
    importer_class = MemberImporter

    id_number = Field(attribute="id_number", column_name="id_number")
    name = Field(attribute="name", column_name="name")
    employment_status = Field(column_name="employment_status")
    scheme = Field(column_name="scheme")
    category = Field(column_name="category")
    sector = Field(column_name="sector")
    civil_servant = Field(column_name="civil_servant")
    pre_1949_veteran = Field(column_name="pre_1949_veteran")
    contribution_base = Field(column_name="contribution_base")
    monthly_pension = Field(column_name="monthly_pension")
    enrolled_on = Field(column_name="enrolled_on")
    retired_on = Field(column_name="retired_on")
    status = Field(attribute="status", column_name="status")
    died_on = Field(attribute="died_on", column_name="died_on")
    phone = Field(attribute="phone", column_name="phone")

    class Meta:
        model = Member
        fields = ("id_number", "name", *SPELL_COLUMNS[:8], "enrolled_on", "retired_on", "status", "died_on",
                  "phone")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("enrollments")

    @staticmethod
    def _spells(member):
        return sorted(member.enrollments.all(), key=lambda spell: spell.effective_from)

    def _latest(self, member, name):
        spells = self._spells(member)
        if not spells:
            return ""
        value = getattr(spells[-1], name)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else value

    def dehydrate_enrolled_on(self, member):
        spells = self._spells(member)
        return spells[0].effective_from if spells else ""


for _name in SPELL_COLUMNS:
    setattr(MemberResource, f"dehydrate_{_name}", lambda self, member, _n=_name: self._latest(member, _n))


class FamilyLinkResource(ImporterResource):
    importer_class = FamilyLinkImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    relative_id_number = Field(attribute="relative__id_number", column_name="relative_id_number")
    relation = Field(attribute="relation", column_name="relation")
    relative_name = Field(attribute="relative_name", column_name="relative_name")

    class Meta:
        model = FamilyLink
        fields = ("id_number", "relative_id_number", "relation", "relative_name")
        export_order = fields

    def dehydrate_relative_id_number(self, link):
        return link.relative.id_number if link.relative_id is not None else link.relative_id_number

    def filter_export(self, queryset, **kwargs):
        # Each link between members is stored both ways but exported once (a file with both is
        # a duplicate pair); a link to a relative outside the registry is stored once.
        return queryset.filter(Q(member_id__lt=F("relative_id")) | Q(relative__isnull=True)).select_related("member", "relative")


class RegistrationResource(ImporterResource):
    importer_class = RegistrationImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    kind = Field(attribute="kind", column_name="kind")
    place = Field(attribute="place", column_name="place")
    valid_from = Field(attribute="valid_from", column_name="valid_from")
    valid_to = Field(attribute="valid_to", column_name="valid_to")

    class Meta:
        model = Registration
        fields = ("id_number", "kind", "place", "valid_from", "valid_to")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("member")


class EpisodeResource(ImporterResource):
    importer_class = EpisodeImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    kind = Field(attribute="kind", column_name="kind")
    start_date = Field(attribute="start_date", column_name="start_date")
    end_date = Field(attribute="end_date", column_name="end_date")

    class Meta:
        model = Episode
        fields = ("id_number", "kind", "start_date", "end_date")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("member")


class ReferenceValueResource(ImporterResource):
    importer_class = ReferenceValueImporter

    kind = Field(attribute="kind", column_name="kind")
    year = Field(attribute="year", column_name="year")
    sector = Field(attribute="sector", column_name="sector")
    value = Field(attribute="value", column_name="value")

    class Meta:
        model = ReferenceValue
        fields = ("kind", "year", "sector", "value")
        export_order = fields


class AccountOpeningResource(ImporterResource):
    """Opening balances (import_accounts). Exports the opening balance carried over, not the
    current balance, so that the export imports back as 'unchanged'."""

    importer_class = AccountOpeningImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    balance = Field(attribute="opening_balance", column_name="balance")
    as_of = Field(attribute="carried_over_as_of", column_name="as_of")
    credited_last_12_months = Field(attribute="carried_over_credits", column_name="credited_last_12_months")

    class Meta:
        model = PersonalAccount
        fields = ("id_number", "balance", "as_of", "credited_last_12_months")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.filter(carried_over_as_of__isnull=False).select_related("member").annotate(
            opening_balance=Sum("entries__amount", filter=Q(entries__kind=LedgerEntry.Kind.OPENING_BALANCE),
                                default=0))
