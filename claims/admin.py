"""Admin for the catalog (医保目录)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from core.admin import LargeTableMixin

from .models import CatalogItem


@admin.register(CatalogItem)
class CatalogItemAdmin(LargeTableMixin, SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "item_class", "prepay_percent", "payment_standard",
                    "list_price", "sex", "min_age", "max_age"]
    list_filter = ["kind", "item_class", "sex"]
    search_fields = ["code", "name"]  # see get_search_results
    search_help_text = _("National code (or its beginning) or part of the name.")

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        # Codes are matched from their beginning (index-friendly); names anywhere.
        return queryset.filter(code__startswith=term) | queryset.filter(name__contains=term), False

# Monthly statements, deductions and reconciliations (claims/admin_statements.py).
from . import admin_statements  # noqa: E402, F401
