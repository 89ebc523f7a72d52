"""Admin building blocks shared by every app, and the read-only audit trail."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import PasswordResetForm, UserChangeForm
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .admin_actions import apply_to_selected
from .audit import audit
from .audit_actions import AuditAction
from .audit_labels import action_label, target_type_label
from .errors import DomainError
from .models import ApiToken, AuditEvent
from .paginator import LargeTablePaginator
from .roles import Role, role_conflicts


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
    if request.method not in ("GET", "HEAD") and not self.has_change_permission(
        request, self.get_object(request, unquote(object_id))
    ):
        # simple-history saves a posted "revert" for anyone who may only *view* the history
        # (it merely hides the button): a reader must not change the row through it.
        raise PermissionDenied
    return _history_form_view(self, request, object_id, version_id, extra_context=extra_context)


# django-simple-history's admin passes the id from the address to the database as it is: a
# crafted `../../x/history/` reached an integer key as a string (a 500). Every history admin,
# ours and any added later, refuses an id that is not one with a 404, and a revert posted by
# a user who may not change the row with a 403.
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


class NoAddNoDeleteMixin:
    """A model whose rows a service creates and an action or view of the admin moves on
    (approve, pay, decide): the admin never adds one and never deletes one. Changing is the
    ModelAdmin's own to say."""

    def has_add_permission(self, request):
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


def _has_provider_link(user) -> bool:
    # The provider staff link (pharmacies.ProviderStaff, a one-to-one reverse accessor): core
    # imports no app (README, Layout). A missing one raises RelatedObjectDoesNotExist, an
    # AttributeError too.
    return hasattr(user, "provider_staff")


class StaffUserChangeForm(UserChangeForm):
    def clean(self):
        # Ziyang 第十九条 (不相容岗位分离): incompatible roles are refused on one person, and a
        # provider's staff never hold an agency role.
        cleaned = super().clean()
        groups = cleaned.get("groups")
        if groups is not None and self.instance.pk:
            names = {group.name for group in groups}
            if _has_provider_link(self.instance):
                names.add(Role.PROVIDER.value)
            conflicts = role_conflicts(names)
            if conflicts:
                first, second, _reason = conflicts[0]
                self.add_error("groups", _(
                    "The roles %(first)s and %(second)s are incompatible duties and may not be held "
                    "by one person."
                ) % {"first": first, "second": second})
        return cleaned


class StaffUserCreationForm(forms.ModelForm):
    """A new user without a password: the person sets it through a reset link (the
    administrator never knows anyone's password)."""

    class Meta:
        model = User
        fields = ["username", "email"]

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


def send_password_reset(request, user) -> bool:
    """E-mail `user` a one-time link to set their own password (Django's password reset)."""
    if not user.email:
        return False
    form = PasswordResetForm({"email": user.email})
    if not form.is_valid():
        return False
    # PasswordResetForm mails only active users with a usable password; a new user has none yet.
    form.get_users = lambda email: [user]
    form.save(request=request, use_https=request.is_secure(),
              subject_template_name="registration/password_reset_subject.txt",
              email_template_name="registration/password_reset_email.html")
    return True


def email_locked(user) -> bool:
    """Another person's account with a password of its own: only a superuser changes its e-mail
    address (the person asks one); 系统管理 may still correct the address of an account whose
    owner has not set a password yet (a new user waiting for the first reset link)."""
    return user is not None and user.pk is not None and user.has_usable_password()


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """The system administrator (系统管理) manages users and their roles, but cannot make
    anyone a superuser nor hand out single permissions past the roles: duties stay separated.

    A non-superuser may not change a superuser, nor its own roles, nor set another person's
    password: it sends a reset link that the person completes (their password is theirs alone).
    """

    list_select_related = False
    list_filter = ["is_staff", "is_active", "groups"]
    form = StaffUserChangeForm
    actions = ["send_password_reset_links"]

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return ((None, {"classes": ("wide",), "fields": ("username", "email")}),)
        return super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = StaffUserCreationForm
            return admin.ModelAdmin.get_form(self, request, obj, **kwargs)
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
            if obj is not None and obj.pk == request.user.pk:
                # Nobody grants themselves a role (系统管理 adding itself to 财务 and 经办).
                fields += ["groups", "is_staff", "is_active"]
            elif email_locked(obj):
                # 系统管理 could otherwise put its own address on a colleague's account and send
                # the password reset link there (README, Security: e-mail addresses).
                fields += ["email"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        if user is not None and not request.user.is_superuser and user.pk != request.user.pk:
            audit(actor=request.user, action=AuditAction.USER_PASSWORD_SET_REFUSED, target=user,
                  label=user.get_username())
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request, obj, form, change):
        if change and "email" in form.changed_data:
            if not request.user.is_superuser and obj.pk != request.user.pk and email_locked(obj):
                raise PermissionDenied
            audit(actor=request.user, action=AuditAction.USER_EMAIL_CHANGE, target=obj, label=obj.get_username(),
                  previous=form.initial.get("email", ""), email=obj.email)
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            sent = send_password_reset(request, obj)
            audit(actor=request.user, action=AuditAction.USER_CREATE, target=obj, label=obj.get_username(),
                  reset_link_sent=sent)

    @admin.action(description=_("Send a password reset link"), permissions=["change"])
    def send_password_reset_links(self, request, queryset):
        sent, skipped = [], []
        for user in queryset:
            if user.is_superuser and not request.user.is_superuser:
                skipped.append(user.get_username())
            elif send_password_reset(request, user):
                sent.append(user.get_username())
                audit(actor=request.user, action=AuditAction.USER_PASSWORD_RESET_SENT, target=user,
                      label=user.get_username())
            else:
                skipped.append(user.get_username())
        if sent:
            self.message_user(request, _("A password reset link was sent to: %(users)s.")
                              % {"users": ", ".join(sent)}, messages.SUCCESS)
        if skipped:
            self.message_user(request, _("No link was sent to (no e-mail address, or a superuser): "
                                         "%(users)s.") % {"users": ", ".join(skipped)}, messages.WARNING)


