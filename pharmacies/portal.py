"""The provider portal (/portal/): a small site in Chinese for the staff of designated providers.

Views parse, call one service and render. A provider user sees only its own provider:
every object is looked up through `request.provider`, so another provider's record is a 404.

Other apps add their pages (claims, settlements, monthly statements) with `portal_view`,
the `portal/base.html` template and `add_navigation(...)` (e.g. in their AppConfig.ready()).
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core import tokens as api_tokens
from core.errors import DomainError, NotFound
from core.models import ApiToken
from core.transactions import durable_on_post

from . import services
from .access import provider_is_active, staff_link
from .forms import ConditionAnswerForm, DocumentUploadForm, PortalApplicationForm, PortalLoginForm
from .models import AdmissionCondition, Agreement, Application, ApplicationDocument, Notification

# (url name, label): the portal's navigation, in order. Extend with add_navigation().
NAVIGATION: list[tuple[str, object]] = [
    ("portal:home", _("Home")),
    ("portal:applications", _("Applications")),
    ("portal:agreements", _("Agreement")),
    ("portal:notifications", _("Notifications")),
    ("portal:token", _("API token")),
    ("portal:two_factor", _("Sign-in security")),
]


def add_navigation(url_name: str, label, *, before: str = "portal:notifications") -> None:
    """Add a navigation entry (once) for a page another app serves in the portal."""
    if any(name == url_name for name, _label in NAVIGATION):
        return
    names = [name for name, _label in NAVIGATION]
    position = names.index(before) if before in names else len(NAVIGATION)
    NAVIGATION.insert(position, (url_name, label))


def portal_view(view=None, *, any_status: bool = False):
    """Logged-in staff of a designated provider only; sets request.provider.

    A suspended or terminated provider keeps only the pages marked `any_status=True` (its home,
    agreement, notifications, API token, monthly statements, year-end settlements,
    reconciliations, flags and appeals); every other page answers 403 with a page that says
    why. New pages are therefore closed to such a provider unless they opt in.

    A writing request is one outermost transaction (core.transactions.durable_on_post).
    """
    if view is None:
        return lambda actual: portal_view(actual, any_status=any_status)

    @login_required(login_url=reverse_lazy("portal:login"))
    @durable_on_post
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        link = staff_link(request.user)
        provider = link.provider if link else None
        if provider is None:
            return render(request, "portal/not_provider.html", status=403)
        request.provider = provider
        if not any_status and not provider_is_active(link):
            return render_portal(request, "portal/provider_not_active.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def render_portal(request, template, context=None, status=None):
    context = {
        "provider": request.provider,
        "navigation": NAVIGATION,
        "unread_count": Notification.objects.for_provider(request.provider)
        .filter(read_at__isnull=True)
        .count(),
        **(context or {}),
    }
    return render(request, template, context, status=status)


def _refused(request, exc: DomainError):
    if isinstance(exc, NotFound):
        raise Http404(str(exc.message))
    messages.error(request, exc.message)


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalLoginForm
    next_page = reverse_lazy("portal:home")


class PortalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


def _own_application(request, pk) -> Application:
    return get_object_or_404(
        Application.objects.select_related("parent"), pk=pk, provider=request.provider
    )


@portal_view(any_status=True)
def home(request):
    provider = request.provider
    expiring = services.agreements_expiring().filter(provider=provider).first()
    return render_portal(
        request,
        "portal/home.html",
        {
            "agreement": provider.agreements.filter(
                status__in=[Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED]
            ).first(),
            "open_applications": provider.applications.filter(status__in=Application.OPEN_STATUSES),
            "notifications": Notification.objects.for_provider(provider)[:5],
            # What is about to expire: the agreement in force ends soon and is not renewed yet.
            "expiring": expiring,
            "days_left": (expiring.period_to - timezone.localdate()).days if expiring else None,
        },
    )


@portal_view
def application_list(request):
    applications = request.provider.applications.order_by("-created_at", "-pk")
    return render_portal(request, "portal/application_list.html", {"applications": applications})


def _initial_particulars(provider, application=None) -> dict:
    source = application or provider
    return {
        "name": source.name,
        "level": source.level,
        "parent": source.parent_id,
        "district": source.district,
        "outpatient_pooling": getattr(source, "outpatient_pooling", False),
        **(
            {
                "contact_name": application.contact_name,
                "contact_phone": application.contact_phone,
                "contact_email": application.contact_email,
            }
            if application
            else {}
        ),
    }


@portal_view
def application_create(request):
    form = PortalApplicationForm(
        request.POST or None, initial=_initial_particulars(request.provider)
    )
    if request.method == "POST" and form.is_valid():
        try:
            application = services.application_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("The draft application was saved."))
            return redirect("portal:application", pk=application.pk)
    return render_portal(
        request, "portal/application_form.html", {"form": form, "application": None}
    )


@portal_view
def application_edit(request, pk):
    application = _own_application(request, pk)
    if not application.is_editable:
        return redirect("portal:application", pk=pk)
    form = PortalApplicationForm(
        request.POST or None, initial=_initial_particulars(request.provider, application)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.application_update(
                application=application, actor=request.user, **form.cleaned_data
            )
        except DomainError as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("The draft application was saved."))
            return redirect("portal:application", pk=pk)
    return render_portal(
        request, "portal/application_form.html", {"form": form, "application": application}
    )


@portal_view
def application_detail(request, pk):
    application = _own_application(request, pk)
    answers = {
        answer.condition: answer
        for answer in application.conditions.select_related("evidence_document")
    }
    conditions = []
    if application.needs_admission_conditions:
        for condition in AdmissionCondition.Condition:
            answer = answers.get(condition.value)
            initial = {}
            if answer is not None and answer.met is not None:
                initial = {
                    "met": "yes" if answer.met else "no",
                    "evidence_text": answer.evidence_text,
                    "evidence_document": answer.evidence_document_id,
                }
            conditions.append(
                {
                    "condition": condition,
                    "answer": answer,
                    "form": ConditionAnswerForm(
                        application=application, initial=initial, prefix=condition.value
                    ),
                }
            )
    return render_portal(
        request,
        "portal/application_detail.html",
        {
            "application": application,
            "documents": application.documents.all(),
            "conditions": conditions,
            "upload_form": DocumentUploadForm(),
            "transitions": application.transitions.select_related("actor"),
            "agreements": application.agreements.all(),
            "missing_documents": [
                ApplicationDocument.Kind(k).label for k in services.missing_documents(application)
            ]
            if application.is_editable
            else [],
        },
    )


@portal_view
@require_POST
def document_upload(request, pk):
    application = _own_application(request, pk)
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.application_add_document(
                application=application,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
            )
        except DomainError as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("The document was uploaded."))
    else:
        messages.error(request, _("Choose the document kind and a file."))
    return redirect("portal:application", pk=pk)


@portal_view
@require_POST
def document_delete(request, pk, document_pk):
    application = _own_application(request, pk)
    document = get_object_or_404(application.documents, pk=document_pk)
    try:
        services.application_remove_document(document=document, actor=request.user)
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The document was removed."))
    return redirect("portal:application", pk=pk)


@portal_view
def document_download(request, pk, document_pk):
    application = _own_application(request, pk)
    document = get_object_or_404(application.documents, pk=document_pk)
    response = FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.original_name,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@portal_view
@require_POST
def condition_answer(request, pk, condition):
    application = _own_application(request, pk)
    if condition not in AdmissionCondition.Condition.values:
        raise Http404()
    form = ConditionAnswerForm(request.POST, application=application, prefix=condition)
    if form.is_valid():
        try:
            services.application_answer_condition(
                application=application,
                actor=request.user,
                condition=condition,
                **form.cleaned_data,
            )
        except DomainError as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("The answer was saved."))
    else:
        messages.error(request, _("Answer yes or no."))
    return redirect("portal:application", pk=pk)


@portal_view
@require_POST
def application_submit(request, pk):
    application = _own_application(request, pk)
    try:
        services.application_submit(application=application, actor=request.user)
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The application was submitted."))
    return redirect("portal:application", pk=pk)


@portal_view(any_status=True)
def agreements(request):
    return render_portal(
        request,
        "portal/agreements.html",
        {
            "agreements": request.provider.agreements.select_related("application").order_by(
                "-period_from", "-pk"
            ),
            "transitions": request.provider.transitions.select_related("actor").order_by(
                "-at", "-pk"
            )[:50],
        },
    )


@portal_view(any_status=True)
def notifications(request):
    """The provider's notifications, newest first, each linked to its object's page. A POST marks
    them read: all, or the one named by `notification` (another provider's is a 404)."""
    if request.method == "POST":
        one = request.POST.get("notification")
        if one is not None and not one.isdigit():
            raise Http404
        try:
            services.notifications_mark_read(
                actor=request.user, provider=request.provider, notification_id=int(one) if one else None
            )
        except NotFound as exc:
            raise Http404(str(exc.message)) from exc
        return redirect("portal:notifications")
    items = Notification.objects.for_provider(request.provider).select_related("application")[:200]
    return render_portal(request, "portal/notifications.html", {"notifications": items})


def _provider_tokens(provider):
    return ApiToken.objects.filter(user__provider_staff__provider=provider).select_related("user", "revoked_by")


@portal_view(any_status=True)
def token(request):
    """The provider's API tokens: issue one (for the signed-in user), rotate or revoke any of the
    provider's. A new key is shown once, in the answer to the POST that issued it (never in a
    message, the session or a log); the page says so and is not cached."""
    new_key = None
    if request.method == "POST":
        operation = request.POST.get("operation")
        try:
            if operation == "issue":
                _token, new_key = api_tokens.api_token_issue(user=request.user, actor=request.user)
            elif operation in ("rotate", "revoke"):
                pk = request.POST.get("token", "")
                token = _provider_tokens(request.provider).filter(pk=pk).first() if pk.isdigit() else None
                if token is None:
                    raise Http404
                reason = request.POST.get("reason", "")
                if operation == "rotate":
                    _token, new_key = api_tokens.api_token_rotate(token=token, actor=request.user, reason=reason)
                else:
                    api_tokens.api_token_revoke(token=token, actor=request.user, reason=reason)
                    messages.success(request, _("The API token %(prefix)s… was revoked; it no longer works.")
                                     % {"prefix": token.prefix})
        except DomainError as exc:
            _refused(request, exc)
        if new_key is None:
            return redirect("portal:token")
    now = timezone.now()
    rows = [(token, token.status(now), token.days_left(now)) for token in _provider_tokens(request.provider)]
    response = render_portal(request, "portal/token.html", {
        "rows": rows, "new_key": new_key, "overlap_hours": settings.API_TOKEN_ROTATION_OVERLAP_HOURS,
        "lifetime_days": settings.API_TOKEN_LIFETIME_DAYS, "warning_days": api_tokens.EXPIRY_WARNING_DAYS,
    })
    response["Cache-Control"] = "no-store"
    return response


@portal_view(any_status=True)
def two_factor(request):
    """Provider staff may opt in to the second factor (core.otp): enrol an authenticator with a
    code (then the recovery codes, once), or turn it off with a code."""
    from django_otp import login as otp_login

    from core import otp
    from core.otp_views import CodeForm, enrolment_context

    user = request.user
    enrolled = otp.has_confirmed_totp(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            if enrolled:
                otp.second_factor_disable(user=user, code=code)
            else:
                device = otp.enrolment_device(user)
                codes = otp.enrol_confirm(user=user, device=device, code=code)
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            if enrolled:
                messages.success(request, _("The one-time code is off: the portal asks for the password only."))
                return redirect("portal:two_factor")
            device.refresh_from_db()
            otp_login(request, device)
            request.session.cycle_key()
            return render_portal(request, "portal/two_factor.html", {"enrolled": True, "codes": codes})
    context = {"enrolled": enrolled, "form": form}
    if not enrolled:
        context.update(enrolment_context(otp.enrolment_device(user)))
    return render_portal(request, "portal/two_factor.html", context)
