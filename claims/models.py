"""The catalog (医保目录) and, later, region policies and settlements."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.exports import refuse_formula_names
from core.formats import month_label
from core.money import MoneyField, PercentField
from core.regions import Region

from .funds import funds_total


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
    # Zaozhuang 第八条, Ziyang 第六条, Yangzhou 二(三)2, Jinan (十五): the personal account may not
    # pay public-health, fitness or health-care products; such items are paid in cash.
    account_payable = models.BooleanField(_("payable by the personal account"), default=True, db_default=True)
    # Jinan (十六), Yangzhou 三(三): a nationally negotiated drug paid separately (单独支付, 双通道):
    # for a provider paid by budget, capitation or disease, the funds' share of its lines is a
    # statement line of its own and never counts against the budget.
    separately_paid = models.BooleanField(_("paid separately (negotiated drug)"), default=False, db_default=False)

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

    def clean(self):
        refuse_formula_names(self, "name")


# Top-level parameters whose null means "does not apply" (FORMAT.md), not "left open".
NULL_MEANS_NONE = frozenset({"covered_levels", "first_year", "large_expense_subsidy", "counts_toward_annual_fund_maximum"})


def fills_open_parameters(before, after, *, top=True) -> bool:
    """Whether `after` differs from `before` only by values set where `before` left a number
    open (null, **param**), e.g. Jinan (七)'s second-payment ratio."""
    if isinstance(before, dict) and isinstance(after, dict):
        if set(before) != set(after):
            return False
        return all(
            before[key] == after[key] if top and key in NULL_MEANS_NONE and before[key] is None
            else fills_open_parameters(before[key], after[key], top=False)
            for key in before
        )
    if before is None:
        return True
    return before == after


def open_parameters(parameters, prefix="") -> list[str]:
    """The paths of the parameters a version leaves open (null, **param**)."""
    found = []
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            if not prefix and key in NULL_MEANS_NONE and value is None:
                continue
            path = f"{prefix}{key}"
            if value is None:
                found.append(path)
            else:
                found += open_parameters(value, f"{path}.")
    return found


