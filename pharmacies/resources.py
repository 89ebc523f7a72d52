"""Admin import/export resource for designated providers (same parsers as import_providers)."""

from import_export.fields import Field

from core.imports.resources import ImporterResource

from .importers import ProviderImporter
from .models import Provider


class ProviderResource(ImporterResource):
    importer_class = ProviderImporter

    code = Field(attribute="code", column_name="code")
    name = Field(attribute="name", column_name="name")
    kind = Field(attribute="kind", column_name="kind")
    level = Field(attribute="level", column_name="level")
    parent_code = Field(attribute="parent__code", column_name="parent_code")
    outpatient_pooling = Field(column_name="outpatient_pooling")
    status = Field(attribute="status", column_name="status")
    district = Field(attribute="district", column_name="district")

    class Meta:
        model = Provider
        fields = ("code", "name", "kind", "level", "parent_code", "outpatient_pooling", "status", "district")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("parent")

    def dehydrate_outpatient_pooling(self, provider):
        return "true" if provider.outpatient_pooling else "false"
