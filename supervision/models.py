"""Smart monitoring (智能监控): the knowledge base (知识库), the rule library (规则库), monitoring
runs, flags (疑点) with their review and appeal, member credit records and provider credit scores.

supervision reads claims and never writes into them: a confirmed amount reaches the provider's
statement through claims' own service (`claims.statements.services.deduction_record`).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import MoneyField

# ---------------------------------------------------------------------------------------
# Knowledge base: the national rule library batches, replaced whole on every import.


class RulebaseBatch(models.TextChoices):
    SEX_RESTRICTED = "1", _("batch 1: sex-restricted drugs")
    REPEATED_CHARGE = "7", _("batch 7: repeated charging")
    FREQUENCY_LIMIT = "8-1", _("batch 8-1: frequency limits")


class SexRestrictedDrug(models.Model):
    """Batch 1 (限定性别): a drug, by its national drug code, paid only for one sex."""

    drug_code = models.CharField(_("national drug code"), max_length=64, unique=True)
    generic_name = models.CharField(_("generic name"), max_length=200)
    sex = models.CharField(_("restricted to"), max_length=1, choices=[("M", _("male")), ("F", _("female"))])
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("sex-restricted drug")
        verbose_name_plural = _("knowledge base: sex-restricted drugs (batch 1)")

    def __str__(self):
        return f"{self.drug_code} {self.generic_name} ({self.sex})"


class RepeatedChargePair(models.Model):
    """Batch 7 (重复收费): the included item is not charged again with the main item in the period."""

    class Period(models.TextChoices):
        # Claims carry a visit date, not a time: the hour periods are checked within one visit.
        SAME_DAY = "单日", _("same day")
        SAME_VISIT = "单次就诊", _("same visit")
        SIX_HOURS = "6小时", _("six hours")
        SAME_HOUR = "同一小时", _("same hour")

    number = models.PositiveIntegerField(_("number"))
    period = models.CharField(_("period"), max_length=16, choices=Period.choices)
    main_code = models.CharField(_("main item code"), max_length=64, db_index=True)
    main_name = models.CharField(_("main item name"), max_length=200, blank=True)
    included_code = models.CharField(_("included item code"), max_length=64, db_index=True)
    included_name = models.CharField(_("included item name"), max_length=200, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("repeated-charge pair")
        verbose_name_plural = _("knowledge base: repeated charging (batch 7)")
        constraints = [
            # One pair per period: the rule joins on (main, included).
            models.UniqueConstraint(fields=["main_code", "included_code", "period"], name="repeated_charge_pair_unique"),
        ]

    def __str__(self):
        return f"{self.main_code} ⊃ {self.included_code} ({self.period})"


class FrequencyLimit(models.Model):
    """Batch 8-1 (限定频次): an item charged at most `max_count` times per unit."""

    class Unit(models.TextChoices):
        HOUR = "小时", _("hour")
        DAY = "日", _("day")
        DAY_ALT = "天", _("day (天)")

    number = models.PositiveIntegerField(_("number"))
    item_code = models.CharField(_("item code"), max_length=64, unique=True)
    item_name = models.CharField(_("item name"), max_length=200, blank=True)
    max_count = models.DecimalField(_("maximum count"), max_digits=10, decimal_places=2)
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices)

    class Meta:
        verbose_name = _("frequency limit")
        verbose_name_plural = _("knowledge base: frequency limits (batch 8-1)")

    def __str__(self):
        return f"{self.item_code} ≤ {self.max_count}/{self.unit}"


class SupplyStandard(models.Model):
    """Days' supply of a drug (用药天数): settlement lines carry a quantity, not days, so the days'
    supply is quantity ÷ daily quantity. Kept by the auditors (a local knowledge table)."""

    item_code = models.CharField(_("item code"), max_length=64, unique=True)
    daily_quantity = models.DecimalField(_("quantity per day"), max_digits=12, decimal_places=4)
    chronic = models.BooleanField(_("chronic-disease drug"), default=False)

    class Meta:
        verbose_name = _("days' supply standard")
        verbose_name_plural = _("knowledge base: days' supply standards")
        constraints = [
            models.CheckConstraint(condition=Q(daily_quantity__gt=0), name="supply_standard_positive"),
        ]

    def __str__(self):
        return f"{self.item_code} {self.daily_quantity}/day"


class RulebaseImport(models.Model):
    """One import of a batch: what replaced the batch, when and by whom."""

    batch = models.CharField(_("batch"), max_length=8, choices=RulebaseBatch.choices)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    rows = models.PositiveIntegerField(_("rows"))
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("rule library import")
        verbose_name_plural = _("rule library imports")
        ordering = ["-pk"]

    def __str__(self):
        return f"{self.get_batch_display()} {timezone.localtime(self.imported_at):%Y-%m-%d %H:%M}"


class KnowledgeBaseVersion(models.Model):
    """A single row whose token changes whenever the knowledge base or a rule changes: the
    settlement-time rules re-read their cached copy only when it differs (one query per visit)."""

    token = models.CharField(max_length=32, default="")

    class Meta:
        verbose_name = _("knowledge base version")
        verbose_name_plural = _("knowledge base version")

    def __str__(self):
        return self.token

    @classmethod
    def bump(cls) -> None:
        cls.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex})


# ---------------------------------------------------------------------------------------
# The rule library


class Rule(models.Model):
    """A monitoring rule's settings: the predicate is code (supervision.rules), these are data."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    description = models.TextField(_("description (Chinese)"))
    enabled = models.BooleanField(_("enabled"), default=True)
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("monitoring rule")
        verbose_name_plural = _("monitoring rules")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_from__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="rule_dates_ordered",
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)
        KnowledgeBaseVersion.bump()

    @property
    def title(self) -> str:
        """The rule's name: its Chinese description up to the explanation in brackets."""
        return (self.description or self.code).split("（")[0].strip() or self.code

    def clean(self):
        from django.core.exceptions import ValidationError

        from .rules import validate_parameters

        problems = validate_parameters(self.code, self.parameters)
        if problems:
            raise ValidationError({"parameters": problems})

    def in_force_on(self, day) -> bool:
        return self.enabled and (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day <= self.effective_to
        )


