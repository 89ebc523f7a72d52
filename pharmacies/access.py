"""Who acts for which provider: a provider user acts only as itself."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from core.errors import Forbidden
from core.roles import STAFF_ROLES, Role, has_role

from .models import Provider, ProviderStaff


def staff_link(user) -> ProviderStaff | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.provider_staff
    except ProviderStaff.DoesNotExist:
        return None


def provider_of(user) -> Provider | None:
    link = staff_link(user)
    return link.provider if link else None


def is_agency_staff(user) -> bool:
    return any(has_role(user, role) for role in STAFF_ROLES)


# What a suspended or terminated provider may still do through the API: read its own registry
# record and reconcile (对账) its past months; its settlement requests reach the service, which
# refuses them with `provider_suspended` (and still answers a repeat with the first response).
# Everything else (members, benefits, personal accounts, reversals) is refused with
# `provider_not_active`. A view opts in with `allow_inactive_provider = True`.


def provider_is_active(link: ProviderStaff) -> bool:
    return link.provider_id is None or link.provider.status == Provider.Status.ACTIVE


def _check_provider_status(link: ProviderStaff, view) -> None:
    if not provider_is_active(link) and not getattr(view, "allow_inactive_provider", False):
        raise Forbidden(
            _("The provider's agreement is suspended or terminated: only its own statements, "
              "reconciliations, flags and appeals remain available."),
            code="provider_not_active",
            details={"provider": link.provider.code, "status": link.provider.status},
        )


class IsProviderUser(BasePermission):
    """The caller is the API user of a designated provider or of the cross-region platform."""

    message = _("Only a designated provider or the cross-region settlement platform may call this.")

    def has_permission(self, request, view):
        link = staff_link(request.user)
        if link is None:
            return False
        _check_provider_status(link, view)
        return True


class IsSettlingProvider(IsProviderUser):
    """Settlement (preview, settle): a provider's system. Agency staff never settle: refused
    with their own code, `agency_staff_not_provider`."""

    def has_permission(self, request, view):
        if staff_link(request.user) is None and is_agency_staff(request.user):
            raise Forbidden(
                _("Agency staff never act as a provider: settlements come from providers' systems only."),
                code="agency_staff_not_provider",
            )
        return super().has_permission(request, view)


class IsProviderOrAgencyStaff(BasePermission):
    message = _("You may not access this.")

    def has_permission(self, request, view):
        link = staff_link(request.user)
        if link is not None:
            _check_provider_status(link, view)
            return True
        return is_agency_staff(request.user)


class IsAgencyStaff(BasePermission):
    """The agency's own staff (经办, 稽核, 财务, 系统管理); never a provider's user."""

    message = _("Only the agency's staff may read other providers' records.")

    def has_permission(self, request, view):
        return staff_link(request.user) is None and is_agency_staff(request.user)


def roles_of(user) -> set[str]:
    """The role names a saved user holds: its groups, and 定点机构 when linked to a provider."""
    if not getattr(user, "pk", None):
        return set()
    names = set(user.groups.values_list("name", flat=True))
    if ProviderStaff.objects.filter(user_id=user.pk).exists():
        names.add(Role.PROVIDER.value)
    return names
