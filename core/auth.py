"""Login protection: failed attempts are limited and locked out (django-axes), and every
login, failed login and logout is recorded (等保 level 3, OWASP ASVS L2 V2/V7)."""

import logging
import time

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

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


def _client(request) -> str:
    if request is None:
        return "-"
    return request.META.get("REMOTE_ADDR", "-")


@receiver(user_logged_in)
def _log_login(sender, request, user, **kwargs):
    from .audit import audit

    logger.info("login user=%s client=%s", user.pk, _client(request))
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_TOUCH_KEY] = int(time.time())
    audit(actor=user, action="auth.login", target=user, label=user.get_username(), client=_client(request))


@receiver(user_logged_out)
def _log_logout(sender, request, user, **kwargs):
    if user is not None:
        logger.info("logout user=%s client=%s", user.pk, _client(request))


@receiver(user_login_failed)
def _log_login_failed(sender, credentials, request=None, **kwargs):
    from .audit import audit

    username = str(credentials.get("username", ""))[:150]
    logger.warning("login failed username=%s client=%s", username, _client(request))
    audit(actor=None, action="auth.login_failed", label=username, client=_client(request))