class PolicyVersion(models.Model):
    """One version of a region's outpatient-pooling policy (普通门诊统筹待遇政策).

    The parameters follow claims/policies/FORMAT.md and are validated before every save.
    A version that has settled a claim is never edited: a new version replaces it from a date.
    """

    class Kind(models.TextChoices):
        OUTPATIENT_POOLING = "outpatient_pooling", _("outpatient pooling")
        # claims/chronic_format.py: the chronic and special diseases' parameters.
        CHRONIC_SPECIAL = "chronic_special", _("chronic and special diseases")

    region = models.CharField(_("region"), max_length=16, choices=Region.choices)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, default=Kind.OUTPATIENT_POOLING)
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    source = models.CharField(_("source document"), max_length=300, blank=True)
    parameters = models.JSONField(_("parameters"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("region policy version")
        verbose_name_plural = _("region policy versions")
        ordering = ["region", "kind", "effective_from"]
        constraints = [
            # The version in force on a day is found by (region, kind, effective_from <= day).
            models.UniqueConstraint(fields=["region", "kind", "effective_from"], name="policy_version_unique_start"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="policy_version_dates_ordered",
            ),
        ]

    def __str__(self):
        end = self.effective_to.isoformat() if self.effective_to else "…"
        return f"{self.get_region_display()} {self.get_kind_display()} {self.effective_from.isoformat()}–{end}"

    def save(self, *args, **kwargs):
        # Model-level guard (whatever the code path): parameters are always well formed, and a
        # version used to settle is never changed.
        self.full_clean(exclude=["created_by"])
        super().save(*args, **kwargs)

    @property
    def is_used(self) -> bool:
        return self.pk is not None and self.claims.exists()

    def clean(self):
        from django.core.exceptions import ValidationError

        from . import chronic_format
        from .policy_format import validate_parameters

        errors = {}
        if self.kind == self.Kind.CHRONIC_SPECIAL:
            problems = chronic_format.validate_parameters(self.parameters)
        else:
            problems = validate_parameters(self.parameters)
        if problems:
            errors["parameters"] = [f"{path}: {message}" for path, message in problems]
        else:
            # Where the region's text bounds a number (Yangzhou 二(一)2: ratio ≥ 60%, deductible
            # ≤ 1% and cap about 8% of the 2021 average wage), the version stays within it.
            outside = [row for row in self.text_comparison() if row.within is False]
            if outside:
                messages = {
                    "outside": _("{path}: outside the text's bound ({article} “{text}”); this version has {value}."),
                    "wage_year": _("{path}: the text ({article} “{text}”) refers to the {year} average wage; this version has {value}."),
                    "wage_missing": _("{path}: the text ({article} “{text}”) bounds it by the {year} average wage: enter that wage in the reference data first."),
                }
                errors["parameters"] = [
                    str(messages[row.reason]).format(
                        path=row.path, article=row.article, text=row.text, value=row.value or "—", year=row.year
                    )
                    for row in outside
                ]
        if self.effective_to and self.effective_from and self.effective_to < self.effective_from:
            errors["effective_to"] = [_("The end date is before the start date.")]
        if self.effective_from:
            overlapping = PolicyVersion.objects.filter(region=self.region, kind=self.kind).exclude(pk=self.pk)
            overlapping = overlapping.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=self.effective_from))
            if self.effective_to:
                overlapping = overlapping.filter(effective_from__lte=self.effective_to)
            # An open-ended earlier version is replaced from this date: it ends the day before.
            overlapping = overlapping.exclude(effective_from__lt=self.effective_from, effective_to__isnull=True)
            if overlapping.exists():
                errors["effective_from"] = [_("Another version of this region's policy is in force in these dates.")]
        if self.pk and self.is_used:
            stored = PolicyVersion.objects.filter(pk=self.pk).values(
                "region", "kind", "effective_from", "parameters"
            ).first()
            changed = [key for key in stored or {} if stored[key] != getattr(self, key)]
            if changed == ["parameters"] and fills_open_parameters(stored["parameters"], self.parameters):
                # Setting a parameter the text leaves open (null) changes no settled amount: every
                # settlement that needed it was refused or held it pending (Jinan (七)'s ratio).
                changed = []
            if changed:
                errors["__all__"] = [_("This version has settled claims and can no longer be changed; add a new version from a date instead.")]
            elif self.effective_to and self.claims.filter(visit_date__gt=self.effective_to).exists():
                # An end date may be set on a used version (Ziyang 第二十五条: 有效期5年), but
                # never before a visit it already settled.
                errors["effective_to"] = [_("This version settled visits after this end date; it cannot end before them.")]
        if errors:
            raise ValidationError(errors)

    def text_comparison(self):
        """Each number the region's policy text bounds, next to this version's value
        (claims/policy_texts.py); wage-based bounds use the reference average wage."""
        from members.models import ReferenceValue

        from .policy_texts import text_comparison, wage_years

        years = wage_years(self.region)
        reference = {}
        if years:
            rows = ReferenceValue.objects.filter(
                kind=ReferenceValue.Kind.AVERAGE_WAGE, year__in=years, sector=ReferenceValue.Sector.ALL
            ).values_list("year", "value")
            reference = {("average_wage", year): value for year, value in rows}
        return text_comparison(self.region, self.parameters, reference)

    def delete(self, *args, **kwargs):
        if self.is_used:
            from django.core.exceptions import ValidationError

            raise ValidationError(_("This version has settled claims and can never be deleted."))
        return super().delete(*args, **kwargs)


