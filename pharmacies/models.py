"""Designated providers (定点医药机构): institutions and retail pharmacies."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

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
