"""Login protection: failed attempts are limited and locked out (django-axes), and every
login, failed login and logout is recorded (等保 level 3, OWASP ASVS L2 V2/V7)."""

import ipaddress
import logging
import time

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from .audit_actions import AuditAction

logger = logging.getLogger("gongji.security")


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for every login that comes with a request.

    Axes refuses calls without a request (the test client's `login()`, management code);
    those have no client to lock out, so this backend steps aside and lets the next one answer.
    """

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


SESSION_TOUCH_KEY = "_last_touch"
SESSION_TOUCH_EVERY_SECONDS = 60


class SlidingSessionMiddleware:
    """Sessions expire after SESSION_COOKIE_AGE of inactivity.

    Rather than writing the session on every request (SESSION_SAVE_EVERY_REQUEST, two more
    queries on every page), the session is saved — and its expiry pushed back — at most
    once a minute while the user is active.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty() and "_auth_user_id" in session:
            now = int(time.time())
            if now - int(session.get(SESSION_TOUCH_KEY, 0)) >= SESSION_TOUCH_EVERY_SECONDS:
                session[SESSION_TOUCH_KEY] = now
        return response


def client_ip(request) -> str | None:
    """The client's address: with TRUSTED_PROXY_COUNT = n proxies in front of the site, the
    n-th address from the right of X-Forwarded-For (each trusted proxy appends the address it
    saw; anything further left was written by the client and is not believed). With no proxy
    (n = 0), or a header shorter than n, the socket's REMOTE_ADDR. Used for the lockout
    (AXES_CLIENT_IP_CALLABLE) and the login log."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _client(request) -> str:
    if request is None:
        return "-"
    return client_ip(request) or "-"


# --- per-username back-off ---------------------------------------------------------------------
# The lockout (axes) holds the pair (username, client): a stranger typing a colleague's name from
# another address never locks the colleague out. Guessing one username from many addresses is
# slowed instead: after LOGIN_BACKOFF_FREE_ATTEMPTS failures in a row, each further attempt on that
# username waits 2, 4, 8 … seconds (at most LOGIN_BACKOFF_MAX_SECONDS) after the last failure. A
# refused attempt is not checked and not counted, and a success clears the count.

_BACKOFF_KEY = "login-backoff:{}"


def _now() -> float:
    return time.time()


def _backoff_key(username: str) -> str:
    import hashlib

    return _BACKOFF_KEY.format(hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32])


def backoff_wait_seconds(username: str) -> int:
    """How long the next attempt on `username` must still wait (0: go ahead)."""
    state = cache.get(_backoff_key(username))
    if not state:
        return 0
    failures, last = state
    extra = failures - settings.LOGIN_BACKOFF_FREE_ATTEMPTS
    if extra < 0:
        return 0
    delay = min(2 ** (extra + 1), settings.LOGIN_BACKOFF_MAX_SECONDS)
    return max(0, int(last + delay - _now() + 0.999))


def backoff_record_failure(username: str) -> None:
    key = _backoff_key(username)
    failures, _last = cache.get(key) or (0, 0)
    cache.set(key, (failures + 1, _now()), timeout=max(settings.LOGIN_BACKOFF_MAX_SECONDS * 10, 3600))


def backoff_reset(username: str) -> None:
    cache.delete(_backoff_key(username))


class BackoffLoginFormMixin:
    """For AuthenticationForm subclasses (admin and portal login): refuse an attempt on a username
    still backing off, before the password is checked (and without counting it)."""

    backoff_message = _("Too many failed sign-ins for this user name. Try again in %(seconds)d seconds.")

    def clean(self):
        username = self.data.get("username") or ""
        wait = backoff_wait_seconds(str(username)[:150]) if username else 0
        if wait:
            raise ValidationError(self.backoff_message, code="backoff", params={"seconds": wait})
        return super().clean()


@receiver(user_logged_in)
def _log_login(sender, request, user, **kwargs):
    from .audit import audit

    logger.info("login user=%s client=%s", user.pk, _client(request))
    backoff_reset(user.get_username())
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_TOUCH_KEY] = int(time.time())
    audit(actor=user, action=AuditAction.AUTH_LOGIN, target=user, label=user.get_username(), client=_client(request))


@receiver(user_logged_out)
def _log_logout(sender, request, user, **kwargs):
    if user is not None:
        logger.info("logout user=%s client=%s", user.pk, _client(request))


@receiver(user_login_failed)
def _log_login_failed(sender, credentials, request=None, **kwargs):
    from .audit import audit

    username = str(credentials.get("username", ""))[:150]
    if username:
        backoff_record_failure(username)
    # A wrong one-time code after a right password (core.otp_views) counts like a wrong password.
    second_factor = bool(credentials.get("second_factor"))
    logger.warning("login failed username=%s client=%s second_factor=%s", username, _client(request), second_factor)
    audit(actor=None, action=AuditAction.AUTH_OTP_FAILED if second_factor else AuditAction.AUTH_LOGIN_FAILED,
          label=username,
          client=_client(request))