class MemberYear(models.Model):
    """The member's outpatient-pooling year (自然年度): what the deductible, the fund and the
    large-amount burden have used so far. Locked (select_for_update) by every settlement."""

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="benefit_years")
    year = models.PositiveSmallIntegerField(_("year"))
    # Paid toward the deductible this year, across levels (Zaozhuang 第五条(一): 累计补差).
    deductible_met = MoneyField(_("deductible met"), default=0)
    fund_paid = MoneyField(_("fund paid"), default=0)
    cap = MoneyField(_("annual cap"), null=True, blank=True)
    large_expense_burden = MoneyField(_("compliant personal burden (large-amount subsidy)"), default=0)
    large_expense_subsidy_paid = MoneyField(_("large-amount subsidy paid"), default=0)
    # Imported from the inpatient system (import_inpatient_totals), replaced by each import:
    # its compliant personal burden, which Jinan (七) counts toward the large-amount subsidy's
    # threshold, and what the fund paid for inpatient care (Ziyang 第十一条).
    inpatient_compliant_burden = MoneyField(_("inpatient compliant personal burden"), default=0, db_default=0)
    inpatient_fund_paid = MoneyField(_("inpatient fund paid"), default=0, db_default=0)
    inpatient_as_of = models.DateField(_("inpatient totals as of"), null=True, blank=True)
    # Ziyang 第十一条: the outpatient chronic and special disease fund paid this year (every
    # tally), counted toward the pooled fund's yearly maximum with the other payments.
    chronic_fund_paid = MoneyField(_("chronic and special disease fund paid"), default=0, db_default=0)
    # Jinan (七) while the ratio is open: the burden above the threshold whose second payment is
    # held until a batch pays it (claims/subsidy_batches.py).
    large_expense_pending_base = MoneyField(_("second payment pending (burden above the threshold)"), default=0, db_default=0)
    # Jinan (四) until 2023-12-31: paid toward each institution's own deductible this year,
    # {institution code: "amount"} (a remote provider's code is prefixed "remote:").
    deductible_by_institution = models.JSONField(_("deductible met by institution"), default=dict, db_default={}, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member's benefit year")
        verbose_name_plural = _("members' benefit years")
        constraints = [
            # One row per member and year: the row every settlement of the year locks.
            models.UniqueConstraint(fields=["member", "year"], name="member_year_unique"),
            models.CheckConstraint(condition=Q(fund_paid__gte=0) & Q(deductible_met__gte=0), name="member_year_not_negative"),
        ]

    def __str__(self):
        return f"{self.member_id} {self.year}"

    @property
    def cap_remaining(self):
        if self.cap is None:
            return None
        return max(self.cap - self.fund_paid, 0)


class ClaimQuerySet(models.QuerySet):
    def settled(self):
        return self.filter(status=Claim.Status.SETTLED)


class Claim(models.Model):
    """One real-time outpatient settlement (结算) with its breakdown; lines in ClaimLine."""

    class Status(models.TextChoices):
        SETTLED = "settled", _("settled")
        REVERSED = "reversed", _("reversed")

    class Benefit(models.TextChoices):
        """Which benefit a settlement pays (CONTRACT.md: ``benefit`` on preview and settle)."""

        OUTPATIENT_POOLING = "outpatient_pooling", _("outpatient pooling")
        PERSONAL_ACCOUNT = "personal_account", _("personal account only")
        CHRONIC_SPECIAL = "chronic_special", _("chronic and special diseases")

    class VisitPlace(models.TextChoices):
        LOCAL = "local", _("local")
        IN_PROVINCE = "in_province", _("in province")
        OUT_OF_PROVINCE = "out_of_province", _("out of province")

    # Who sent it: the provider's code, or "cross_region" for the cross-region platform.
    submitter = models.CharField(_("submitter"), max_length=16)
    external_ref = models.CharField(_("provider's transaction number"), max_length=64)
    request_hash = models.CharField(_("request fingerprint"), max_length=64)
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("provider"), null=True, blank=True, on_delete=models.PROTECT, related_name="claims"
    )
    remote_provider_code = models.CharField(_("remote provider code"), max_length=32, blank=True)
    remote_provider_name = models.CharField(_("remote provider name"), max_length=200, blank=True)
    provider_level = models.CharField(_("policy level applied"), max_length=32, blank=True)
    prescribed_by = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("prescribing institution"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="claims")
    payer = models.ForeignKey(
        "members.Member", verbose_name=_("family-sharing payer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    visit_date = models.DateField(_("visit date"))
    year = models.PositiveSmallIntegerField(_("year"))
    benefit = models.CharField(_("benefit"), max_length=24, choices=Benefit.choices, default=Benefit.OUTPATIENT_POOLING)
    visit_place = models.CharField(_("visit place"), max_length=16, choices=VisitPlace.choices, default=VisitPlace.LOCAL)
    temporary_visit = models.BooleanField(_("temporary visit"), default=False)
    use_account = models.BooleanField(_("use the personal account"), default=False)
    # None for an account-only settlement (no pooling policy applies).
    policy_version = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), null=True, blank=True, on_delete=models.PROTECT, related_name="claims"
    )
    # Account-only settlements (CONTRACT.md "Account-only settlement"). `member` is the person
    # treated when they are in the registry, else the account's owner; the family link names a
    # relative outside the registry (its ID number and name are copied, so the claim keeps them).
    relative_link = models.ForeignKey(
        "members.FamilyLink", verbose_name=_("family link"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    treated_id_number = models.CharField(_("ID number of the person treated"), max_length=18, blank=True, default="", db_default="")
    treated_name = models.CharField(_("name of the person treated"), max_length=100, blank=True, default="", db_default="")
    other_insurance_paid = MoneyField(_("paid by the person's own insurance"), default=0, db_default=0)
    not_account_payable = MoneyField(_("items the account may not pay"), default=0, db_default=0)

    total = MoneyField(_("total"))
    fully_self_paid = MoneyField(_("fully self-paid"))
    over_limit = MoneyField(_("over-limit self-pay"))
    class_b_prepay = MoneyField(_("class-B prepay"))
    policy_scope = MoneyField(_("policy-scope amount"))
    temporary_visit_prepay = MoneyField(_("temporary-visit prepay"))
    deductible = MoneyField(_("deductible"))
    # Jinan (四) until 2023-12-31: the institution whose own deductible this claim paid toward
    # (MemberYear.deductible_by_institution); "" when the deductible is combined.
    deductible_institution = models.CharField(_("deductible of institution"), max_length=40, blank=True, default="", db_default="")
    pay_ratio_percent = PercentField(_("pay ratio (%)"))
    fund = MoneyField(_("pooled fund"))
    large_expense_subsidy = MoneyField(_("large-amount subsidy"), default=0)
    # What this claim added to the year's compliant burden (Jinan (七)); taken back on reversal.
    large_expense_burden_added = MoneyField(_("compliant burden added"), default=0)
    # Jinan (七) with the ratio open: the burden above the threshold held for a later second
    # payment (SubsidyPayment, when a batch pays it).
    large_expense_pending_base = MoneyField(_("second payment pending (burden above the threshold)"), default=0, db_default=0)
    personal_burden = MoneyField(_("personal burden"))
    account = MoneyField(_("personal account"))
    family_account = MoneyField(_("family-sharing account"))
    cash = MoneyField(_("cash"))
    balance_after = MoneyField(_("account balance after"), null=True, blank=True)
    denied_reason = models.CharField(_("reason the benefit did not apply"), max_length=32, blank=True)
    counts_toward_annual_fund_maximum = models.BooleanField(_("counts toward the annual fund maximum"), null=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SETTLED)
    settled_at = models.DateTimeField(_("settled at"), auto_now_add=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("settled by"), on_delete=models.PROTECT, related_name="+")
    # The first response, returned again to a repeat of the same request (idempotency).
    response = models.JSONField(_("response"), default=dict)
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_reason = models.CharField(_("reversal reason"), max_length=200, blank=True)
    reversal_response = models.JSONField(_("reversal response"), null=True, blank=True)

    objects = ClaimQuerySet.as_manager()

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        ordering = ["-pk"]
        constraints = [
            # Idempotency: a provider's transaction number settles at most once.
            models.UniqueConstraint(fields=["submitter", "external_ref"], name="claim_unique_external_ref"),
            models.CheckConstraint(
                condition=Q(cash__gte=0) & Q(account__gte=0) & Q(family_account__gte=0) & Q(fund__gte=0),
                name="claim_amounts_not_negative",
            ),
        ]
        indexes = [
            # The member's claims by date (admin, monitoring by visit range).
            models.Index(fields=["member", "visit_date"], name="claim_member_date_idx"),
            # A provider's claims by date (monthly statements, monitoring).
            models.Index(fields=["provider", "visit_date"], name="claim_provider_date_idx"),
            # Monthly statements (claims.statements.services): settlements and reversals by their time.
            models.Index(fields=["settled_at"], name="claim_settled_at_idx"),
            models.Index(fields=["reversed_at"], name="claim_reversed_at_idx"),
        ]

    def __str__(self):
        return f"{self.pk} {self.submitter}/{self.external_ref}"

    @property
    def ledger_reference(self) -> str:
        return f"claim:{self.pk}"

    def explanation(self):
        """The calculation in words (claims/explanation.py), in the reader's language, from
        the figures the provider received."""
        from .explanation import explain

        figures = dict(self.response or {})
        if not figures:  # a settlement stored without its response: its own columns
            figures = {field: getattr(self, field) for field in (
                "total", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope", "temporary_visit_prepay",
                "deductible", "fund", "large_expense_subsidy", "personal_burden", "account", "family_account", "cash",
                "denied_reason",
            )}
            figures["ratio"] = self.pay_ratio_percent
        return explain(figures, self.policy_version.region if self.policy_version_id else "", self.benefit)


class ClaimLine(models.Model):
    claim = models.ForeignKey(Claim, verbose_name=_("settlement"), on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    catalog_item = models.ForeignKey(CatalogItem, verbose_name=_("catalog item"), on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=4)
    unit_price = MoneyField(_("unit price"))
    amount = MoneyField(_("amount"))
    fully_self_paid = MoneyField(_("fully self-paid"))
    over_limit = MoneyField(_("over-limit self-pay"))
    class_b_prepay = MoneyField(_("class-B prepay"))
    policy_scope = MoneyField(_("policy-scope amount"))

    class Meta:
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        ordering = ["claim", "position"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "position"], name="claim_line_unique_position"),
        ]

    def __str__(self):
        # Shown above each line on the settlement's admin page: its 序号 from 1, not the stored position.
        return str(_("settlement %(claim)s, item %(number)d") % {"claim": self.claim_id, "number": self.number})

    @property
    def number(self) -> int:
        """The line's 序号 as people count (1, 2, …) on pages and prints; `position` is stored from 0."""
        return self.position + 1


# =======================================================================================
# Monthly settlement with providers (清算), deductions and reconciliation (对账).
# Services: claims/statements/services.py. Admin: claims/statements/admin.py.


class Deduction(models.Model):
    """An amount withheld from a provider's payment, decided by supervision (a confirmed
    violation) or the agency. It lands on the provider's next statement and stays there once
    that statement is approved."""

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="deductions")
    amount = MoneyField(_("amount"))
    reason = models.CharField(_("reason"), max_length=500)
    # Where the decision comes from, e.g. "flag:123": recording it twice records it once.
    source_reference = models.CharField(_("source reference"), max_length=64, unique=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, related_name="+")
    decided_on = models.DateField(_("decided on"))
    statement = models.ForeignKey(
        "claims.ProviderStatement", verbose_name=_("statement"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="deductions",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("deduction")
        verbose_name_plural = _("deductions")
        ordering = ["-decided_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deduction_amount_positive"),
        ]
        indexes = [
            # close_month: a provider's deductions not yet on a statement.
            models.Index(fields=["provider", "statement"], name="deduction_provider_stmt_idx"),
        ]

    def __str__(self):
        return f"{self.source_label()} {self.amount}"

    def source_label(self) -> str:
        """What the deduction comes from, in words: supervision's references are
        'supervision.flag:<id>' (a code; never shown as such)."""
        prefix, _sep, number = self.source_reference.partition(":")
        if prefix == "supervision.flag" and number:
            return _("monitoring flag no. %(number)s") % {"number": number}
        return _("deduction no. %(number)s") % {"number": self.pk}

    source_label.short_description = _("source")


PAYMENT_METHOD_LABELS = (
    ("per_item", _("per item")),
    ("budget", _("global budget")),
    ("capitation", _("capitation")),
    ("per_disease", _("per disease")),
)


class ProviderStatement(models.Model):
    """A provider's monthly statement (月度清算单). Figures are computed by close_month in the
    database; once approved, nothing on it changes (model guard in save/delete)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        APPROVED = "approved", _("approved")
        PAID = "paid", _("paid")

    class Clearing(models.TextChoices):
        # Values are Claim.VisitPlace's: a platform settlement is cleared by its visit place.
        NONE = "", _("provider's statement")
        IN_PROVINCE = "in_province", _("in-province cross-region clearing")
        OUT_OF_PROVINCE = "out_of_province", _("out-of-province cross-region clearing")

    # Figures computed by close_month: frozen once the statement is approved.
    FIGURES = (
        "settlement_count", "total", "fund", "large_expense_subsidy", "account", "family_account", "cash",
        "reversal_count", "reversed_total", "reversed_fund", "reversed_large_expense_subsidy", "reversed_account",
        "reversed_family_account", "reversed_cash", "deductions_total", "payable",
    )
    # The agreement's payment methods (claims/statements/payment_methods.py); all zero and
    # payment_methods "" for a provider paid per item. Frozen with the figures.
    METHOD_FIGURES = (
        "payment_methods", "per_item_fund", "budget_actual", "budget_share", "budget_paid", "deposit_withheld",
        "capitation_members", "capitation_amount", "per_disease_cases", "per_disease_amount", "per_disease_detail",
        "separately_paid",
    )

    # A provider's statement; or, with no provider, the cross-region clearing statement (below).
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("provider"), null=True, blank=True, on_delete=models.PROTECT, related_name="statements",
    )
    # 异地就医清算: the settlements the cross-region platform submitted (Claim.submitter
    # "cross_region", no local provider) are cleared monthly with the provincial platform (省内,
    # visits in the province) and the national platform (省外, out of the province), each on a
    # clearing statement of its own, approved, paid and reconciled like a provider's.
    clearing = models.CharField(_("cross-region clearing"), max_length=16, choices=Clearing.choices, blank=True, default="")
    # The first day of the month covered.
    month = models.DateField(_("month"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)

    # Settlements made in the month (by settlement time), reversed since or not.
    settlement_count = models.PositiveIntegerField(_("settlements"), default=0)
    total = MoneyField(_("total medical cost"), default=0)
    # One column per fund of claims.funds.FUNDS (and its reversed_ column below).
    fund = MoneyField(_("fund paid"), default=0)
    large_expense_subsidy = MoneyField(_("large-amount subsidy paid"), default=0)
    account = MoneyField(_("personal account paid"), default=0)
    family_account = MoneyField(_("family-sharing account paid"), default=0)
    cash = MoneyField(_("cash paid by members"), default=0)
    # Reversals made in the month (by reversal time), whenever the settlement was made:
    # shown as positive amounts, subtracted from the payable.
    reversal_count = models.PositiveIntegerField(_("reversals"), default=0)
    reversed_total = MoneyField(_("total reversed"), default=0)
    reversed_fund = MoneyField(_("fund reversed"), default=0)
    reversed_large_expense_subsidy = MoneyField(_("large-amount subsidy reversed"), default=0)
    reversed_account = MoneyField(_("personal account reversed"), default=0)
    reversed_family_account = MoneyField(_("family-sharing account reversed"), default=0)
    reversed_cash = MoneyField(_("cash reversed"), default=0)
    deductions_total = MoneyField(_("deductions"), default=0)
    # Payment methods (Zaozhuang 第十六条, Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六)): the
    # funds as the agreement's terms for the year pay them; "" (per item) leaves them all zero.
    payment_methods = models.CharField(_("payment methods"), max_length=64, blank=True, default="", db_default="")
    per_item_fund = MoneyField(_("funds paid per item"), default=0, db_default=0)
    budget_actual = MoneyField(_("funds counted against the budget"), default=0, db_default=0)
    budget_share = MoneyField(_("month's share of the budget"), default=0, db_default=0)
    budget_paid = MoneyField(_("paid within the budget"), default=0, db_default=0)
    deposit_withheld = MoneyField(_("quality deposit withheld"), default=0, db_default=0)
    capitation_members = models.PositiveIntegerField(_("registered members"), default=0, db_default=0)
    capitation_amount = MoneyField(_("capitation"), default=0, db_default=0)
    per_disease_cases = models.IntegerField(_("per-disease cases"), default=0, db_default=0)
    per_disease_amount = MoneyField(_("per-disease payment"), default=0, db_default=0)
    per_disease_detail = models.JSONField(_("per-disease payment by disease"), default=dict, blank=True)
    # Jinan (十六), Yangzhou 三(三): negotiated drugs paid separately, outside the budget.
    separately_paid = MoneyField(_("separately paid drugs"), default=0, db_default=0)
    payable = MoneyField(_("amount payable"), default=0)

    generated_at = models.DateTimeField(_("generated at"))
    # None: generated by the scheduled task (the system).
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("generated by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("payment recorded by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment_reference = models.CharField(_("payment reference"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("monthly statement")
        verbose_name_plural = _("monthly statements")
        ordering = ["-month", "provider_id"]
        constraints = [
            # One statement per provider and month (close_month replaces a draft in place).
            models.UniqueConstraint(fields=["provider", "month"], name="statement_unique_provider_month"),
            # One clearing statement per platform (省内, 省外) and month.
            models.UniqueConstraint(fields=["clearing", "month"], condition=Q(provider__isnull=True),
                                    name="statement_unique_clearing_month"),
            # Either a provider's statement or a cross-region clearing statement.
            models.CheckConstraint(
                condition=Q(provider__isnull=False, clearing="")
                | Q(provider__isnull=True, clearing__in=["in_province", "out_of_province"]),
                name="statement_provider_or_clearing",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="statement_month_first_day"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="statement_approved_has_approver",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | ~Q(payment_reference=""), name="statement_paid_has_reference",
            ),
        ]
        indexes = [
            # close_month: the month's statements by status.
            models.Index(fields=["month", "status"], name="statement_month_status_idx"),
        ]

    def __str__(self):
        # The admin page's title, as a person writes it: 枣庄市立医院 2026年03月 月度清算单.
        who = self.provider.name if self.provider_id else self.get_clearing_display()
        return str(_("%(provider)s %(month)s monthly statement") % {"provider": who, "month": month_label(self.month)})

    def save(self, *args, **kwargs):
        # Model guard: an approved (or paid) statement's figures never change, whatever the
        # code path; only its payment may be recorded.
        if self.pk is not None:
            stored = (ProviderStatement.objects.filter(pk=self.pk)
                      .values("status", "provider_id", "clearing", "month", *self.FIGURES, *self.METHOD_FIGURES).first())
            if stored and stored["status"] != self.Status.DRAFT:
                changed = [key for key in ("provider_id", "clearing", "month", *self.FIGURES, *self.METHOD_FIGURES)
                           if stored[key] != getattr(self, key)]
                if changed or self.status == self.Status.DRAFT:
                    from core.errors import Conflict

                    raise Conflict(
                        _("An approved statement never changes."), code="statement_frozen",
                        details={"statement_id": self.pk, "fields": changed or ["status"]},
                    )
        super().save(*args, **kwargs)

    @property
    def payee(self) -> str:
        """Who is paid: the provider (code and name), or the clearing platform."""
        if self.provider_id:
            return f"{self.provider.code} {self.provider.name}"
        return str(self.get_clearing_display())

    @property
    def file_key(self) -> str:
        """The statement's name in file names: the provider's code or the clearing."""
        return self.provider.code if self.provider_id else f"clearing-{self.clearing}"

    @property
    def net_total(self):
        return self.total - self.reversed_total

    @property
    def net_fund(self):
        return self.fund - self.reversed_fund

    @property
    def funds_paid(self):
        """Every fund of claims.funds.FUNDS together (settlements of the month)."""
        return funds_total(self)

    @property
    def net_funds(self):
        """Every fund together, net of the month's reversals."""
        return funds_total(self) - funds_total(self, reversed_=True)

    @property
    def net_account(self):
        """Personal and family-sharing accounts together, net of reversals."""
        return self.account + self.family_account - self.reversed_account - self.reversed_family_account

    @property
    def net_cash(self):
        return self.cash - self.reversed_cash

    @property
    def method_labels(self) -> str:
        """The payment methods as people read them (per item when none)."""
        labels = dict(PAYMENT_METHOD_LABELS)
        return "、".join(str(labels[name]) for name in (self.payment_methods or "per_item").split(",") if name in labels)

    @property
    def is_frozen(self) -> bool:
        return self.status != self.Status.DRAFT

    def delete(self, *args, **kwargs):
        if ProviderStatement.objects.filter(pk=self.pk).exclude(status=self.Status.DRAFT).exists():
            from core.errors import Conflict

            raise Conflict(_("An approved statement never changes."), code="statement_frozen", details={"statement_id": self.pk})
        return super().delete(*args, **kwargs)


class YearEndSettlement(models.Model):
    """A provider's year-end settlement (年度清算) of a year paid against a budget: the budget
    against the actual funds, the overrun's and underrun's shares as the terms say, and the
    quality deposit returned by the provider's credit grade and the agreement's assessment
    (Ziyang 第二十一条(二)). Prepared from the year's approved monthly statements
    (claims/statements/year_end.py), approved and paid by finance like a monthly statement;
    frozen once approved."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        APPROVED = "approved", _("approved")
        PAID = "paid", _("paid")

    FIGURES = (
        "months", "budget", "budget_actual", "overrun", "overrun_agency", "underrun", "underrun_retained",
        "recognised", "budget_paid", "budget_balance", "deposit_withheld", "credit_year", "credit_score",
        "credit_grade", "assessment_percent", "deposit_return_percent", "deposit_returned", "deposit_forfeited",
        "payable",
    )

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT,
                                 related_name="year_end_settlements")
    year = models.PositiveSmallIntegerField(_("year"))
    terms = models.ForeignKey("pharmacies.PaymentTerms", verbose_name=_("payment terms"), on_delete=models.PROTECT,
                              related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    months = models.PositiveSmallIntegerField(_("monthly statements"), default=0)
    budget = MoneyField(_("yearly budget"), default=0)
    budget_actual = MoneyField(_("funds counted against the budget"), default=0)
    overrun = MoneyField(_("overrun"), default=0)
    overrun_agency = MoneyField(_("overrun paid by the agency"), default=0)
    underrun = MoneyField(_("underrun"), default=0)
    underrun_retained = MoneyField(_("underrun kept by the provider"), default=0)
    recognised = MoneyField(_("paid by the budget for the year"), default=0)
    budget_paid = MoneyField(_("paid monthly within the budget"), default=0)
    budget_balance = MoneyField(_("budget balance due"), default=0)
    deposit_withheld = MoneyField(_("quality deposit withheld"), default=0)
    credit_year = models.PositiveSmallIntegerField(_("credit score year"), null=True, blank=True)
    credit_score = models.PositiveSmallIntegerField(_("credit score"), null=True, blank=True)
    credit_grade = models.CharField(_("credit grade"), max_length=2, blank=True)
    assessment_percent = PercentField(_("assessment result (%)"), default=100)
    deposit_return_percent = PercentField(_("deposit returned (%)"), default=0)
    deposit_returned = MoneyField(_("deposit returned"), default=0)
    deposit_forfeited = MoneyField(_("deposit forfeited"), default=0)
    payable = MoneyField(_("amount payable"), default=0)
    prepared_at = models.DateTimeField(_("prepared at"))
    # None: prepared by the scheduled task (the system).
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("prepared by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("payment recorded by"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    payment_reference = models.CharField(_("payment reference"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("year-end settlement")
        verbose_name_plural = _("year-end settlements")
        ordering = ["-year", "provider_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "year"], name="year_end_unique_provider_year"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="year_end_approved_has_approver",
            ),
            models.CheckConstraint(condition=~Q(status="paid") | ~Q(payment_reference=""), name="year_end_paid_has_reference"),
        ]

    def __str__(self):
        # The admin page's title, as a person writes it: 枣庄市立医院 2025年度清算.
        return str(_("%(provider)s %(year)s year-end settlement") % {"provider": self.provider.name, "year": self.year})

    def save(self, *args, **kwargs):
        # Model guard: an approved (or paid) year-end settlement's figures never change.
        if self.pk is not None:
            stored = YearEndSettlement.objects.filter(pk=self.pk).values("status", *self.FIGURES).first()
            if stored and stored["status"] != self.Status.DRAFT:
                changed = [key for key in self.FIGURES if stored[key] != getattr(self, key)]
                if changed or self.status == self.Status.DRAFT:
                    from core.errors import Conflict

                    raise Conflict(_("An approved year-end settlement never changes."), code="year_end_frozen",
                                   details={"year_end_id": self.pk, "fields": changed or ["status"]})
        super().save(*args, **kwargs)

    @property
    def file_key(self) -> str:
        return self.provider.code


class Reconciliation(models.Model):
    """对账 (like the national 3201/3202): a provider's own totals for a period, compared with
    the agency's; on a mismatch, the settlements that differ."""

    class Result(models.TextChoices):
        MATCH = "match", _("match")
        MISMATCH = "mismatch", _("mismatch")

    # A provider's reconciliation; or, with no provider, the cross-region platform's for one clearing.
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("provider"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="reconciliations",
    )
    clearing = models.CharField(
        _("cross-region clearing"), max_length=16, choices=ProviderStatement.Clearing.choices, blank=True, default="",
    )
    period_from = models.DateField(_("from"))
    period_to = models.DateField(_("to"))
    # The provider's figures, then the agency's: {"count", "total", "fund", "account", "cash"}.
    submitted = models.JSONField(_("provider's totals"))
    agency = models.JSONField(_("agency's totals"))
    detail_submitted = models.BooleanField(_("settlement list submitted"), default=False)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices)
    # {"totals": {field: {"provider", "agency"}}, "missing_on_agency_side": [...],
    #  "missing_on_provider_side": [...], "different_amounts": [...]}
    differences = models.JSONField(_("differences"), default=dict)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("submitted by"), on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(period_to__gte=models.F("period_from")), name="reconciliation_period_ordered"),
            models.CheckConstraint(
                condition=Q(provider__isnull=False, clearing="")
                | Q(provider__isnull=True, clearing__in=["in_province", "out_of_province"]),
                name="reconciliation_provider_or_clearing",
            ),
        ]

    def __str__(self):
        return f"{self.provider_id or self.clearing} {self.period_from}–{self.period_to} {self.result}"