class ApiTokenIssueForm(forms.Form):
    user = forms.ModelChoiceField(
        label=_("user"),
        queryset=User.objects.filter(is_active=True, provider_staff__isnull=False).order_by("username"),
        help_text=_("API tokens are issued only to the users of designated providers."),
    )


class ApiTokenReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 3}))


class ApiTokenOptionalReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, required=False,
                             widget=forms.Textarea(attrs={"rows": 3}))


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens (系统管理; core.tokens). Adding one issues it and shows the key once, on the
    answer to that request: not in a message, not in the admin's history (LogEntry), never
    stored. Rotate and revoke are actions, each with a reason. Nothing edits a token's fields."""

    list_display = ["prefix_label", "user", "provider_label", "created_at", "expires_at", "last_used_at", "status_label"]
    list_select_related = ["user__provider_staff__provider"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "user__username"]
    fields = ["prefix_label", "user", "provider_label", "status_label", "created_at", "created_by", "expires_at",
              "last_used_at", "replaced_by", "revoked_at", "revoked_by", "revoke_reason"]
    readonly_fields = fields
    actions = ["rotate_tokens", "revoke_tokens"]

    def has_change_permission(self, request, obj=None):
        # The changelist's actions need "change"; a token's own page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description=_("token prefix"), ordering="prefix")
    def prefix_label(self, token) -> str:
        return f"{token.prefix}…"

    @admin.display(description=_("provider"))
    def provider_label(self, token) -> str:
        try:
            link = token.user.provider_staff
        except ObjectDoesNotExist:
            return "—"
        return str(link.provider) if link.provider_id else str(_("cross-region platform"))

    @admin.display(description=_("status"))
    def status_label(self, token) -> str:
        return str(token.status().label)

    def _page(self, request, template, title, **context):
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **context,
        })

    def add_view(self, request, form_url="", extra_context=None):
        from .tokens import api_token_issue

        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiTokenIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                token, key = api_token_issue(user=form.cleaned_data["user"], actor=request.user)
            except DomainError as error:
                form.add_error("user", error.message)
            else:
                return _no_store(self._page(request, "admin/core/apitoken/issued.html", _("New API token"),
                                            issued=[(token, key)]))
        return self._page(request, "admin/core/apitoken/issue.html", _("Issue a new token"), form=form)

    def _with_reason(self, request, queryset, *, form_class, title, run):
        objects = list(queryset.select_related("user").order_by("pk"))
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            return run(objects, form.cleaned_data["reason"])
        return self._page(request, "admin/pharmacies/workflow_action.html", title, form=form, objects=objects,
                          action_name=request.POST.get("action", ""), action_checkbox_name=helpers.ACTION_CHECKBOX_NAME)

    @admin.action(description=_("Rotate: issue a successor (the old token works for the overlap)"),
                  permissions=["change"])
    def rotate_tokens(self, request, queryset):
        from .tokens import api_token_rotate

        def run(objects, reason):
            issued = []
            for token in objects:
                try:
                    issued.append(api_token_rotate(token=token, actor=request.user, reason=reason))
                except DomainError as error:
                    self.message_user(request, f"{token}: {error.message}", messages.ERROR)
            if not issued:
                return None
            return _no_store(self._page(request, "admin/core/apitoken/issued.html", _("New API token"), issued=issued))

        return self._with_reason(request, queryset, form_class=ApiTokenOptionalReasonForm, run=run,
                                 title=_("Rotate: issue a successor (the old token works for the overlap)"))

    @admin.action(description=_("Revoke: the token stops working at once"), permissions=["change"])
    def revoke_tokens(self, request, queryset):
        from .tokens import api_token_revoke

        def run(objects, reason):
            apply_to_selected(
                self, request, objects, lambda token: api_token_revoke(token=token, actor=request.user, reason=reason),
                done_message=lambda done: _("%(count)d API tokens revoked.") % {"count": done},
            )

        return self._with_reason(request, queryset, form_class=ApiTokenReasonForm, run=run,
                                 title=_("Revoke: the token stops working at once"))


# --- the second factor: devices are never edited in the admin; a reset takes two persons -------

