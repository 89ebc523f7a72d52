"""Admin building blocks shared by every app, and the read-only audit trail."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy
from django.utils.translation import gettext_lazy as _

from .audit_labels import action_label, target_type_label
from .models import AuditEvent
from .paginator import LargeTablePaginator


def _valid_object_id(model, object_id) -> bool:
    try:
        model._meta.pk.to_python(unquote(object_id))
    except (ValidationError, ValueError, TypeError):
        return False
    return True


_history_view = SimpleHistoryAdmin.history_view
_history_form_view = SimpleHistoryAdmin.history_form_view


def _guarded_history_view(self, request, object_id, extra_context=None):
    if not _valid_object_id(self.model, object_id):
        raise Http404
    return _history_view(self, request, object_id, extra_context=extra_context)


def _guarded_history_form_view(self, request, object_id, version_id, extra_context=None):
    if not _valid_object_id(self.model, object_id) or not str(version_id).isdigit() or len(str(version_id)) > 18:
        raise Http404
    return _history_form_view(self, request, object_id, version_id, extra_context=extra_context)


# django-simple-history's admin passes the id from the address to the database as it is: a
# crafted `../../x/history/` reached an integer key as a string (a 500). Every history admin,
# ours and any added later, refuses an id that is not one with a 404.
SimpleHistoryAdmin.history_view = _guarded_history_view
SimpleHistoryAdmin.history_form_view = _guarded_history_form_view


class HistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's admin (its history views guarded above)."""


class LargeTableMixin:
    """For tables that grow to millions of rows: no COUNT(*) of the whole table per page."""

    paginator = LargeTablePaginator
    # Django would otherwise count the unfiltered table too, for "N results (M total)".
    show_full_result_count = False
    # Facet counts are one COUNT per filter choice over the whole list: never on big tables.
    show_facets = admin.ShowFacets.NEVER


class ReadOnlyAdminMixin:
    """A model the admin shows but never adds, changes or deletes: its rows are written by
    services (ledgers, audit, history, computed figures). Custom actions and views may still
    call services; they check their own permissions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInlineMixin:
    """An inline shown read-only on its parent's page: no rows added, changed or deleted."""

    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AddOnlyInlineMixin:
    """Existing rows are shown read-only; new rows can be added; nothing is deleted.

    Django shows an inline's saved rows read-only when the user may not change them,
    and still offers blank rows when they may add.
    """

    can_delete = False
    extra = 0

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, LargeTableMixin, admin.ModelAdmin):
    """The audit trail is written by services only and never edited (staff may read it)."""

    list_display = ["at", "actor", "action_text", "target_kind", "target_id", "target_label"]
    list_select_related = ["actor"]
    list_filter = [("at", admin.DateFieldListFilter)]
    search_fields = ["action", "target_id", "target_label"]  # see get_search_results
    search_help_text = _("An object's id or the beginning of its label.")
    fields = ["at", "actor", "action_text", "target_kind", "target_id", "target_label", "details"]
    readonly_fields = fields

    @admin.display(description=_("action"), ordering="action")
    def action_text(self, obj):
        return action_label(obj.action)

    @admin.display(description=_("target type"), ordering="target_type")
    def target_kind(self, obj):
        return target_type_label(obj.target_type)

    def get_search_results(self, request, queryset, search_term):
        # Exact and prefix matches only: the trail grows by every read of every member.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(action=term) | Q(target_label__startswith=term)
        if term.isdigit():
            matches |= Q(target_id=term)
        return queryset.filter(matches), False


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """The system administrator (系统管理) manages users and their roles, but cannot make
    anyone a superuser nor hand out single permissions past the roles: duties stay separated."""

    list_select_related = False
    list_filter = ["is_staff", "is_active", "groups"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields


if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class MaskedTokenAdmin(TokenAdmin):
    """API tokens are passwords: the list shows their first characters only. A provider's
    token is printed once, by `create_provider_user`."""

    list_display = ["masked_key", "user", "created"]
    list_select_related = ["user"]

    @admin.display(description=_("key"))
    def masked_key(self, token) -> str:
        return f"{token.key[:4]}…"
