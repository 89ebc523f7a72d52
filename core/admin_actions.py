"""The admin's "apply a service to each selected row" loop, in one place."""

from collections.abc import Callable, Iterable

from django.contrib import messages
from django.utils.translation import gettext as _

from .errors import DomainError


def apply_to_selected(modeladmin, request, objects: Iterable, call: Callable, *,
                      done_message: str | Callable[[int], str]) -> int:
    """Call `call(obj)` for each selected object (in the admin request's transaction, each call
    a savepoint of its own: a refusal undoes only that object). Reports every refusal with the
    object and its reason, success only for what was done, and says so when nothing was.
    Returns how many were done."""
    done = refused = 0
    for obj in objects:
        try:
            call(obj)
        except DomainError as error:
            refused += 1
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
        else:
            done += 1
    if done:
        text = done_message(done) if callable(done_message) else done_message % {"count": done}
        modeladmin.message_user(request, text, messages.SUCCESS)
    elif not refused:
        modeladmin.message_user(request, _("Nothing was changed."), messages.WARNING)
    return done


def role_permission(*roles, model_permission: str = "view"):
    """A ModelAdmin `has_<name>_permission` method for `@admin.action(permissions=[name])` (and a
    ModelAdmin's own views): the user holds one of `roles` (core/roles.py, the same check the
    service makes; a superuser holds every role) and has `model_permission` on the model. An
    action the service would refuse is then not offered, and a POST of it is answered as Django
    answers an unknown action: nothing is done. The roles are looked up once per request."""
    from .roles import has_role

    def has_permission(modeladmin, request, obj=None) -> bool:
        held = request.__dict__.setdefault("_held_roles", {})
        for role in roles:
            if role not in held:
                held[role] = has_role(request.user, role)
        if not any(held[role] for role in roles):
            return False
        return getattr(modeladmin, f"has_{model_permission}_permission")(request)

    has_permission.roles = roles
    return has_permission
