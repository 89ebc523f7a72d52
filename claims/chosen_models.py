"""Members' chosen institutions (人员定点备案, the national interface's 2505/2506).

Jinan (四): until 2023-12-31 a member used outpatient pooling only at the designated
institutions they had chosen (定点, limited in number), with a deductible per institution;
from 2024-01 不受定点数量限制 and the deductible is combined. Whether a policy version requires
them, and how many a member may have, is the version's `chosen_institutions` parameter
(claims/policies/FORMAT.md). Changes go through claims/chosen_institutions.py.

The model lives in claims, not members: it names a provider (pharmacies) and its limit is a
region policy parameter (claims); members may import neither (README, Layout).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class ChosenInstitution(models.Model):
    """One member's chosen designated institution for outpatient pooling, effective-dated."""

    class Source(models.TextChoices):
        ADMIN = "admin", _("case worker")
        IMPORT = "import", _("import")
        GATEWAY = "gateway", _("national interface (2505)")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="chosen_institutions"
    )
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("designated institution"), on_delete=models.PROTECT, related_name="chosen_by"
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.ADMIN)
    # 2505 fix_srt_no (定点排序号) and biz_appy_type (业务申请类型), as the HIS sent them.
    sort_no = models.CharField(_("order number"), max_length=3, blank=True, default="")
    application_type = models.CharField(_("application type"), max_length=3, blank=True, default="")
    memo = models.CharField(_("memo"), max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("ended by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=500, blank=True, default="")
    # Cancelled before its first day (2506, or a change on that day): it never applied.
    cancelled = models.BooleanField(_("cancelled"), default=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("chosen institution")
        verbose_name_plural = _("chosen institutions")
        ordering = ["member", "valid_from", "pk"]
        indexes = [models.Index(fields=["member", "provider", "valid_from"], name="chosen_member_provider")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="chosen_institution_dates_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.member_id} · {self.provider_id} {self.valid_from}"

    @property
    def declaration_sn(self) -> str:
        """The 2505 answer's trt_dcla_detl_sn (待遇申报明细流水号), which 2506 names to cancel."""
        return f"DD{self.pk:012d}"