class SubsidyBatch(models.Model):
    """Pending large-amount second payments (Jinan (七)) paid together once the agency has set
    the ratio: proposed by one case worker, approved by another (separated duties)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        APPROVED = "approved", _("approved")

    policy_version = models.ForeignKey(PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT, related_name="subsidy_batches")
    ratio_percent = PercentField(_("second payment ratio (%)"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROPOSED)
    payment_count = models.PositiveIntegerField(_("payments"), default=0)
    total = MoneyField(_("total"), default=0)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("proposed by"), on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("second-payment batch")
        verbose_name_plural = _("second-payment batches")
        ordering = ["-pk"]

    def __str__(self):
        return f"{self.policy_version.region} #{self.pk} {self.get_status_display()}"


class SubsidyPayment(models.Model):
    """One claim's pending second payment, paid by a batch (Jinan (七)). One per claim.

    A take-back: the claim of a paid second payment was reversed after its batch was approved.
    The paid row is never edited; the reversal records a negative row (`reverses` the paid one,
    no claim of its own) that waits for the version's next batch (`batch` empty until then),
    whose approval takes the amount back from the member's year."""

    batch = models.ForeignKey(SubsidyBatch, verbose_name=_("batch"), null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    claim = models.OneToOneField(Claim, verbose_name=_("settlement"), null=True, blank=True, on_delete=models.PROTECT, related_name="subsidy_payment")
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    base = MoneyField(_("burden above the threshold"))
    amount = MoneyField(_("second payment"))
    reverses = models.OneToOneField(
        "self", verbose_name=_("takes back"), null=True, blank=True, on_delete=models.PROTECT, related_name="taken_back_by"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True, null=True)

    class Meta:
        verbose_name = _("second payment")
        verbose_name_plural = _("second payments")
        ordering = ["pk"]
        constraints = [
            # A payment names its claim; a take-back names the payment it takes back, never both.
            models.CheckConstraint(
                condition=(Q(claim__isnull=False) & Q(reverses__isnull=True)) | (Q(claim__isnull=True) & Q(reverses__isnull=False)),
                name="subsidy_payment_claim_or_take_back",
            ),
        ]

    def __str__(self):
        return f"{self.claim_id} {self.amount}"

    @property
    def settlement(self):
        """The claim paid, or (a take-back) the claim whose payment is taken back."""
        return self.claim if self.claim_id else self.reverses.claim


# The models below are imported last (they import this module), in this order: not sorted.
# isort: off

# Outpatient chronic and special diseases (claims/chronic_models.py).
from .chronic_models import ChronicClaim, ChronicRegistration, ChronicYear, Disease  # noqa: E402, F401

# Members' chosen institutions, Jinan (四) (claims/chosen_models.py).
from .chosen_models import ChosenInstitution  # noqa: E402, F401
