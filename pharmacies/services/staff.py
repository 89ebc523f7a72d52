"""Who acts for which provider (provider staff links): 系统管理 only.

A case worker who could link themselves to a hospital could settle as it; a provider's API
user relinked to another provider would settle as that one. So a link is created, changed or
removed only by the system administrator (系统管理), through these services, never for a user
who holds an agency role (Ziyang 第十九条: 不相容岗位分离), and a changed link revokes the
user's API tokens: a token never outlives the provider it was issued for.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError, DutyConflict
from core.roles import Role, holds_agency_role, require_role

from ..access import roles_of
from ..models import Provider, ProviderStaff


def _revoke_tokens(user, actor) -> int:
    from core.tokens import api_tokens_revoke

    return api_tokens_revoke(user=user, actor=actor)


@transaction.atomic
def provider_staff_link(*, actor, user, provider: Provider | None = None,
                        cross_region_platform: bool = False) -> ProviderStaff:
    """Link `user` to `provider` (or to the cross-region platform); relink an existing link."""
    require_role(actor, Role.ADMINISTRATOR)
    return _link(actor=actor, user=user, provider=provider, cross_region_platform=cross_region_platform)


@transaction.atomic
def provider_staff_link_by_command(*, user, provider: Provider | None = None, cross_region_platform: bool = False,
                                   command: str) -> ProviderStaff:
    """The operator's command line (`create_provider_user`): the same link, with no acting user
    (whoever runs manage.py holds the database already); the audit event names the command."""
    return _link(actor=None, user=user, provider=provider, cross_region_platform=cross_region_platform, command=command)


def _link(*, actor, user, provider, cross_region_platform, command=None) -> ProviderStaff:
    if (provider is None) == (not cross_region_platform):
        raise DomainError(_("Choose either a provider or the cross-region platform."),
                          code="invalid", details={"provider": getattr(provider, "code", None)})
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if holds_agency_role(user):
        raise DutyConflict(ProviderStaff.AGENCY_USER_MESSAGE, code="agency_user_not_provider_staff",
                           details={"user": user.pk, "roles": sorted(roles_of(user) - {Role.PROVIDER.value})})
    link = ProviderStaff.objects.filter(user=user).first()
    before = None
    if link is None:
        link = ProviderStaff(user=user)
    else:
        before = link.provider.code if link.provider_id else "cross_region"
    link.provider = provider
    link.cross_region_platform = cross_region_platform
    after = provider.code if provider else "cross_region"
    if before == after:
        return link
    link.save()
    user.groups.add(Group.objects.get(name=Role.PROVIDER.value))
    revoked = _revoke_tokens(user, actor) if before is not None else 0
    extra = {"command": command} if command else {}
    audit(actor=actor, action=AuditAction.PROVIDER_STAFF_LINK, target=user, label=user.get_username(),
          provider=after, previous=before, tokens_revoked=revoked, **extra)
    return link


@transaction.atomic
def provider_staff_unlink(*, actor, link: ProviderStaff) -> None:
    """Remove a provider staff link; the user's API tokens stop working at once."""
    require_role(actor, Role.ADMINISTRATOR)
    # of=self: PostgreSQL locks no row of the outer-joined (nullable) provider.
    link = ProviderStaff.objects.select_for_update(of=("self",)).select_related("user", "provider").get(pk=link.pk)
    user = link.user
    before = link.provider.code if link.provider_id else "cross_region"
    link.delete()
    user.groups.remove(*Group.objects.filter(name=Role.PROVIDER.value))
    revoked = _revoke_tokens(user, actor)
    audit(actor=actor, action=AuditAction.PROVIDER_STAFF_UNLINK, target=user, label=user.get_username(),
          previous=before, tokens_revoked=revoked)
