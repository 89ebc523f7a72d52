"""Roles (groups) with separated duties: 经办 / 稽核 / 财务 / 系统管理 / 定点机构.

The groups and their permissions are data: `sync_roles` is run by a data migration
(core 0002) and again after every `migrate` so that models added later get their
permissions too. Ziyang 第十九条: handling and audit, accounting and cashier,
business and finance are incompatible duties and are kept apart.
"""

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from .errors import DutyConflict, Forbidden


class Role(StrEnum):
    CASE_WORKER = "经办"
    AUDITOR = "稽核"
    FINANCE = "财务"
    ADMINISTRATOR = "系统管理"
    PROVIDER = "定点机构"


# (app_label, model or "*", actions) per role. Actions are Django's view/add/change/delete
# plus any custom permission codename given in full. A rule naming a model replaces the
# app's "*" rule for that model. History tables (simple-history) are only ever viewed.
ROLE_PERMISSIONS: dict[Role, list[tuple[str, str, tuple[str, ...]]]] = {
    Role.CASE_WORKER: [
        ("members", "*", ("view", "add", "change")),
        # Enrollment spells are added, never edited; a family link is added or removed.
        ("members", "enrollment", ("view", "add")),
        ("members", "familylink", ("view", "add", "delete")),
        ("pharmacies", "*", ("view", "add", "change")),
        # Provider staff links belong to 系统管理 (a case worker linking themselves to a
        # provider could settle as it).
        ("pharmacies", "providerstaff", ("view",)),
        ("claims", "*", ("view", "add", "change")),
        ("supervision", "*", ("view",)),
        ("core", "auditevent", ("view",)),
        # The national-interface message log, for a disputed transaction.
        ("gateway", "*", ("view",)),
    ],
    Role.AUDITOR: [
        ("members", "*", ("view",)),
        ("pharmacies", "*", ("view",)),
        ("claims", "*", ("view",)),
        ("supervision", "*", ("view", "add", "change")),
        ("core", "auditevent", ("view",)),
        ("gateway", "*", ("view",)),
    ],
    Role.FINANCE: [
        ("members", "*", ("view",)),
        ("pharmacies", "*", ("view",)),
        # Finance approves and pays the monthly statements; settlements, their reversal, the
        # catalog and the region policies are the case workers' (Ziyang 第十九条: business and
        # finance are incompatible duties).
        ("claims", "*", ("view",)),
        ("claims", "providerstatement", ("view", "change")),
        # … and prepares, approves and pays the year-end settlements (年度清算).
        ("claims", "yearendsettlement", ("view", "change")),
        ("supervision", "*", ("view",)),
        ("core", "auditevent", ("view",)),
    ],
    Role.ADMINISTRATOR: [
        ("auth", "*", ("view", "add", "change")),
        # The groups are the roles, kept as data (ROLE_PERMISSIONS): never edited in the admin.
        ("auth", "group", ("view",)),
        # API tokens: issued, rotated and revoked through core.tokens (the admin's own views).
        ("core", "apitoken", ("view", "add", "change")),
        ("django_celery_beat", "*", ("view", "add", "change", "delete")),
        ("core", "*", ("view",)),
        # Resetting a second factor: proposed by one administrator, approved by another (core.otp).
        ("core", "secondfactorreset", ("view", "add", "change")),
        ("members", "*", ("view",)),
        ("pharmacies", "*", ("view",)),
        ("pharmacies", "providerstaff", ("view", "add", "change", "delete")),
        ("claims", "*", ("view",)),
        ("supervision", "*", ("view",)),
    ],
    Role.PROVIDER: [],  # provider staff use the portal and the API, never the admin
}

# Staff roles reach the admin; provider staff do not.
STAFF_ROLES = {Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR}


