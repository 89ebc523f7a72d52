"""One approval and payment flow for what finance approves and pays: the monthly statements
(services.py) and the year-end settlements (year_end.py).

draft → approved: finance, never the person who prepared it (Ziyang 第十九条: handling and
approval are incompatible duties; prepared by the scheduled task, no user: any finance officer);
approved → paid: finance, never the person who approved it (Ziyang 第十九条: 会计 and 出纳 differ),
with the bank's payment reference. Each step locks the row and joins the caller's transaction;
the caller audits it with its own AuditAction member (tests/core/test_audit_actions.py reads each
audit call's action from the source) and notifies the provider. Each document names its own
refusals (codes, messages, the id's key in the details).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, DutyConflict, NotFound
from core.roles import Role, ensure_separated, require_role


@dataclass(frozen=True)
class Refusal:
    message: str
    code: str


@dataclass(frozen=True)
class FinanceFlow:
    model: type[models.Model]  # with status (DRAFT, APPROVED, PAID), approved_*, paid_*, payment_reference
    id_key: str  # the id's key in a refusal's details: "statement_id", "year_end_id"
    preparer_field: str  # who prepared it (None: the scheduled task): "generated_by_id", "prepared_by_id"
    not_found: Refusal
    not_draft: Refusal
    not_approved: Refusal

    def lock(self, pk: int):
        row = self.model.objects.select_for_update(of=("self",)).filter(pk=pk).first()
        if row is None:
            raise NotFound(self.not_found.message, code=self.not_found.code, details={self.id_key: pk})
        return row

    def approve(self, *, pk: int, user):
        require_role(user, Role.FINANCE)
        row = self.lock(pk)
        preparer = getattr(row, self.preparer_field)
        if preparer is not None:
            ensure_separated(proposer=preparer, approver=user)
        if row.status != self.model.Status.DRAFT:
            raise Conflict(self.not_draft.message, code=self.not_draft.code, details={self.id_key: row.pk, "status": row.status})
        row.status = self.model.Status.APPROVED
        row.approved_at = timezone.now()
        row.approved_by = user
        row.save(update_fields=["status", "approved_at", "approved_by"])
        return row

    def record_payment(self, *, pk: int, payment_reference: str, user):
        require_role(user, Role.FINANCE)
        payment_reference = (payment_reference or "").strip()
        if not payment_reference:
            raise DomainError(_("Enter the payment reference."), code="invalid", details={"payment_reference": ""})
        row = self.lock(pk)
        if row.status != self.model.Status.APPROVED:
            raise Conflict(self.not_approved.message, code=self.not_approved.code,
                           details={self.id_key: row.pk, "status": row.status})
        # Ziyang 第十九条: accounting and cashier are incompatible duties (会计 and 出纳 differ): the
        # finance officer who approved it never records its payment.
        if row.approved_by_id == user.pk:
            raise DutyConflict(
                _("The person who approved the statement may not also record its payment."),
                details={self.id_key: row.pk, "approved_by": row.approved_by_id},
            )
        row.status = self.model.Status.PAID
        row.paid_at = timezone.now()
        row.paid_by = user
        row.payment_reference = payment_reference[:100]
        row.save(update_fields=["status", "paid_at", "paid_by", "payment_reference"])
        return row
