"""API tokens of provider users (`Authorization: Token <key>`): issue, rotate, revoke, authenticate.

A key is 40 hexadecimal characters (160 random bits), returned once by `api_token_issue` /
`api_token_rotate` and never stored: the database keeps its SHA-256 digest (looked up on every
request) and its first 8 characters (`prefix`, to tell tokens apart in the admin, the portal
and the audit trail). A token works until `expires_at` (issued for API_TOKEN_LIFETIME_DAYS);
a rotation issues a new one and lets the old one work for API_TOKEN_ROTATION_OVERLAP_HOURS
more, so a provider's systems can switch without an outage; a revocation stops it at once.
Every change is audited with the token's prefix, never its key.

Who: the system administrator (系统管理) for anyone's token; a provider's own staff (the
portal) for the tokens of their own provider. Tokens are issued only to provider users
(designated providers and the cross-region platform). Like every service, each joins the
caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .audit import audit
from .audit_actions import AuditAction
from .errors import DomainError, Forbidden
from .models import ApiToken
from .roles import Role, has_role

PREFIX_LENGTH = 8
# The portal warns when a token has fewer days left than this.
EXPIRY_WARNING_DAYS = 30


def new_key() -> str:
    return secrets.token_hex(20)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def token_row(*, user, key: str, created_by=None, now=None, expires_at=None) -> ApiToken:
    """The stored row for `key` (its digest and prefix), not yet saved."""
    now = now or timezone.now()
    return ApiToken(
        user=user, prefix=key[:PREFIX_LENGTH], digest=key_digest(key), created_at=now,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        expires_at=expires_at or now + timedelta(days=settings.API_TOKEN_LIFETIME_DAYS),
    )


# --- who may -------------------------------------------------------------------------------

def _identity(user):
    """The provider a user acts for: (provider id, cross-region platform), None without a link.
    (The provider staff link is pharmacies.ProviderStaff, read through its reverse accessor:
    core imports no app.)"""
    try:
        link = user.provider_staff
    except ObjectDoesNotExist:
        return None
    return (link.provider_id, link.cross_region_platform)


def _check_may_manage(*, actor, user) -> None:
    if getattr(actor, "pk", None) is None:
        raise Forbidden()
    if actor.pk == user.pk or has_role(actor, Role.ADMINISTRATOR):
        return
    identity = _identity(actor)
    if identity is None or identity != _identity(user):
        raise Forbidden(details={"user": user.get_username()})


def _details(token: ApiToken, **more) -> dict:
    return {"token": token.prefix, "token_id": token.pk, "expires_at": token.expires_at.isoformat(), **more}


# --- services ------------------------------------------------------------------------------

@transaction.atomic
def api_token_issue(*, user, actor, now=None) -> tuple[ApiToken, str]:
    """Issue a new token to a provider user; returns the row and the key (shown once)."""
    _check_may_manage(actor=actor, user=user)
    return _issue(user=user, actor=actor, now=now)


@transaction.atomic
def api_token_issue_by_command(*, user, command: str) -> tuple[ApiToken, str]:
    """The same, from a management command run by the operator (create_provider_user, the demo)."""
    return _issue(user=user, actor=None, now=None, command=command)


def usable_tokens(user, now=None):
    now = now or timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)


def _issue(*, user, actor, now, **more) -> tuple[ApiToken, str]:
    if _identity(user) is None:
        # API tokens are for the users of designated providers and of the cross-region platform.
        raise Forbidden(_("API tokens are issued only to the users of designated providers."),
                        code="not_provider_staff", details={"user": user.get_username()})
    # Serialise concurrent changes of one user's tokens.
    get_user_model().objects.select_for_update().get(pk=user.pk)
    key = new_key()
    token = token_row(user=user, key=key, created_by=actor, now=now)
    token.save()
    audit(actor=actor, action=AuditAction.API_TOKEN_CREATE, target=user, label=user.get_username(), **_details(token), **more)
    return token, key


def _locked_usable(token: ApiToken, now) -> ApiToken:
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if not token.is_usable(now):
        raise DomainError(_("The API token %(prefix)s… is already revoked or expired.") % {"prefix": token.prefix},
                          code="token_not_active", details={"token": token.prefix, "status": token.status(now)})
    return token


@transaction.atomic
def api_token_rotate(*, token: ApiToken, actor, reason: str = "", now=None) -> tuple[ApiToken, str]:
    """Issue a successor of `token`; `token` keeps working for API_TOKEN_ROTATION_OVERLAP_HOURS
    (never longer than it would have anyway). Returns the new row and its key (shown once)."""
    now = now or timezone.now()
    _check_may_manage(actor=actor, user=token.user)
    old = _locked_usable(token, now)
    key = new_key()
    new = token_row(user=old.user, key=key, created_by=actor, now=now)
    new.save()
    old.expires_at = min(old.expires_at, now + timedelta(hours=settings.API_TOKEN_ROTATION_OVERLAP_HOURS))
    old.replaced_by = new
    old.save(update_fields=["expires_at", "replaced_by"])
    audit(actor=actor, action=AuditAction.API_TOKEN_ROTATE, target=old.user, label=old.user.get_username(),
          **_details(new), previous=old.prefix, previous_expires_at=old.expires_at.isoformat(), reason=reason[:200])
    return new, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor, reason: str, now=None) -> ApiToken:
    """`token` stops working at once."""
    now = now or timezone.now()
    _check_may_manage(actor=actor, user=token.user)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for revoking the token."), code="invalid",
                          details={"reason": "required"})
    token = _locked_usable(token, now)
    token.revoked_at, token.revoked_by, token.revoke_reason = now, actor, reason[:200]
    token.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit(actor=actor, action=AuditAction.API_TOKEN_REVOKE, target=token.user, label=token.user.get_username(),
          **_details(token), reason=token.revoke_reason)
    return token


def api_tokens_revoke(*, user, actor=None, reason: str = "provider staff link changed") -> int:
    """Every working API token of `user` stops at once (a changed or removed provider staff
    link); returns how many. The caller audits the change that caused it."""
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor if getattr(actor, "pk", None) else None, revoke_reason=reason[:200]
    )


# --- authentication ------------------------------------------------------------------------

class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` against the stored digests. An unknown key, a revoked or an
    expired token and an inactive user are refused with 401 (each with its own code)."""

    def lookup(self, digest: str) -> ApiToken | None:
        return ApiToken.objects.select_related("user").filter(digest=digest).first()

    def authenticate_credentials(self, key):
        token = self.lookup(key_digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                _("This API token was revoked; ask for a new one in the provider portal."), code="token_revoked")
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                _("This API token has expired; issue a new one in the provider portal."), code="token_expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        touch(token, now)
        return token.user, token


def touch(token: ApiToken, now) -> None:
    """Record the token's use, at most once per API_TOKEN_LAST_USED_INTERVAL_SECONDS: the
    settlement path does not pay a write per request."""
    interval = timedelta(seconds=settings.API_TOKEN_LAST_USED_INTERVAL_SECONDS)
    if token.last_used_at is None or now - token.last_used_at >= interval:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
