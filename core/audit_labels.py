"""The audit trail as people read it: each action's words and each target's kind.

Actions stay stored as their stable codes (searchable, the same in every language); the
admin shows their labels, which live with the actions in core.audit_actions. An action missing
there shows its code, and the page test (tests/i18n) finds it.
"""

from django.apps import apps

from .audit_actions import AuditAction

# The labels live with the actions (core.audit_actions); this map is what the admin reads.
ACTION_LABELS = {action.value: action.label for action in AuditAction}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def target_type_label(target_type: str) -> str:
    """"claims.claim" → 结算 (the model's verbose name); anything else as it is."""
    if not target_type:
        return ""
    try:
        return str(apps.get_model(target_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return target_type
