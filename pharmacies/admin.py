"""Admin for the registry of designated providers and the users who act for them."""

import re

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import HistoryAdmin, LargeTableMixin
from core.imports.admin import ImportExportMixin  # within the import limits

from .models import Provider, ProviderStaff
from .resources import ProviderResource

PROVIDER_CODE_PREFIX = re.compile(r"^[HP]\d{0,11}$")


def search_providers(queryset, term: str, prefix: str = ""):
    """A national code (or its beginning) or the beginning of the name."""
    term = (term or "").strip()
    if not term:
        return queryset
    if PROVIDER_CODE_PREFIX.match(term.upper()):
        return queryset.filter(**{f"{prefix}code__startswith": term.upper()})
    return queryset.filter(**{f"{prefix}name__contains": term})


@admin.register(Provider)
class ProviderAdmin(ImportExportMixin, LargeTableMixin, HistoryAdmin):
    resource_classes = [ProviderResource]
    list_display = ["code", "name", "kind", "level", "parent", "outpatient_pooling", "status", "district"]
    list_select_related = ["parent"]
    ordering = ["code"]
    list_filter = ["kind", "level", "status", "outpatient_pooling", "district"]
    search_fields = ["code", "name"]  # see get_search_results
    search_help_text = _("National code (or its beginning) or part of the name.")
    autocomplete_fields = ["parent"]
    readonly_fields = ["created_at"]

    def get_search_results(self, request, queryset, search_term):
        queryset = search_providers(queryset, search_term)
        if request.GET.get("model_name") == "provider" and request.GET.get("field_name") == "parent":
            # An internet hospital relies on a physical institution (Jinan (十二)).
            queryset = queryset.filter(kind=Provider.Kind.INSTITUTION).exclude(level=Provider.Level.INTERNET_HOSPITAL)
        return queryset, False


@admin.register(ProviderStaff)
class ProviderStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "provider", "cross_region_platform"]
    list_select_related = ["user", "provider"]
    list_filter = ["cross_region_platform"]
    search_fields = ["user__username", "provider__code", "provider__name"]
    autocomplete_fields = ["user", "provider"]

    # Links are 系统管理's (core.roles); every change goes through the service, which refuses a
    # user holding an agency role and revokes the user's API tokens when the provider changes.

    def get_readonly_fields(self, request, obj=None):
        return ["user"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        from .services import provider_staff_link

        link = provider_staff_link(
            actor=request.user, user=obj.user, provider=obj.provider,
            cross_region_platform=obj.cross_region_platform,
        )
        obj.pk = link.pk

    def delete_model(self, request, obj):
        from .services import provider_staff_unlink

        provider_staff_unlink(actor=request.user, link=obj)

    def delete_queryset(self, request, queryset):
        for link in queryset:
            self.delete_model(request, link)



# The designation workflow (applications, agreements, history); keep this import last.
from .admin_workflow import *  # noqa: E402,F401,F403
