"""The second factor's pages (/otp/…): the code after the password, the enrolment of an agency
user with no device yet, and the recovery codes shown once. Thin: core.otp does the work."""

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from . import otp
from .auth import BackoffLoginFormMixin, backoff_reset, backoff_wait_seconds, client_ip
from .errors import DomainError
from .transactions import durable_on_post

RECOVERY_SESSION_KEY = "_otp_recovery_codes"


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=32, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}),
    )


def _next_url(request, user) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return reverse("admin:index") if otp.is_agency_user(user) else reverse("portal:home")


def _login_url(request) -> str:
    going = request.GET.get("next") or ""
    return reverse("portal:login") if going.startswith("/portal/") else reverse("admin:login")


def _render(request, template, context):
    from django.contrib import admin

    user = request.user
    agency = otp.is_agency_user(user)
    base = {
        **(admin.site.each_context(request) if agency else {}),
        "base_template": "admin/base_site.html" if agency else "portal/base.html",
        "agency": agency,
        "demo_hint": settings.DEBUG,
        **context,
    }
    return render(request, template, base)


def _refuse_and_count(request, form, error, username):
    """A wrong code counts like a wrong password: the (username, client) lockout and the
    per-username back-off (core.auth's signal handlers), audited as auth.otp_failed."""
    form.add_error("code", error.message)
    user_login_failed.send(
        sender=__name__, credentials={"username": username, "second_factor": True}, request=request,
    )


@never_cache
@durable_on_post
def verify(request):
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), _login_url(request))
    next_url = _next_url(request, user)
    if not otp.second_factor_pending(request):
        return redirect(next_url)
    if not otp.has_confirmed_totp(user):
        return redirect(otp.second_factor_url(user, next_url=next_url))
    username = user.get_username()
    credentials = {"username": username}
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return get_lockout_response(request, None, credentials)
        wait = backoff_wait_seconds(username)
        if wait:
            form.add_error("code", BackoffLoginFormMixin.backoff_message % {"seconds": wait})
        else:
            try:
                device = otp.second_factor_verify(user=user, code=form.cleaned_data["code"])
            except otp.CodeThrottled as error:
                form.add_error("code", error.message)
            except DomainError as error:
                _refuse_and_count(request, form, error, username)
                if getattr(request, "axes_locked_out", False):
                    logout(request)
                    return get_lockout_response(request, None, credentials)
            else:
                otp_login(request, device)
                request.session.cycle_key()
                backoff_reset(username)
                AxesProxyHandler.reset_attempts(username=username, ip_address=client_ip(request))
                if isinstance(device, StaticDevice):
                    messages.warning(request, _(
                        "You signed in with a recovery code; it cannot be used again. %(left)d recovery codes are "
                        "left. Ask the system administrator for a reset if your authenticator is lost.")
                        % {"left": getattr(device, "recovery_codes_left", 0)})
                return redirect(next_url)
    return _render(request, "otp/verify.html", {"form": form, "next": next_url, "title": _("One-time code")})


@never_cache
@durable_on_post
def enrol(request):
    """An agency user with no confirmed device (first login, or after a reset): the QR code and
    the secret, confirmed with a code; then the recovery codes, once."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), _login_url(request))
    next_url = _next_url(request, user)
    if not otp.second_factor_pending(request):
        return redirect(next_url)
    if otp.has_confirmed_totp(user):
        return redirect(otp.second_factor_url(user, next_url=next_url))
    device = otp.enrolment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = otp.enrol_confirm(user=user, device=device, code=form.cleaned_data["code"])
        except DomainError as error:
            form.add_error("code", error.message)
        else:
            device.refresh_from_db()
            otp_login(request, device)
            request.session.cycle_key()
            request.session[RECOVERY_SESSION_KEY] = codes
            return redirect(f"{reverse('otp:recovery_codes')}?{urlencode({'next': next_url})}")
    return _render(request, "otp/enrol.html", {
        "form": form, "next": next_url, "title": _("Set up the one-time code"),
        **enrolment_context(device),
    })


def enrolment_context(device) -> dict:
    secret = otp.totp_secret_base32(device)
    return {
        "qr_svg": otp.qr_svg(device.config_url),
        "secret": secret,
        "secret_grouped": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
    }


@never_cache
def recovery_codes(request):
    """The recovery codes just made, shown once (they leave the session here)."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), _login_url(request))
    next_url = _next_url(request, user)
    codes = request.session.pop(RECOVERY_SESSION_KEY, None)
    if not codes:
        return redirect(next_url)
    return _render(request, "otp/recovery_codes.html", {
        "codes": codes, "next": next_url, "title": _("Recovery codes"),
    })
