"""The admin site of the agency's staff. Provider staff never reach it: they use the API.

Installed through config.admin_apps in place of `django.contrib.admin`'s default site (see
the end of settings/base.py), so that `admin.site` everywhere is this site.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.auth import BackoffLoginFormMixin
from core.transactions import durable_on_post


def is_provider_user(user) -> bool:
    """A user who acts for a designated provider (or the cross-region platform)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from core.roles import Role

    if not getattr(user, "pk", None):
        return False
    return (
        get_user_model()
        .objects.filter(pk=user.pk)
        .filter(Q(groups__name=Role.PROVIDER.value) | Q(provider_staff__isnull=False))
        .exists()
    )


class StaffOnlyAuthenticationForm(BackoffLoginFormMixin, AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "provider_user": _(
            "This account belongs to a designated provider. Providers use the API, not the admin."
        ),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if is_provider_user(user):
            raise ValidationError(self.error_messages["provider_user"], code="provider_user")


class GongjiAdminSite(admin.AdminSite):
    site_header = _("Gongji: outpatient mutual-aid back office")
    site_title = _("Gongji")
    index_title = _("Medical insurance agency")
    login_form = StaffOnlyAuthenticationForm
    site_url = None  # the admin is the whole site: no "view site" link to nowhere
    index_template = "admin/gongji_index.html"

    def index(self, request, extra_context=None):
        # The to-do box at the top of the index: what will stop settlement if nobody acts.
        from django.utils import timezone

        from claims.policy_services import policy_versions_ending
        from core.todo import todos_for

        extra_context = {
            **(extra_context or {}),
            "policy_versions_ending": policy_versions_ending(today=timezone.localdate()),
            "todos": todos_for(request.user),
        }
        return super().index(request, extra_context)

    def admin_view(self, view, cacheable=False):
        """Every admin view (the change forms, the changelists' actions, delete, and each
        ModelAdmin's own views registered through `get_urls`) goes through here: a writing
        request is one outermost transaction (core.transactions), so the services the admin
        calls join it instead of refusing to run inside it."""
        return super().admin_view(durable_on_post(view), cacheable)

    def get_urls(self):
        from django.urls import path

        return [path("schedules/", self.admin_view(self.schedules_view), name="schedules"), *super().get_urls()]

    def schedules_view(self, request):
        """The scheduled jobs in plain words, for every member of staff (core.schedules)."""
        from django.template.response import TemplateResponse

        from core.schedules import schedules

        context = {**self.each_context(request), "title": _("Scheduled jobs"), "schedules": schedules()}
        return TemplateResponse(request, "admin/schedules.html", context)

    def login(self, request, extra_context=None):
        from django.conf import settings

        # In the demo (DEBUG), a hint to the command that prints a demo user's one-time code.
        extra_context = {**(extra_context or {}), "otp_demo_hint": settings.DEBUG and settings.STAFF_OTP_REQUIRED}
        return super().login(request, extra_context)

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        # Signed in with the second factor too (core.otp; SecondFactorMiddleware sends whoever
        # still owes it to the code page before any admin page is reached).
        from core.otp import second_factor_pending

        if second_factor_pending(request):
            return False
        # Even if someone ticks "staff status" on a provider's user, the admin stays closed.
        # One query per admin request, remembered on the request.
        cached = getattr(request, "_gongji_admin_allowed", None)
        if cached is None:
            cached = request.user.is_superuser or not is_provider_user(request.user)
            request._gongji_admin_allowed = cached
        return cached