def sync_roles(apps=None) -> None:
    """Create the role groups and set their permissions (idempotent)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.values_list("pk", "codename", "content_type__app_label", "content_type__model")
    )
    for role, rules in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        group.permissions.set(sorted(_permission_ids(rules, permissions)))


def _permission_ids(rules, permissions) -> set[int]:
    by_model = {(app, model): set(actions) for app, model, actions in rules if model != "*"}
    by_app = {app: set(actions) for app, model, actions in rules if model == "*"}
    wanted = set()
    for pk, codename, app_label, model in permissions:
        actions = by_model.get((app_label, model), by_app.get(app_label))
        if actions is None:
            continue
        action = codename.split("_", 1)[0]
        if model.startswith("historical") and action != "view":
            continue
        if action in actions or codename in actions:
            wanted.add(pk)
    return wanted


def has_role(user, role: Role) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    if user.groups.filter(name=role.value).exists():
        return True
    # 定点机构 is also held by the link to a provider, as the user form and roles_of count it: a
    # linked user whose group was unticked in the user admin is still that provider's staff (the
    # portal opens to the link), so its services must not refuse what its pages offer. No import
    # of pharmacies (core is below it): the link is the user's reverse one-to-one.
    return role == Role.PROVIDER and hasattr(user, "provider_staff")


def require_role(user, *roles: Role) -> None:
    """Refuse unless the user holds one of `roles`."""
    if not any(has_role(user, role) for role in roles):
        raise Forbidden(
            details={"required_roles": [role.value for role in roles]},
        )


def ensure_separated(*, proposer, approver) -> None:
    """The person who proposes (or reviews) a decision is never the one who approves it."""
    if proposer is None or approver is None:
        raise DutyConflict()
    if getattr(proposer, "pk", proposer) == getattr(approver, "pk", approver):
        raise DutyConflict()


# Ziyang 第十九条 (不相容岗位分离): handling and audit, accounting and cashier, business and
# finance, and administering the system and doing its business are incompatible duties; a
# provider's staff never hold an agency duty. Every pair of roles below is therefore refused on
# one person, with the reason shown to the administrator.
INCOMPATIBLE_ROLES: dict[frozenset[Role], str] = {
    frozenset({Role.CASE_WORKER, Role.AUDITOR}): "handling_and_audit",
    frozenset({Role.CASE_WORKER, Role.FINANCE}): "business_and_finance",
    frozenset({Role.AUDITOR, Role.FINANCE}): "audit_and_finance",
    frozenset({Role.ADMINISTRATOR, Role.CASE_WORKER}): "administration_and_business",
    frozenset({Role.ADMINISTRATOR, Role.AUDITOR}): "administration_and_business",
    frozenset({Role.ADMINISTRATOR, Role.FINANCE}): "administration_and_business",
    **{
        frozenset({Role.PROVIDER, role}): "provider_and_agency"
        for role in STAFF_ROLES
    },
}


def role_conflicts(roles) -> list[tuple[str, str, str]]:
    """The incompatible pairs among `roles` (Role members or group names): (role, role, reason)."""
    held = sorted({Role(str(role)) for role in roles if str(role) in Role._value2member_map_})
    conflicts = []
    for i, first in enumerate(held):
        for second in held[i + 1:]:
            reason = INCOMPATIBLE_ROLES.get(frozenset({first, second}))
            if reason:
                conflicts.append((first.value, second.value, reason))
    return conflicts


def ensure_compatible_roles(roles, *, user=None) -> None:
    """Refuse a set of roles that one person may not hold together (Ziyang 第十九条)."""
    conflicts = role_conflicts(roles)
    if conflicts:
        first, second, reason = conflicts[0]
        raise DutyConflict(
            _("The roles %(first)s and %(second)s are incompatible duties and may not be held by one person.")
            % {"first": first, "second": second},
            code="incompatible_roles",
            details={
                "user": getattr(user, "pk", None),
                "roles": [first, second],
                "reason": reason,
            },
        )


def holds_agency_role(user) -> bool:
    """Superusers, staff accounts and every holder of an agency role (经办 稽核 财务 系统管理)."""
    if not getattr(user, "pk", None):
        return False
    if user.is_superuser or user.is_staff:
        return True
    return user.groups.filter(name__in=[role.value for role in STAFF_ROLES]).exists()