from django_otp.plugins.otp_static.models import StaticDevice  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from .models import SecondFactorReset  # noqa: E402

# django-otp's own admin pages would show the secrets and let a superuser delete an authenticator
# alone; the only way to remove one is the reset below (proposed by one, approved by another).
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


class SecondFactorResetForm(forms.ModelForm):
    """Adding a reset proposes it through the service (which checks who may, and for whom)."""

    class Meta:
        model = SecondFactorReset
        fields = ["user", "reason"]

    def clean(self):
        from .otp import second_factor_reset_propose

        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = second_factor_reset_propose(user=data["user"], reason=data["reason"],
                                                        actor=self.request_user)
        except DomainError as error:
            raise ValidationError(error.message) from None
        return data


@admin.register(SecondFactorReset)
class SecondFactorResetAdmin(admin.ModelAdmin):
    """One 系统管理 proposes resetting a user's second factor (a lost phone), with the reason;
    another 系统管理 or a superuser approves (the person enrols again at the next login) or
    rejects. Nobody approves their own proposal, nor a reset of themselves."""

    list_display = ["user", "reason", "status", "proposed_by", "proposed_at", "decided_by", "decided_at"]
    list_select_related = ["user", "proposed_by", "decided_by"]
    list_filter = ["status"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
    actions = ["approve", "reject"]
    readonly_fields = ["status", "proposed_by", "proposed_at", "decided_by", "decided_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, form=SecondFactorResetForm, **kwargs)
            form.request_user = request.user
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "reason"]
        return ["user", "reason", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "reason", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        # The proposal was made by the service in the form's clean(); nothing is edited afterwards.
        return

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Approve the selected resets (the users enrol again at their next login)"),
                  permissions=["change"])
    def approve(self, request, queryset):
        from .admin_actions import apply_to_selected
        from .otp import second_factor_reset_approve

        apply_to_selected(self, request, queryset.order_by("pk"),
                          lambda reset: second_factor_reset_approve(reset=reset, actor=request.user),
                          done_message=_("%(count)d resets approved; those users enrol again at their next login."))

    @admin.action(description=_("Reject the selected resets"), permissions=["change"])
    def reject(self, request, queryset):
        from .admin_actions import apply_to_selected
        from .otp import second_factor_reset_reject

        apply_to_selected(self, request, queryset.order_by("pk"),
                          lambda reset: second_factor_reset_reject(reset=reset, actor=request.user),
                          done_message=_("%(count)d resets rejected."))


# --- login lockouts: django-axes' own admin, with its clean-up action made safe ----------------

from axes.admin import AccessAttemptAdmin as _AxesAccessAttemptAdmin  # noqa: E402
from axes.models import AccessAttempt  # noqa: E402


class AccessAttemptAdmin(_AxesAccessAttemptAdmin):
    """django-axes' page of locked (username, client) pairs. Its "clean up expired attempts" action
    reads the cool-off threshold from `request.axes_attempt_time`, which axes sets only during a
    login: from the admin it answered 500. The action sets the time it needs, and says in words
    how many it removed."""

    @admin.action(description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request, queryset):
        if getattr(request, "axes_attempt_time", None) is None:
            request.axes_attempt_time = timezone.now()
        count = self.handler.clean_expired_user_attempts(request=request)
        self.message_user(request, _("Removed %(count)d expired login attempt(s).") % {"count": count},
                          messages.SUCCESS)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)


# --- scheduled jobs (django-celery-beat): "run selected tasks" sends them after the commit -------

from functools import partial  # noqa: E402

from django.db import transaction  # noqa: E402
from django_celery_beat.admin import PeriodicTaskAdmin as _BeatPeriodicTaskAdmin  # noqa: E402
from django_celery_beat.models import PeriodicTask  # noqa: E402
from kombu.utils.json import loads as _kombu_loads  # noqa: E402


class PeriodicTaskAdmin(_BeatPeriodicTaskAdmin):
    """django-celery-beat's page of scheduled tasks. Its "run selected tasks" sent each task from
    inside the admin request's transaction (config.admin_site: a POST is one durable transaction):
    run in-process (eager) the task's own durable transaction raised there, and a worker could
    start it before the request committed. The tasks are sent once the request has committed."""

    @admin.action(description=_("Run selected tasks"))
    def run_tasks(self, request, queryset):
        self.celery_app.loader.import_default_modules()
        tasks = list(queryset.order_by("pk"))
        missing = [periodic.task for periodic in tasks if self.celery_app.tasks.get(periodic.task) is None]
        if missing:
            self.message_user(request, _("Task not found: %(name)s") % {"name": missing[0]}, messages.ERROR)
            return
        for periodic in tasks:
            options = {"headers": {"periodic_task_name": periodic.name}}
            if periodic.queue:
                options["queue"] = periodic.queue
            send = partial(self.celery_app.tasks[periodic.task].apply_async, args=_kombu_loads(periodic.args),
                           kwargs=_kombu_loads(periodic.kwargs), **options)
            transaction.on_commit(send)
        self.message_user(request, _("%(count)d task(s) sent to run.") % {"count": len(tasks)}, messages.SUCCESS)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