class MonitoringRun(models.Model):
    """One run of the rule set over a range of visit dates (nightly or on demand)."""

    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    rules_run = models.JSONField(_("rules run"), default=list)
    claims_checked = models.PositiveIntegerField(_("settlements checked"), default=0)
    flags_raised = models.PositiveIntegerField(_("flags raised"), default=0)
    # {rule code: {"seconds": float, "findings": int, "raised": int}}
    per_rule = models.JSONField(_("time and flags per rule"), default=dict)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("monitoring run")
        verbose_name_plural = _("monitoring runs")
        ordering = ["-pk"]

    def __str__(self):
        return f"{self.date_from}–{self.date_to}"


# ---------------------------------------------------------------------------------------
# Flags (疑点) and their review


class Flag(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("new")
        FIRST_REVIEWED = "first_reviewed", _("first review done")
        DISMISSED = "dismissed", _("dismissed")
        CONFIRMED = "confirmed", _("confirmed violation")
        APPEALED = "appealed", _("appealed")
        DEDUCTED = "deducted", _("deducted")

    rule = models.ForeignKey(Rule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="flags")
    # What the rule judged (a line, a claim, a member-day, a provider-month): never flagged twice.
    item_key = models.CharField(_("item"), max_length=120)
    day = models.DateField(_("date"))
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("provider"), null=True, blank=True, on_delete=models.PROTECT, related_name="flags"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), null=True, blank=True, on_delete=models.PROTECT, related_name="flags"
    )
    claim = models.ForeignKey(
        "claims.Claim", verbose_name=_("settlement"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    message = models.CharField(_("finding"), max_length=300)
    # {"claims": [...], "lines": [...], "parameters": {...}, ...}
    evidence = models.JSONField(_("evidence"), default=dict)
    amount_at_stake = MoneyField(_("amount at stake"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NEW)
    run = models.ForeignKey(MonitoringRun, verbose_name=_("run"), null=True, blank=True, on_delete=models.SET_NULL, related_name="flags")
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    first_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("first reviewer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_opinion = models.TextField(_("first review opinion"), blank=True)
    second_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("second reviewer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_amount = MoneyField(_("confirmed amount"), null=True, blank=True)
    confirmed_on = models.DateField(_("confirmed on"), null=True, blank=True)
    appeal_deadline = models.DateField(_("appeal deadline"), null=True, blank=True)
    appeal_reason = models.TextField(_("appeal reason"), blank=True)
    appeal_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("appeal decided by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    appeal_decision = models.TextField(_("appeal decision"), blank=True)
    deduction_reference = models.CharField(_("deduction"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("flag")
        verbose_name_plural = _("flags")
        ordering = ["-pk"]
        constraints = [
            # The same rule never flags the same item twice (re-runs and overlapping ranges).
            models.UniqueConstraint(fields=["rule", "item_key"], name="flag_unique_rule_item"),
            models.CheckConstraint(condition=Q(amount_at_stake__gte=0), name="flag_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(confirmed_amount__isnull=True) | Q(confirmed_amount__gte=0), name="flag_confirmed_not_negative"
            ),
        ]
        indexes = [
            # The review queue and the dashboard: flags by status and date.
            models.Index(fields=["status", "day"], name="flag_status_day_idx"),
            models.Index(fields=["provider", "status"], name="flag_provider_status_idx"),
        ]

    def __str__(self):
        # What people call it (breadcrumbs, titles, history): its number and the rule's name,
        # never the item key (a code such as line:120).
        return str(_("Flag %(number)s: %(rule)s") % {"number": self.pk, "rule": self.rule.title})


class FlagTransition(models.Model):
    """The flag's history: every step, who took it, and why."""

    flag = models.ForeignKey(Flag, verbose_name=_("flag"), on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(_("from"), max_length=16, blank=True)
    to_status = models.CharField(_("to"), max_length=16)
    action = models.CharField(_("action"), max_length=32)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("flag history entry")
        verbose_name_plural = _("flag history")
        ordering = ["flag", "pk"]

    def __str__(self):
        labels = dict(Flag.Status.choices)
        return f"{labels.get(self.from_status, self.from_status or '-')}→{labels.get(self.to_status, self.to_status)}"


class MemberCreditRecord(models.Model):
    """A member's credit record (信用记录) from a confirmed violation they were involved in."""

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="credit_records")
    flag = models.ForeignKey(Flag, verbose_name=_("flag"), on_delete=models.PROTECT, related_name="member_credit_records")
    day = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member credit record")
        verbose_name_plural = _("member credit records")
        constraints = [
            models.UniqueConstraint(fields=["member", "flag"], name="member_credit_record_unique"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.reason}"


class ProviderCreditScore(models.Model):
    """A provider's yearly credit score (信用评分), recomputed from confirmed violations and indicators."""

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="credit_scores")
    year = models.PositiveSmallIntegerField(_("year"))
    score = models.PositiveSmallIntegerField(_("score"))
    grade = models.CharField(_("grade"), max_length=2)
    details = models.JSONField(_("details"), default=dict)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("provider credit score")
        verbose_name_plural = _("provider credit scores")
        ordering = ["-year", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "year"], name="provider_credit_score_unique"),
        ]

    def __str__(self):
        return f"{self.provider_id} {self.year}: {self.score} ({self.grade})"
