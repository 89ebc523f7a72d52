"""The catalog (医保目录) and, later, region policies and settlements."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.money import MoneyField, PercentField


class CatalogItem(models.Model):
    class Kind(models.TextChoices):
        DRUG = "drug", _("drug")
        SERVICE = "service", _("medical service")
        CONSUMABLE = "consumable", _("medical consumable")

    class ItemClass(models.TextChoices):
        A = "A", _("class A")
        B = "B", _("class B")
        C = "C", _("class C (fully self-paid)")

    class Sex(models.TextChoices):
        ANY = "", _("any")
        MALE = "M", _("male only")
        FEMALE = "F", _("female only")

    code = models.CharField(_("national code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, db_index=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    item_class = models.CharField(_("class"), max_length=1, choices=ItemClass.choices)
    prepay_percent = PercentField(_("class-B prepay percent"), null=True, blank=True)
    # Price cap: any unit price above it is over-limit self-pay (超限价自费).
    payment_standard = MoneyField(_("payment standard"), null=True, blank=True)
    # The listed price used when a provider omits unit_price.
    list_price = MoneyField(_("listed price"), null=True, blank=True)
    # Provincial platform listing price (挂网价格), for the price monitoring rule.
    platform_price = MoneyField(_("platform price"), null=True, blank=True)
    sex = models.CharField(_("sex restriction"), max_length=1, choices=Sex.choices, blank=True, default="")
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("catalog item")
        verbose_name_plural = _("catalog")
        constraints = [
            # Only class B has a prepay share, and it is a percentage.
            models.CheckConstraint(
                condition=Q(prepay_percent__isnull=True) | (Q(item_class="B") & Q(prepay_percent__gte=0) & Q(prepay_percent__lte=100)),
                name="catalog_prepay_only_class_b",
            ),
            models.CheckConstraint(
                condition=Q(min_age__isnull=True) | Q(max_age__isnull=True) | Q(min_age__lte=models.F("max_age")),
                name="catalog_age_range_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"
