"""Providers' API tokens (portal)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from core.audit_actions import AuditAction
from core.audit import audit
from core.errors import Forbidden
from core.roles import Role, require_role

from ..access import staff_link


def _check_token_owner(*, user, actor):
    if actor.pk != user.pk:
        require_role(actor, Role.ADMINISTRATOR)
    if staff_link(user) is None:
        # API tokens are for the users of designated providers and of the cross-region platform.
        raise Forbidden(details={"user": "not_provider_staff"})
    # Serialise concurrent rotations of one user's token.
    get_user_model().objects.select_for_update().get(pk=user.pk)


@transaction.atomic
def api_token_create(*, user, actor) -> Token:
    """Give a provider user an API token; the existing one if it has one."""
    _check_token_owner(user=user, actor=actor)
    token, created = Token.objects.get_or_create(user=user)
    if created:
        audit(actor=actor, action=AuditAction.API_TOKEN_CREATE, target=user, label=user.get_username())
    return token


@transaction.atomic
def api_token_rotate(*, user, actor) -> Token:
    """Replace a provider user's API token; the old one stops working at once."""
    _check_token_owner(user=user, actor=actor)
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit(actor=actor, action=AuditAction.API_TOKEN_ROTATE, target=user, label=user.get_username())
    return token
