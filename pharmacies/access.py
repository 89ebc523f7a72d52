"""Who acts for which provider: a provider user acts only as itself."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from core.roles import STAFF_ROLES, has_role

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


class IsProviderUser(BasePermission):
    """The caller is the API user of a designated provider or of the cross-region platform."""

    message = _("Only a designated provider or the cross-region settlement platform may call this.")

    def has_permission(self, request, view):
        return staff_link(request.user) is not None


class IsProviderOrAgencyStaff(BasePermission):
    message = _("You may not access this.")

    def has_permission(self, request, view):
        return staff_link(request.user) is not None or is_agency_staff(request.user)


class IsAgencyStaff(BasePermission):
    """The agency's own staff (经办, 稽核, 财务, 系统管理); never a provider's user."""

    message = _("Only the agency's staff may read other providers' records.")

    def has_permission(self, request, view):
        return staff_link(request.user) is None and is_agency_staff(request.user)
