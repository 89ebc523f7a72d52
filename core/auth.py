"""Login protection: failed attempts are limited and locked out (django-axes), and every
login, failed login and logout is recorded (等保 level 3, OWASP ASVS L2 V2/V7)."""

import logging

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


def _client(request) -> str:
    if request is None:
        return "-"
    return request.META.get("REMOTE_ADDR", "-")


@receiver(user_logged_in)
def _log_login(sender, request, user, **kwargs):
    from .audit import audit

    logger.info("login user=%s client=%s", user.pk, _client(request))
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
