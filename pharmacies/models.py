"""Designated providers (定点医药机构): institutions and retail pharmacies."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.exports import refuse_formula_names
from core.money import MoneyField, PercentField

# National codes: institutions H + 11 digits, pharmacies P + 11 digits.
provider_code_validator = RegexValidator(
    r"^[HP]\d{11}$", _("A provider code is H or P followed by 11 digits."), code="provider_code"
)


class ProviderQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Provider.Status.ACTIVE)


class Provider(models.Model):
    class Kind(models.TextChoices):
        INSTITUTION = "institution", _("designated medical institution")
        PHARMACY = "pharmacy", _("designated retail pharmacy")

    class Level(models.TextChoices):
        LEVEL_1 = "level_1", _("level 1 and below")
        LEVEL_2 = "level_2", _("level 2")
        LEVEL_3 = "level_3", _("level 3")
        PROVINCIAL_TERTIARY_A = "provincial_tertiary_a", _("provincial tertiary A")
        TOWNSHIP_HEALTH_CENTRE = "township_health_centre", _("township health centre")
        COMMUNITY_HEALTH_CENTRE = "community_health_centre", _("community health service centre")
        VILLAGE_CLINIC = "village_clinic", _("village clinic")
        INTERNET_HOSPITAL = "internet_hospital", _("internet hospital")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        TERMINATED = "terminated", _("terminated")
        # Its agreement ended and none replaced it (agreements_expire_due, the daily task): it
        # can no longer settle until a renewal comes into force.
        EXPIRED = "expired", _("agreement expired")

    code = models.CharField(_("national code"), max_length=12, unique=True, validators=[provider_code_validator])
    name = models.CharField(_("name"), max_length=200, db_index=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # Pharmacies have no level; an internet hospital follows its physical institution (Jinan (十二)).
    level = models.CharField(_("level"), max_length=32, choices=Level.choices, blank=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("physical institution"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="internet_hospitals",
    )
    outpatient_pooling = models.BooleanField(_("in outpatient pooling"), default=True)
    # Henan 第三章: outpatient pooling covers institutions 具有住院资格 (with inpatient beds) and
    # township and community health centres. Existing rows are taken to have beds; the agency
    # clears it for clinics without them.
    inpatient_beds = models.BooleanField(_("has inpatient beds (inpatient qualification)"), default=True, db_default=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    district = models.CharField(_("district"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()
    objects = ProviderQuerySet.as_manager()

    class Meta:
        verbose_name = _("designated provider")
        verbose_name_plural = _("designated providers")
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="institution", code__startswith="H") | Q(kind="pharmacy", code__startswith="P")),
                name="provider_code_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(level="internet_hospital", parent__isnull=False) | ~Q(level="internet_hospital"),
                name="provider_internet_hospital_has_parent",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def clean(self):
        refuse_formula_names(self, "name")

    @property
    def has_inpatient_beds(self) -> bool:
        """An internet hospital takes its physical institution's inpatient qualification."""
        if self.level == self.Level.INTERNET_HOSPITAL and self.parent_id:
            return self.parent.inpatient_beds
        return self.inpatient_beds

    @property
    def policy_level(self) -> str:
        """The level whose policy applies: an internet hospital takes its physical institution's."""
        if self.level == self.Level.INTERNET_HOSPITAL and self.parent_id:
            return self.parent.level
        return self.level


