"""Admin for the pending large-amount second payments (Jinan (七)): a case worker proposes a
batch from a policy version (action on 区域政策版本), another approves it here."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import NoAddNoDeleteMixin
from core.admin_actions import apply_to_selected

from .models import SubsidyBatch, SubsidyPayment
from .subsidy_batches import subsidy_batch_approve, subsidy_batch_propose


@admin.action(description=_("Propose paying the pending second payments (Jinan (七))"), permissions=["change"])
def propose_pending_second_payments(modeladmin, request, queryset):
    batches = []
    apply_to_selected(
        modeladmin, request, queryset.order_by("pk"),
        lambda version: batches.append(subsidy_batch_propose(user=request.user, policy_version_id=version.pk)),
        done_message=lambda done: " ".join(
            _("Batch {batch}: {count} second payments, {total} in all, wait for another person's approval.").format(
                batch=batch.pk, count=batch.payment_count, total=f"{batch.total:.2f}")
            for batch in batches),
    )


class SubsidyPaymentInline(admin.TabularInline):
    model = SubsidyPayment
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("claim", "member", "base", "amount", "reverses")
    readonly_fields = fields


@admin.register(SubsidyBatch)
class SubsidyBatchAdmin(NoAddNoDeleteMixin, admin.ModelAdmin):
    list_display = ("pk", "policy_version", "ratio_percent", "status", "payment_count", "total", "proposed_by", "approved_by", "approved_at")
    list_filter = ("status",)
    readonly_fields = ("policy_version", "ratio_percent", "status", "payment_count", "total", "proposed_by", "proposed_at", "approved_by", "approved_at")
    fields = readonly_fields
    inlines = [SubsidyPaymentInline]
    actions = ["approve"]

    @admin.action(description=_("Approve the selected batches (not your own proposal)"), permissions=["change"])
    def approve(self, request, queryset):
        approved = []

        def approve_one(batch):
            subsidy_batch_approve(user=request.user, batch_id=batch.pk)
            approved.append(str(batch.pk))

        apply_to_selected(self, request, queryset.order_by("pk"), approve_one,
                          done_message=lambda done: _("Batch {batch} approved.").format(batch=", ".join(approved)))


def _add_propose_action():
    from .models import PolicyVersion

    policy_admin = admin.site._registry.get(PolicyVersion)
    if policy_admin is not None and propose_pending_second_payments not in (policy_admin.actions or []):
        policy_admin.actions = [*(policy_admin.actions or []), propose_pending_second_payments]


_add_propose_action()
