"""Admin import resources for chronic and special diseases (the same parsers as the commands
import_diseases, import_chronic_registrations and import_inpatient_totals)."""

from import_export.fields import Field

from core.imports.resources import ImporterResource

from .chronic_importers import ChronicRegistrationImporter, DiseaseImporter, InpatientTotalsImporter
from .models import ChronicRegistration, Disease, MemberYear


class DiseaseResource(ImporterResource):
    importer_class = DiseaseImporter

    code = Field(attribute="code", column_name="code")
    name = Field(attribute="name", column_name="name")
    group = Field(attribute="group", column_name="group")

    class Meta:
        model = Disease
        fields = ("code", "name", "group")
        export_order = fields


class ChronicRegistrationResource(ImporterResource):
    importer_class = ChronicRegistrationImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    disease_code = Field(attribute="disease__code", column_name="disease_code")
    valid_from = Field(attribute="valid_from", column_name="valid_from")
    valid_to = Field(attribute="valid_to", column_name="valid_to")
    certified_by_code = Field(attribute="certified_by__code", column_name="certified_by_code")
    designated_provider_code = Field(attribute="designated_provider__code", column_name="designated_provider_code")

    class Meta:
        model = ChronicRegistration
        fields = ("id_number", "disease_code", "valid_from", "valid_to", "certified_by_code", "designated_provider_code")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("member", "disease", "certified_by", "designated_provider")


class InpatientTotalsResource(ImporterResource):
    """The inpatient system's yearly totals per member (Jinan (七): the compliant burden counts
    toward the large-amount second payment). A file replaces the year's figures."""

    importer_class = InpatientTotalsImporter

    id_number = Field(attribute="member__id_number", column_name="id_number")
    year = Field(attribute="year", column_name="year")
    compliant_burden = Field(attribute="inpatient_compliant_burden", column_name="compliant_burden")
    fund_paid = Field(attribute="inpatient_fund_paid", column_name="fund_paid")
    as_of = Field(attribute="inpatient_as_of", column_name="as_of")

    class Meta:
        model = MemberYear
        fields = ("id_number", "year", "compliant_burden", "fund_paid", "as_of")
        export_order = fields