class ProviderStaff(models.Model):
    """Links a user to the one provider they act for (portal and API)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="provider_staff")
    provider = models.ForeignKey(Provider, verbose_name=_("provider"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    # The cross-region settlement platform (异地就医结算平台) has no local provider.
    cross_region_platform = models.BooleanField(_("cross-region settlement platform"), default=False)

    AGENCY_USER_MESSAGE = _(
        "A user who holds an agency role, a staff account or a superuser may never act for a provider."
    )

    class Meta:
        verbose_name = _("provider staff")
        verbose_name_plural = _("provider staff")
        constraints = [
            models.CheckConstraint(
                condition=Q(provider__isnull=False, cross_region_platform=False) | Q(provider__isnull=True, cross_region_platform=True),
                name="provider_staff_one_identity",
            ),
        ]

    def __str__(self):
        return f"{self.user} @ {self.provider or _('cross-region platform')}"

    def clean(self):
        # Ziyang 第十九条: agency duties and a provider's are never held by one person.
        from core.roles import holds_agency_role

        super().clean()
        if self.user_id and holds_agency_role(self.user):
            raise ValidationError({"user": self.AGENCY_USER_MESSAGE})


# ---------------------------------------------------------------------------
# Registration and agreement workflow (协议管理): application → review → decision →
# agreement → active registry row. State changes happen only in pharmacies/services.py.
# ---------------------------------------------------------------------------


def _document_storage():
    from .documents import document_storage

    return document_storage()


def application_document_path(instance, filename: str) -> str:
    # The client's file name is kept in `original_name`, never in the path: no traversal,
    # no clash, no personal data in file names.
    import uuid
    from pathlib import PurePath

    suffix = PurePath(filename).suffix.lower()[:8]
    return f"applications/{instance.application_id}/{uuid.uuid4().hex}{suffix}"


class Application(models.Model):
    """A request to become (or stay, or join outpatient pooling as) a designated provider."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        UNDER_REVIEW = "under_review", _("under review")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        SIGNED = "signed", _("agreement signed")
        ACTIVE = "active", _("active")

    # States in which an application is still open (one open application per provider code).
    OPEN_STATUSES = ("draft", "submitted", "under_review", "approved", "signed")

    # The registry row: set when the applicant is already designated, or on activation.
    provider = models.ForeignKey(
        Provider, verbose_name=_("designated provider"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="applications",
    )
    code = models.CharField(_("national code"), max_length=12, validators=[provider_code_validator])
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Provider.Kind.choices)
    level = models.CharField(_("level"), max_length=32, choices=Provider.Level.choices, blank=True)
    parent = models.ForeignKey(
        Provider, verbose_name=_("physical institution"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    district = models.CharField(_("district"), max_length=64, blank=True)
    outpatient_pooling = models.BooleanField(_("applies for outpatient pooling"), default=False)
    contact_name = models.CharField(_("contact person"), max_length=64, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("filed by"), on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reviewer"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    review_started_at = models.DateTimeField(_("review started at"), null=True, blank=True)
    inspected_on = models.DateField(_("site inspection date"), null=True, blank=True)
    inspection_notes = models.TextField(_("site inspection notes"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reasons for the decision"), blank=True)

    class Meta:
        verbose_name = _("designation application")
        verbose_name_plural = _("designation applications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open application per provider code: two parallel reviews could grant twice.
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(status__in=["draft", "submitted", "under_review", "approved", "signed"]),
                name="application_one_open_per_code",
            ),
            models.CheckConstraint(
                condition=(Q(kind="institution", code__startswith="H") | Q(kind="pharmacy", code__startswith="P")),
                name="application_code_matches_kind",
            ),
        ]
        indexes = [
            # The case workers' queue: applications waiting in a state, oldest first.
            models.Index(fields=["status", "created_at"], name="application_queue_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code}) #{self.pk}"

    @property
    def needs_admission_conditions(self) -> bool:
        # Ziyang 第十四条, Jinan (十): only a pharmacy joining outpatient pooling answers them.
        return self.kind == Provider.Kind.PHARMACY and self.outpatient_pooling

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class ApplicationDocument(models.Model):
    """An uploaded supporting document (licence, certificate, evidence of a condition)."""

    class Kind(models.TextChoices):
        PRACTISING_LICENCE = "practising_licence", _("medical institution practising licence")
        DRUG_TRADING_LICENCE = "drug_trading_licence", _("drug trading licence")
        BUSINESS_LICENCE = "business_licence", _("business licence")
        LEVEL_CERTIFICATE = "level_certificate", _("level certificate")
        CONDITION_EVIDENCE = "condition_evidence", _("evidence of an admission condition")
        OTHER = "other", _("other document")

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="documents",
    )
    kind = models.CharField(_("document kind"), max_length=32, choices=Kind.choices)
    file = models.FileField(
        _("file"), upload_to=application_document_path, storage=_document_storage, max_length=200
    )
    original_name = models.CharField(_("original file name"), max_length=200)
    # Sniffed from the file's first bytes, never taken from the browser's header.
    content_type = models.CharField(_("content type"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("application document")
        verbose_name_plural = _("application documents")
        ordering = ["application", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.original_name}"


class AdmissionCondition(models.Model):
    """One admission condition of a pharmacy joining outpatient pooling, with its evidence.

    Ziyang 第十四条 and Jinan (十): inventory system connected, electronic records and
    prescriptions, electronic drug traceability; Ziyang 第二十一条: prices within the
    provincial platform price.
    """

    class Condition(models.TextChoices):
        INVENTORY_CONNECTED = "inventory_connected", _("inventory system connected to the insurance information system")
        ELECTRONIC_RECORDS = "electronic_records", _("electronic medical records and electronic prescriptions supported")
        DRUG_TRACEABILITY = "drug_traceability", _("drugs electronically traceable")
        PLATFORM_PRICING = "platform_pricing", _("prices within the provincial platform price")

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="conditions",
    )
    condition = models.CharField(_("condition"), max_length=32, choices=Condition.choices)
    met = models.BooleanField(_("met"), null=True, blank=True)
    evidence_text = models.TextField(_("evidence"), blank=True)
    evidence_document = models.ForeignKey(
        ApplicationDocument, verbose_name=_("evidence document"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )

    class Meta:
        verbose_name = _("admission condition")
        verbose_name_plural = _("admission conditions")
        ordering = ["application", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["application", "condition"], name="admission_condition_once"),
        ]

    def __str__(self):
        return self.get_condition_display()

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence_text.strip()) or self.evidence_document_id is not None


class Agreement(models.Model):
    """The service agreement (协议) between the agency and a designated provider."""

    class PaymentMethod(models.TextChoices):
        PER_ITEM = "per_item", _("per item")
        CAPITATION = "capitation", _("capitation")
        PER_DISEASE = "per_disease", _("per disease")

    class Status(models.TextChoices):
        SIGNED = "signed", _("signed")
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        TERMINATED = "terminated", _("terminated")
        RENEWED = "renewed", _("renewed (replaced by a later agreement)")
        EXPIRED = "expired", _("expired (its period ended)")

    provider = models.ForeignKey(
        Provider, verbose_name=_("designated provider"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="agreements",
    )
    application = models.ForeignKey(
        Application, verbose_name=_("application"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="agreements",
    )
    previous = models.OneToOneField(
        "self", verbose_name=_("renews agreement"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="renewal",
    )
    period_from = models.DateField(_("valid from"))
    period_to = models.DateField(_("valid to"))
    payment_method = models.CharField(_("payment method"), max_length=16, choices=PaymentMethod.choices)
    outpatient_pooling = models.BooleanField(_("outpatient pooling"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SIGNED)
    status_reason = models.TextField(_("reason for the status"), blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("signed by"), on_delete=models.PROTECT, related_name="+",
    )
    signed_at = models.DateTimeField(_("signed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["-period_from", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(period_to__gte=models.F("period_from")), name="agreement_period_ordered"),
            # A provider has at most one agreement in force (active or suspended).
            models.UniqueConstraint(
                fields=["provider"], condition=Q(status__in=["active", "suspended"]),
                name="agreement_one_in_force_per_provider",
            ),
        ]

    def __str__(self):
        return f"{self.provider or self.application} {self.period_from}–{self.period_to}"


class PaymentTerms(models.Model):
    """An agreement's payment method(s) for one year, with the agency's parameters.

    Zaozhuang 第十六条, Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六): outpatient pooling is
    paid against a budget (门诊统筹基金总额预算), by capitation for primary care (按人头付费), by
    disease (按病种) for suitable chronic and special diseases, and per item for what cannot be
    bundled; Jinan (十六), Yangzhou 三(三): nationally negotiated drugs paid separately (单独支付,
    双通道) never count against the budget. Every amount and ratio here is the agency's data: the
    texts fix none. A provider without terms for a year is paid per item (the default). The
    calculator is claims/statements/payment_methods.py; close_month applies it.
    """

    agreement = models.ForeignKey(Agreement, verbose_name=_("agreement"), on_delete=models.PROTECT, related_name="payment_terms")
    year = models.PositiveSmallIntegerField(_("year"))
    # The methods: any combination; what none of them covers is paid per item.
    budget = models.BooleanField(_("global budget"), default=False)
    capitation = models.BooleanField(_("capitation"), default=False)
    per_disease = models.BooleanField(_("per disease"), default=False)
    # Budget (总额预算): the year's amount; the month's share is a twelfth, or the schedule's.
    budget_amount = MoneyField(_("yearly budget"), null=True, blank=True)
    # Twelve monthly shares (strings of yuan), January first; empty: a twelfth each month.
    budget_schedule = models.JSONField(_("monthly budget schedule"), default=list, blank=True)
    # The share of each month's budget payment withheld as a quality deposit (质量保证金).
    deposit_percent = PercentField(_("quality deposit withheld (%)"), default=0)
    # Year-end (年度清算): the share of an overrun the provider bears (the agency pays the rest),
    # and the share of an underrun the provider keeps.
    overrun_provider_percent = PercentField(_("overrun borne by the provider (%)"), default=100)
    underrun_retained_percent = PercentField(_("underrun kept by the provider (%)"), default=0)
    # The deposit returned at year end by the provider's credit grade: {"A": "100", "B": "80", …}
    # (Ziyang 第二十一条(二): assessment results tied to payment); a grade not listed gets none back.
    deposit_return_percent = models.JSONField(_("deposit returned by credit grade (%)"), default=dict, blank=True)
    # Capitation (按人头): per registered member and month.
    capitation_rate = MoneyField(_("capitation rate per member and month"), null=True, blank=True)
    # Per disease (按病种): {"disease code": "standard amount per case"}.
    disease_standards = models.JSONField(_("per-disease standards"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("payment terms")
        verbose_name_plural = _("payment terms")
        ordering = ["-year", "agreement"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "year"], name="payment_terms_unique_year"),
            models.CheckConstraint(condition=Q(deposit_percent__gte=0) & Q(deposit_percent__lte=100),
                                   name="payment_terms_deposit_percent"),
            models.CheckConstraint(condition=Q(overrun_provider_percent__gte=0) & Q(overrun_provider_percent__lte=100),
                                   name="payment_terms_overrun_percent"),
            models.CheckConstraint(condition=Q(underrun_retained_percent__gte=0) & Q(underrun_retained_percent__lte=100),
                                   name="payment_terms_underrun_percent"),
        ]

    def __str__(self):
        return f"{self.agreement_id} {self.year}"


# What a WorkflowTransition records (pharmacies/services: the `action` of each `_record`), in
# words: a page shows these, never the code.
TRANSITION_ACTIONS = {
    "create": _("created"), "submit": _("submitted"), "start_review": _("review started"),
    "record_inspection": _("inspection recorded"), "approve": _("approved"), "reject": _("rejected"),
    "sign": _("agreement signed"), "activate": _("agreement in force"), "activate_provider": _("provider put in force"),
    "replace": _("replaced by a new agreement"), "renew": _("renewed"), "expire": _("agreement expired"),
    "expire_provider": _("provider's agreement expired"), "suspend": _("suspended"), "reinstate": _("reinstated"),
    "terminate": _("terminated"),
}


class WorkflowTransition(models.Model):
    """History of every workflow transition: who, when, from which state to which, why."""

    application = models.ForeignKey(
        Application, verbose_name=_("application"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="transitions",
    )
    agreement = models.ForeignKey(
        Agreement, verbose_name=_("agreement"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="transitions",
    )
    provider = models.ForeignKey(
        Provider, verbose_name=_("designated provider"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="transitions",
    )
    action = models.CharField(_("action"), max_length=32)
    from_status = models.CharField(_("from state"), max_length=16, blank=True)
    to_status = models.CharField(_("to state"), max_length=16)
    # None: the system (a scheduled task, e.g. an agreement expiring at the end of its period).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("done by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("workflow transition")
        verbose_name_plural = _("workflow transitions")
        ordering = ["at", "pk"]

    def __str__(self):
        at = timezone.localtime(self.at)
        return f"{at:%Y-%m-%d %H:%M} {self.action_label}: {self.from_label} → {self.to_label}"

    @property
    def action_label(self):
        return TRANSITION_ACTIONS.get(self.action, self.action)

    def _label(self, value: str):
        model = Application if self.application_id else Agreement if self.agreement_id else Provider
        return dict(model.Status.choices).get(value, value)

    @property
    def from_label(self):
        return self._label(self.from_status) if self.from_status else ""

    @property
    def to_label(self):
        return self._label(self.to_status)


class NotificationQuerySet(models.QuerySet):
    def for_provider(self, provider):
        return self.filter(Q(provider=provider) | Q(application__provider=provider))


class Notification(models.Model):
    """A decision told to the provider's staff: shown in the portal and sent by e-mail."""

    provider = models.ForeignKey(
        Provider, verbose_name=_("designated provider"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )
    application = models.ForeignKey(
        Application, verbose_name=_("application"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    emailed_to = models.TextField(_("e-mailed to"), blank=True)
    # The portal page of what it is about (a flag, a statement): a path, "" when none.
    link = models.CharField(_("link"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.subject
