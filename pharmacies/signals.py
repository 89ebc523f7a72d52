"""Guards that hold whichever code path changes a user's roles or provider link.

Ziyang 第十九条 (不相容岗位分离): incompatible roles are never held by one person, and a user
who holds an agency role (or is a staff account or superuser) is never a provider's staff.
The admin forms and the services check first and answer with a message; these guards make
any other path (a shell, a command, a script) fail instead of writing.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, pre_save
from django.dispatch import receiver

from core.roles import Role, ensure_compatible_roles, holds_agency_role

from .access import roles_of
from .models import ProviderStaff

User = get_user_model()


@receiver(m2m_changed, sender=User.groups.through)
def _refuse_incompatible_groups(sender, instance, action, reverse, pk_set, **kwargs):
    if action != "pre_add" or not pk_set:
        return
    if not reverse:
        added = set(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        ensure_compatible_roles(roles_of(instance) | added, user=instance)
    else:  # group.user_set.add(users)
        for user in User.objects.filter(pk__in=pk_set):
            ensure_compatible_roles(roles_of(user) | {instance.name}, user=user)


@receiver(pre_save, sender=ProviderStaff)
def _refuse_agency_user_as_provider_staff(sender, instance, raw=False, **kwargs):
    if raw:
        return
    from core.errors import DutyConflict

    user = User.objects.filter(pk=instance.user_id).first()
    if user is not None and holds_agency_role(user):
        raise DutyConflict(
            ProviderStaff.AGENCY_USER_MESSAGE,
            code="agency_user_not_provider_staff",
            details={"user": user.pk, "roles": sorted(roles_of(user) - {Role.PROVIDER.value})},
        )
