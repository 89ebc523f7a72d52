"""Admin import/export resource for the catalog (same parsers as import_catalog)."""

from import_export.fields import Field

from core.imports.resources import ImporterResource

from .importers import CatalogItemImporter
from .models import CatalogItem


class CatalogItemResource(ImporterResource):
    importer_class = CatalogItemImporter

    code = Field(attribute="code", column_name="code")
    name = Field(attribute="name", column_name="name")
    kind = Field(attribute="kind", column_name="kind")
    item_class = Field(attribute="item_class", column_name="class")
    prepay_percent = Field(attribute="prepay_percent", column_name="prepay_percent")
    payment_standard = Field(attribute="payment_standard", column_name="payment_standard")
    sex = Field(attribute="sex", column_name="sex")
    min_age = Field(attribute="min_age", column_name="min_age")
    max_age = Field(attribute="max_age", column_name="max_age")
    list_price = Field(attribute="list_price", column_name="list_price")
    platform_price = Field(attribute="platform_price", column_name="platform_price")
    account_payable = Field(attribute="account_payable", column_name="account_payable")
    separately_paid = Field(attribute="separately_paid", column_name="separately_paid")

    class Meta:
        model = CatalogItem
        fields = ("code", "name", "kind", "item_class", "prepay_percent", "payment_standard", "sex", "min_age",
                  "max_age", "list_price", "platform_price", "account_payable", "separately_paid")
        export_order = fields
