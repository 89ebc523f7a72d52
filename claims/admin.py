"""Admin for the catalog (医保目录)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import HistoryAdmin, LargeTableMixin
from core.imports.admin import ImportExportMixin  # within the import limits

from .models import CatalogItem
from .resources import CatalogItemResource


@admin.register(CatalogItem)
class CatalogItemAdmin(ImportExportMixin, LargeTableMixin, HistoryAdmin):
    resource_classes = [CatalogItemResource]
    list_display = ["code", "name", "kind", "item_class", "prepay_percent", "payment_standard",
                    "list_price", "sex", "min_age", "max_age", "account_payable", "separately_paid"]
    list_filter = ["kind", "item_class", "sex", "account_payable", "separately_paid"]
    search_fields = ["code", "name"]  # see get_search_results
    search_help_text = _("National code (or its beginning) or part of the name.")

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        # Codes are matched from their beginning (index-friendly); names anywhere.
        return queryset.filter(code__startswith=term) | queryset.filter(name__contains=term), False


# The admin modules below are imported last, in this order, each under its comment: not sorted.
# isort: off

# Settlements, region policies and benefit years; keep this import last.
from . import admin_settlement  # noqa: E402,F401

# Monthly statements, deductions and reconciliations (claims/admin_statements.py).
from .statements import admin as admin_statements  # noqa: E402, F401

# Chronic and special diseases (claims/admin_chronic.py).
from . import admin_chronic  # noqa: E402, F401

# Pending large-amount second payments (Jinan (七)) and their batches.
from . import admin_subsidy  # noqa: E402, F401

# Members' chosen institutions (人员定点备案, Jinan (四)).
from . import admin_chosen  # noqa: E402, F401
