"""Outpatient chronic and special diseases (门诊慢特病, 两病): the region's disease list, the
members' registrations (认定/备案), each member's yearly tally per disease or group, and the
chronic part of a settlement. Imported by claims/models.py (app label `claims`).

Services: claims/chronic.py. Policy format: claims/chronic_format.py (README, "Chronic and
special diseases").
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.idnumber import mask_id_number
from core.money import MoneyField
from core.regions import Region


class Disease(models.Model):
    """One disease of the region's list (Zaozhuang 第十二条, Jinan (六): the province's list;
    Ziyang 第十条: the list may grow)."""

    class Group(models.TextChoices):
        CHRONIC = "chronic", _("chronic disease")
        SPECIAL = "special", _("special disease")
        TWO_DISEASES = "two_diseases", _("hypertension and diabetes (two diseases)")

    region = models.CharField(_("region"), max_length=16, choices=Region.choices)
    code = models.CharField(_("disease code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    group = models.CharField(_("group"), max_length=16, choices=Group.choices)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("chronic or special disease")
        verbose_name_plural = _("chronic and special diseases")
        ordering = ["region", "group", "code"]
        constraints = [
            # A disease is found by (region, code) on every chronic settlement.
            models.UniqueConstraint(fields=["region", "code"], name="disease_unique_region_code"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class ChronicRegistrationQuerySet(models.QuerySet):
    def valid_on(self, day):
        """Approved registrations covering `day` (a revoked one never counts)."""
        return self.filter(status=ChronicRegistration.Status.APPROVED, valid_from__lte=day).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=day)
        )


class ChronicRegistration(models.Model):
    """A member's certified chronic or special disease (门诊慢特病认定/备案): proposed by one case
    worker, approved by another (imported ones come approved from the certifying system),
    revoked with a reason."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        APPROVED = "approved", _("approved")
        REVOKED = "revoked", _("revoked")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="chronic_registrations"
    )
    disease = models.ForeignKey(Disease, verbose_name=_("disease"), on_delete=models.PROTECT, related_name="registrations")
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    certified_by = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("certifying institution"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    # The one provider where the member must be treated for it (CONTRACT.md); blank: any.
    designated_provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("designated provider"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="chronic_patients",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROPOSED)
    imported = models.BooleanField(_("imported"), default=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("proposed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(_("proposed at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("revoked by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoke_reason = models.CharField(_("revoke reason"), max_length=300, blank=True)
    # Ziyang 第九条: a special-disease registration ends the member's 两病 registration.
    ended_by = models.ForeignKey(
        "self", verbose_name=_("ended by registration"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords()
    objects = ChronicRegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("chronic disease registration")
        verbose_name_plural = _("chronic disease registrations")
        ordering = ["-valid_from", "-pk"]
        constraints = [
            # The import's natural key: importing the same file twice changes nothing.
            models.UniqueConstraint(fields=["member", "disease", "valid_from"], name="chronic_registration_unique_start"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="chronic_registration_dates_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(status="revoked") | ~Q(revoke_reason=""), name="chronic_registration_revoked_has_reason",
            ),
        ]
        indexes = [
            # The portal: a designated provider's patients.
            models.Index(fields=["designated_provider", "status"], name="chronic_reg_provider_idx"),
        ]

    def __str__(self):
        return f"{mask_id_number(self.member.id_number) if self.member_id else ''} {self.disease_id}"

    def covers(self, day) -> bool:
        return (
            self.status == self.Status.APPROVED and self.valid_from <= day
            and (self.valid_to is None or self.valid_to >= day)
        )


class ChronicYear(models.Model):
    """A member's chronic/special tally for one year: per disease or per group, as the policy
    says (`tally`: "disease:<code>" or "group:<group>"). Locked by every chronic settlement
    (after the member's benefit year, before the paying account)."""

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="chronic_years")
    year = models.PositiveSmallIntegerField(_("year"))
    tally = models.CharField(_("tally"), max_length=48)
    deductible_met = MoneyField(_("deductible met"), default=0)
    fund_paid = MoneyField(_("fund paid"), default=0)
    limit = MoneyField(_("yearly limit"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("chronic disease year")
        verbose_name_plural = _("chronic disease years")
        constraints = [
            # One row per member, year and tally: the row a chronic settlement locks.
            models.UniqueConstraint(fields=["member", "year", "tally"], name="chronic_year_unique"),
            models.CheckConstraint(condition=Q(fund_paid__gte=0) & Q(deductible_met__gte=0), name="chronic_year_not_negative"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.year} {self.tally}"

    @property
    def limit_remaining(self):
        if self.limit is None:
            return None
        return max(self.limit - self.fund_paid, 0)


class ChronicClaim(models.Model):
    """The chronic part of a settlement with benefit chronic_special: which disease and
    registration, which tally it used (a reversal gives the amounts back to it)."""

    claim = models.OneToOneField("claims.Claim", verbose_name=_("settlement"), primary_key=True, on_delete=models.PROTECT, related_name="chronic")
    disease = models.ForeignKey(Disease, verbose_name=_("disease"), on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(ChronicRegistration, verbose_name=_("registration"), on_delete=models.PROTECT, related_name="claims")
    tally = models.ForeignKey(ChronicYear, verbose_name=_("tally"), on_delete=models.PROTECT, related_name="claims")
    out_of_scope = MoneyField(_("outside the disease's scope"), default=0)
    # Jinan (七): the outpatient-pooling version whose large-amount rule (threshold, ratio) the
    # visit used; its subsidy batch pays the claim's pending second payment.
    large_expense_policy_version = models.ForeignKey(
        "claims.PolicyVersion", verbose_name=_("large-amount subsidy policy version"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("chronic disease settlement")
        verbose_name_plural = _("chronic disease settlements")

    def __str__(self):
        return f"{self.claim_id} {self.disease_id}"
