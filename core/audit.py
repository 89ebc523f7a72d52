"""Audit trail for service actions and sensitive reads (who, when, what)."""

from django.db import models

from .audit_actions import AuditAction
from .models import AuditEvent
from .sql import insert


def audit(*, actor, action: AuditAction, target: models.Model | None = None, label: str = "", **details):
    """Record one audit event in the caller's transaction. Never put a full ID number in `details`."""
    event = AuditEvent(
        actor=actor if getattr(actor, "pk", None) else None,
        action=str(action),
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(label or (str(target) if target is not None else ""))[:200],
        details=details,
    )
    # One fixed INSERT (core.sql): every settlement writes an audit event.
    insert([event])
    return event
