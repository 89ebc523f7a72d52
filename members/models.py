"""Members, their effective-dated enrollment, family links, registrations, episodes,
reference data and personal accounts with their immutable ledger."""

from datetime import date

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.exports import refuse_formula_names
from core.formats import month_label
from core.idnumber import mask_id_number, parse_id_number
from core.money import MoneyField, PercentField
from core.regions import Region

from .in_force import EnrollmentQuerySet


class MemberQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Member.Status.ACTIVE)


class Member(models.Model):
    """An insured person (参保人员), identified by the national ID number."""

    class Sex(models.TextChoices):
        MALE = "M", _("male")
        FEMALE = "F", _("female")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        TERMINATED = "terminated", _("terminated")
        DECEASED = "deceased", _("deceased")

    id_number = models.CharField(_("ID number"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=100, db_index=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, editable=False)
    birth_date = models.DateField(_("birth date"), editable=False)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    died_on = models.DateField(_("date of death"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [
            # The admin's search by the last four digits the masked lists show.
            models.Index(Right("id_number", 4), name="member_id_last4_idx"),
        ]
        constraints = [
            # A deceased member has a date of death, and only a deceased member has one.
            models.CheckConstraint(
                condition=Q(status="deceased", died_on__isnull=False) | (~Q(status="deceased") & Q(died_on__isnull=True)),
                name="member_death_date_iff_deceased",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.masked_id_number})"

    def save(self, *args, **kwargs):
        # Sex and birth date are facts of the ID number (GB 11643), never typed in.
        facts = parse_id_number(self.id_number)
        self.birth_date, self.sex = facts.birth_date, facts.sex
        super().save(*args, **kwargs)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def clean(self):
        refuse_formula_names(self, "name")
        from django.core.exceptions import ValidationError

        try:
            parse_id_number(self.id_number)
        except ValidationError as error:
            raise ValidationError({"id_number": error.messages}) from None

    def age_on(self, day: date) -> int:
        """Completed years of age on `day`."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def enrollment_on(self, day: date) -> "Enrollment | None":
        """The spell in force on `day` (members.in_force: the one definition)."""
        return self.enrollments.filter(effective_from__lte=day).latest_first().first()


class Enrollment(models.Model):
    """One effective-dated spell of a member's enrollment facts.

    Never overwritten: a change is a new row from its effective date; the spell in
    force on a day is the latest one that started on or before it (members.in_force).
    """

    class EmploymentStatus(models.TextChoices):
        IN_SERVICE = "in_service", _("in service")
        RETIRED = "retired", _("retired")

    class Scheme(models.TextChoices):
        COMBINED = "combined", _("combined (pooled fund + personal account)")
        POOLED_ONLY = "pooled_only", _("pooled only")

    class Category(models.TextChoices):
        EMPLOYEE = "employee", _("employee")
        FLEXIBLE_EMPLOYMENT = "flexible_employment", _("flexible employment")
        # Zaozhuang 第七条(二)2: 其他享受医保退休待遇未建立医保个人账户的退休人员 — credited from 2023-01
        # like flexible-employment retirees.
        RETIREE_WITHOUT_ACCOUNT = "retiree_without_account", _("retiree without a personal account (other)")

    class Sector(models.TextChoices):
        ENTERPRISE = "enterprise", _("enterprise")
        GOVERNMENT = "government", _("government and public institution")

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="enrollments")
    effective_from = models.DateField(_("effective from"))
    employment_status = models.CharField(_("employment status"), max_length=16, choices=EmploymentStatus.choices)
    retired_on = models.DateField(_("retirement date"), null=True, blank=True)
    scheme = models.CharField(_("scheme"), max_length=16, choices=Scheme.choices)
    category = models.CharField(_("category"), max_length=24, choices=Category.choices, default=Category.EMPLOYEE)
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices, default=Sector.ENTERPRISE)
    civil_servant = models.BooleanField(_("civil-servant medical subsidy"), default=False)
    # Zaozhuang 第七条(三): a new civil servant's subsidy is credited on the probation wage until
    # 转正定级, then on the wage of the first month after it: the spell that starts then is marked.
    civil_servant_regularized = models.BooleanField(
        _("starts at the civil servant's regularization (转正定级)"), default=False, db_default=False,
    )
    pre_1949_veteran = models.BooleanField(_("pre-1949 veteran worker"), default=False)
    # Ziyang 第八条(二): a retired pooled-only member who pays the arrears enjoys benefits from the
    # month after paying; a visit before this day is refused (benefits_not_started).
    benefits_from = models.DateField(_("benefits from"), null=True, blank=True)
    employer_name = models.CharField(_("employer"), max_length=200, blank=True)
    employer_credit_code = models.CharField(_("employer unified social credit code"), max_length=18, blank=True)
    contribution_base = MoneyField(_("monthly contribution base"), null=True, blank=True)
    monthly_pension = MoneyField(_("monthly pension"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("enrollment spell")
        verbose_name_plural = _("enrollment history")
        ordering = ["member", "effective_from"]
        constraints = [
            # One spell starts on a given day: the spell in force on any day is unambiguous.
            models.UniqueConstraint(fields=["member", "effective_from"], name="enrollment_one_per_day"),
            models.CheckConstraint(
                condition=Q(contribution_base__isnull=True) | Q(contribution_base__gte=0),
                name="enrollment_base_not_negative",
            ),
        ]

    def __str__(self):
        # No member in it: shown beside the member (inline) or in its own column, no query.
        return f"{self.effective_from} {self.get_employment_status_display()} · {self.get_scheme_display()}"


class FamilyLink(models.Model):
    """A family link used by family sharing (家庭共济). Stored in both directions."""

    class Relation(models.TextChoices):
        SPOUSE = "spouse", _("spouse")
        PARENT = "parent", _("parent")
        CHILD = "child", _("child")

    INVERSE = {Relation.SPOUSE: Relation.SPOUSE, Relation.PARENT: Relation.CHILD, Relation.CHILD: Relation.PARENT}

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="family_links")
    # A relative in the registry, linked both ways; or one outside it (insured elsewhere or not
    # at all, CONTRACT.md "Account-only settlement"), named by ID number and name, linked one
    # way only (from the member whose account may pay for them).
    relative = models.ForeignKey(Member, verbose_name=_("relative"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    relative_id_number = models.CharField(_("relative's ID number"), max_length=18, blank=True, default="", db_default="")
    relative_name = models.CharField(_("relative's name"), max_length=100, blank=True, default="", db_default="")
    # What the relative is to the member.
    relation = models.CharField(_("relation"), max_length=8, choices=Relation.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("family link")
        verbose_name_plural = _("family links")
        constraints = [
            models.CheckConstraint(condition=~Q(member=models.F("relative")), name="family_link_not_self"),
            models.UniqueConstraint(fields=["member", "relative"], name="family_link_unique_pair"),
            # A relative outside the registry: exactly one of the two ways of naming the relative.
            models.CheckConstraint(
                condition=(Q(relative__isnull=False) & Q(relative_id_number=""))
                | (Q(relative__isnull=True) & ~Q(relative_id_number="")),
                name="family_link_relative_named_once",
            ),
            models.UniqueConstraint(
                fields=["member", "relative_id_number"], condition=Q(relative__isnull=True),
                name="family_link_unique_outside_relative",
            ),
            # At most one spouse at a time.
            models.UniqueConstraint(fields=["member"], condition=Q(relation="spouse"), name="family_link_one_spouse"),
        ]

    def __str__(self):
        # The relative's str masks the ID number (admin log, lists); select_related("relative").
        if self.relative_id is None:
            from core.idnumber import mask_id_number

            return f"{self.get_relation_display()}: {self.relative_name} {mask_id_number(self.relative_id_number)}"
        return f"{self.get_relation_display()}: {self.relative}"

    @property
    def outside_registry(self) -> bool:
        return self.relative_id is None


class Registration(models.Model):
    """Out-of-area registration (异地就医备案)."""

    class Kind(models.TextChoices):
        LONG_TERM_RESIDENCE = "long_term_residence", _("long-term residence elsewhere")

    class Place(models.TextChoices):
        IN_PROVINCE = "in_province", _("in province")
        OUT_OF_PROVINCE = "out_of_province", _("out of province")

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="registrations")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, default=Kind.LONG_TERM_RESIDENCE)
    place = models.CharField(_("place"), max_length=16, choices=Place.choices)
    # Jinan (五): the local ratio applies 在长期居住地 — in that place only. The six-digit
    # administrative division code (GB/T 2260) of the place: a province (440000), a city
    # (440300) or a district (440305); a visit is in the place when its code falls within it.
    division_code = models.CharField(
        _("division code of the place"), max_length=6, blank=True, default="", db_default="",
        validators=[RegexValidator(r"^\d{6}$", _("Six digits: the administrative division code of the place."))],
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("out-of-area registration")
        verbose_name_plural = _("out-of-area registrations")
        constraints = [
            models.UniqueConstraint(fields=["member", "kind", "valid_from"], name="registration_unique_start"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="registration_dates_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.get_place_display()} {self.valid_from}"


class PrimaryCareRegistrationQuerySet(models.QuerySet):
    def covering(self, day: date):
        return self.filter(valid_from__lte=day).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))


class PrimaryCareRegistration(models.Model):
    """The member's choice of a primary-care provider (基层首诊 / 家庭医生签约), effective-dated.

    Capitation (按人头付费: Zaozhuang 第十六条, Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六))
    pays a provider per member registered with it; a member is registered with at most one
    provider on any day. Changed only through members.services.primary_care_register, which
    ends the current registration the day before the new one starts: the rows are the history.
    """

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="primary_care")
    # pharmacies.Provider by name: members may not import pharmacies (README Layout).
    provider = models.ForeignKey(
        "pharmacies.Provider", verbose_name=_("primary-care provider"), on_delete=models.PROTECT, related_name="+",
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    objects = PrimaryCareRegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("primary-care registration")
        verbose_name_plural = _("primary-care registrations")
        ordering = ["member", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["member", "valid_from"], name="primary_care_unique_start"),
            # One open registration per member (the current one).
            models.UniqueConstraint(fields=["member"], condition=Q(valid_to__isnull=True), name="primary_care_one_open"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="primary_care_dates_ordered",
            ),
        ]
        indexes = [
            # Capitation: a provider's registered members on a day (close_month).
            models.Index(fields=["provider", "valid_from"], name="primary_care_provider_idx"),
        ]

    def __str__(self):
        return f"{self.member_id} → {self.provider_id} {self.valid_from}–{self.valid_to or ''}"


class EpisodeQuerySet(models.QuerySet):
    def covering(self, day: date):
        return self.filter(start_date__lte=day).filter(Q(end_date__isnull=True) | Q(end_date__gte=day))


class Episode(models.Model):
    """An inpatient stay or long-term-care episode (Zaozhuang 第十一条)."""

    class Kind(models.TextChoices):
        INPATIENT_STAY = "inpatient_stay", _("inpatient stay")
        LTC_HOME_CARE = "ltc_home_care", _("long-term care: home care")
        LTC_INSTITUTIONAL_CARE = "ltc_institutional_care", _("long-term care: institutional care")
        LTC_MEDICAL_CARE = "ltc_medical_care", _("long-term care: medical special care")

    # Zaozhuang 第十一条: an inpatient stay and LTC medical special care switch outpatient
    # pooling off; LTC home and institutional care do not.
    SUSPENDS_OUTPATIENT_POOLING = (Kind.INPATIENT_STAY, Kind.LTC_MEDICAL_CARE)

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="episodes")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)

    history = HistoricalRecords()
    objects = EpisodeQuerySet.as_manager()

    class Meta:
        verbose_name = _("episode")
        verbose_name_plural = _("episodes")
        constraints = [
            models.UniqueConstraint(fields=["member", "kind", "start_date"], name="episode_unique_start"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="episode_dates_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.start_date}–{self.end_date or ''}"


class ReferenceValue(models.Model):
    """Reference data by year: average monthly pension (overall or by sector), average annual wage.

    Kept in `members` rather than `claims` because both the account credits (members) and
    settlement (claims) read it, and data flows from members to claims, never back.
    """

    class Kind(models.TextChoices):
        AVERAGE_PENSION = "average_pension", _("average monthly basic pension")
        AVERAGE_WAGE = "average_wage", _("average annual wage of urban employees")

    class Sector(models.TextChoices):
        ALL = "", _("all sectors")
        ENTERPRISE = "enterprise", _("enterprise")
        GOVERNMENT = "government", _("government and public institution")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    year = models.PositiveSmallIntegerField(_("year"))
    sector = models.CharField(_("sector"), max_length=16, choices=Sector.choices, default=Sector.ALL, blank=True)
    value = MoneyField(_("value"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reference value")
        verbose_name_plural = _("reference data")
        ordering = ["kind", "year", "sector"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "year", "sector"], name="reference_value_unique"),
            models.CheckConstraint(condition=Q(value__gt=0), name="reference_value_positive"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.year} {self.sector or ''}: {self.value}"


class PersonalAccount(models.Model):
    """A member's personal account (个人账户). The balance is the sum of its entries;
    `balance` is a cache updated in the same transaction as each entry."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="account")
    balance = MoneyField(_("balance"), default=0, editable=False)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField(_("opened on"))
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    # Carried over from the previous system (import_accounts): what was credited in the twelve
    # months before `carried_over_as_of` (Yangzhou's 2023 transition year, 003 二(二)2, needs it).
    carried_over_credits = MoneyField(_("credited in the 12 months before carry-over"), null=True, blank=True)
    carried_over_as_of = models.DateField(_("carried over as of"), null=True, blank=True)

    class Meta:
        verbose_name = _("personal account")
        verbose_name_plural = _("personal accounts")
        constraints = [
            # The account can never go below zero, whatever code path writes it.
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_not_negative"),
        ]

    def __str__(self):
        return f"{self.member} {self.balance}"


class LedgerEntry(models.Model):
    """One immutable movement of a personal account. Never edited or deleted: a mistake
    is corrected by a reversing entry that points to the entry it reverses."""

    class Kind(models.TextChoices):
        OPENING_BALANCE = "opening_balance", _("opening balance carried over")
        MONTHLY_CREDIT = "monthly_credit", _("monthly credit")
        CIVIL_SERVANT_SUBSIDY = "civil_servant_subsidy", _("civil-servant subsidy credit")
        SETTLEMENT_PAYMENT = "settlement_payment", _("settlement payment")
        SETTLEMENT_REFUND = "settlement_refund", _("settlement refund")
        FAMILY_SHARING_PAYMENT = "family_sharing_payment", _("family-sharing payment")
        PREMIUM_PAYMENT = "premium_payment", _("premium payment")
        WITHDRAWAL = "withdrawal", _("withdrawal")
        TRANSFER_OUT = "transfer_out", _("transfer out")
        INHERITANCE = "inheritance", _("inheritance")
        REVERSAL = "reversal", _("reversal")

    CREDIT_KINDS = (Kind.MONTHLY_CREDIT, Kind.CIVIL_SERVANT_SUBSIDY)

    account = models.ForeignKey(PersonalAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # Signed: money in is positive, money out negative.
    amount = MoneyField(_("amount"))
    balance_after = MoneyField(_("balance after"))
    # The month a credit is for (first day of the month); null for other kinds.
    period = models.DateField(_("credit month"), null=True, blank=True)
    # What caused it, readable years later: "settlement:123", "credit_run:2024-03", "decision:45".
    reference = models.CharField(_("reference"), max_length=64, blank=True, db_index=True)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["account", "pk"]
        constraints = [
            # A month is credited once per account and kind: a unique constraint, not a lookup.
            models.UniqueConstraint(
                fields=["account", "kind", "period"],
                condition=Q(kind__in=["monthly_credit", "civil_servant_subsidy"]),
                name="ledger_one_credit_per_month",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_not_negative"),
        ]

    def __str__(self):
        return f"{self.account_id} {self.get_kind_display()} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are immutable; post a reversing entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are never deleted; post a reversing entry instead.")


class CreditPolicy(models.Model):
    """One version of a region's account-credit policy (个人账户计入办法), loaded from a data file
    (`members/policies/<region>.json`, format in `members/policies/FORMAT.md`).

    The version in force for a month is the region's latest one whose `effective_from` is on or
    before the month; its rules carry their own month ranges.
    """

    class RetireeRatesFrom(models.TextChoices):
        # Zaozhuang 第七条(二)3 (当月), Ziyang 第五条: from the month retiree benefits start.
        RETIREMENT_MONTH = "retirement_month", _("the month of retirement")
        # Jinan (十四): from the month after retirement (次月).
        MONTH_AFTER_RETIREMENT = "month_after_retirement", _("the month after retirement")

    region = models.CharField(_("region"), max_length=16, choices=Region.choices, db_index=True)
    version = models.CharField(_("version"), max_length=32)
    title = models.CharField(_("title"), max_length=200, blank=True)
    source = models.CharField(_("source document"), max_length=200, blank=True)
    effective_from = models.DateField(_("effective from"))
    retiree_rates_from = models.CharField(
        _("retiree rates apply from"), max_length=24, choices=RetireeRatesFrom.choices,
        default=RetireeRatesFrom.RETIREMENT_MONTH,
    )
    # Premiums the account may pay (§3.2), e.g. [{"premium": "long_term_care_insurance", "for": ["self"]}].
    allowed_premiums = models.JSONField(_("premiums the account may pay"), default=list, blank=True)
    data = models.JSONField(_("file as loaded"), default=dict, blank=True)
    content_hash = models.CharField(_("content hash"), max_length=64, editable=False)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("loaded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("account-credit policy")
        verbose_name_plural = _("account-credit policies")
        ordering = ["region", "-effective_from"]
        constraints = [
            # Loading is idempotent per (region, version).
            models.UniqueConstraint(fields=["region", "version"], name="credit_policy_unique_version"),
        ]

    def __str__(self):
        return f"{self.get_region_display()} {self.version}"


class CreditRule(models.Model):
    """One rule of a credit policy: who it applies to, in which months, and the formula.

    Rules of a policy are tried in `position` order; the first that matches a member wins
    (per credit kind). Percentages, reference years and age bands are data, never code.
    """

    class Basis(models.TextChoices):
        CONTRIBUTION_BASE = "contribution_base", _("percent of the member's contribution base")
        MONTHLY_PENSION = "monthly_pension", _("percent of the member's monthly pension")
        AVERAGE_PENSION = "average_pension", _("percent of the average pension of a named year")
        OWN_CREDITS_OF_YEAR = "own_credits_of_year", _("the member's own credits of a named year, divided")
        CIVIL_SERVANT_BASE = "civil_servant_base", _("percent of the base (pension) of an anchor month")
        NONE = "none", _("no credit (no account)")

    class ReferenceSector(models.TextChoices):
        ALL = "", _("all sectors")
        ENTERPRISE = "enterprise", _("enterprise")
        GOVERNMENT = "government", _("government and public institution")
        MEMBER = "member", _("the member's own sector")

    policy = models.ForeignKey(CreditPolicy, verbose_name=_("policy"), on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(_("position"))
    credit_kind = models.CharField(
        _("credit kind"), max_length=32,
        choices=[("monthly_credit", _("monthly credit")), ("civil_servant_subsidy", _("civil-servant subsidy credit"))],
        default="monthly_credit",
    )
    cite = models.CharField(_("article"), max_length=100)
    valid_from = models.DateField(_("from month"))
    valid_to = models.DateField(_("to month"), null=True, blank=True)
    employment_status = models.CharField(
        _("employment status"), max_length=16, choices=Enrollment.EmploymentStatus.choices, blank=True,
    )
    category = models.CharField(_("category"), max_length=24, choices=Enrollment.Category.choices, blank=True)
    sector = models.CharField(_("sector"), max_length=16, choices=Enrollment.Sector.choices, blank=True)
    civil_servant_only = models.BooleanField(_("civil servants only"), default=False)
    min_age = models.PositiveSmallIntegerField(_("from age (turned in the month)"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("up to age"), null=True, blank=True)
    basis = models.CharField(_("basis"), max_length=24, choices=Basis.choices)
    # Null means the document leaves it open (param): a run that needs it stops.
    percent = PercentField(_("percent"), null=True, blank=True)
    divisor = models.PositiveSmallIntegerField(_("divisor"), null=True, blank=True)
    reference_year = models.PositiveSmallIntegerField(_("reference year"), null=True, blank=True)
    reference_sector = models.CharField(
        _("reference sector"), max_length=16, choices=ReferenceSector.choices, blank=True, default="",
    )
    anchor_month = models.DateField(_("anchor month"), null=True, blank=True)
    skip_reason = models.CharField(_("reason when no credit"), max_length=48, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("account-credit rule")
        verbose_name_plural = _("account-credit rules")
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="credit_rule_unique_position"),
        ]

    def __str__(self):
        return f"{self.policy} #{self.position} {self.cite}"


class CreditRun(models.Model):
    """One run of the monthly credits: what it credited, what it skipped and why."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        COMPLETED = "completed", _("completed")
        REFUSED = "refused", _("refused: reference data missing")
        INTERRUPTED = "interrupted", _("interrupted (superseded by a later run)")

    month = models.DateField(_("credit month"), db_index=True)
    region = models.CharField(_("region"), max_length=16, choices=Region.choices)
    policy = models.ForeignKey(
        CreditPolicy, verbose_name=_("policy"), null=True, blank=True, on_delete=models.PROTECT, related_name="runs",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The work is split by member pk: chunk n covers [first_member_id + n × chunk_size, … + chunk_size).
    first_member_id = models.BigIntegerField(_("first member id"), default=0)
    chunk_size = models.PositiveIntegerField(_("chunk size"), default=50000)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    accounts_opened = models.PositiveIntegerField(_("accounts opened"), default=0)
    members_credited = models.PositiveIntegerField(_("members credited"), default=0)
    total = MoneyField(_("total credited"), default=0)
    civil_servant_total = MoneyField(_("of which civil-servant subsidy"), default=0)
    # {"reason": count}: members not credited by this run, and why (e.g. "already_credited").
    skipped = models.JSONField(_("skipped, by reason"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("credit run")
        verbose_name_plural = _("credit runs")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"{self.get_region_display()} {month_label(self.month)} {self.get_status_display()}"

    @property
    def reference(self) -> str:
        return f"credit_run:{self.pk}"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None


class AccountDecision(models.Model):
    """A withdrawal-type decision on an account (Zaozhuang 第九条): proposed by one case worker,
    approved by another (separated duties), then executed by the approving service."""

    class Reason(models.TextChoices):
        TRANSFER_TO_ANOTHER_REGION = "transfer_to_another_region", _("transfer to another pooling region")
        RELOCATION = "relocation", _("relocation (异地安置)")
        SETTLING_ABROAD = "settling_abroad", _("settling abroad")
        DEATH = "death", _("death (inheritance)")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        EXECUTED = "executed", _("approved and executed")
        REJECTED = "rejected", _("rejected")

    account = models.ForeignKey(PersonalAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="decisions")
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    destination = models.CharField(_("destination"), max_length=200, blank=True)
    # Death: [{"name", "id_number", "share_percent"}] as recorded by the case worker.
    heirs = models.JSONField(_("heirs"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROPOSED)
    amount = MoneyField(_("amount paid out"), null=True, blank=True, editable=False)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("proposed by"), on_delete=models.PROTECT, related_name="+",
    )
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    rejection_reason = models.CharField(_("rejection reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("account withdrawal decision")
        verbose_name_plural = _("account withdrawal decisions")
        ordering = ["-proposed_at", "-pk"]
        constraints = [
            # One open proposal per account at a time: two could otherwise both pay the balance out.
            models.UniqueConstraint(fields=["account"], condition=Q(status="proposed"), name="account_decision_one_open"),
        ]

    def __str__(self):
        return f"{self.account_id} {self.get_reason_display()} {self.get_status_display()}"

    @property
    def reference(self) -> str:
        return f"decision:{self.pk}"


class LateRefund(models.Model):
    """Money refunded to an account after a withdrawal closed it (账户关闭后退款): a settlement
    paid from the account and reversed later. It is never left in the closed account: it waits
    here, listed for the agency, until a case worker approves paying it out the way the closing
    decision paid the balance (to its destination, or to the heirs by their shares)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("awaiting approval")
        PAID = "paid", _("approved and paid out")

    account = models.ForeignKey(PersonalAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="late_refunds")
    # The executed decision that closed the account (None: closed without one, e.g. imported).
    decision = models.ForeignKey(
        AccountDecision, verbose_name=_("closing decision"), null=True, blank=True, on_delete=models.PROTECT, related_name="late_refunds",
    )
    # The refund entry that brought the money (one late refund per entry: recording is idempotent).
    entry = models.OneToOneField(LedgerEntry, verbose_name=_("refund entry"), on_delete=models.PROTECT, related_name="late_refund")
    amount = MoneyField(_("amount"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    decided_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund to a closed account")
        verbose_name_plural = _("refunds to closed accounts")
        ordering = ["status", "-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="late_refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="late_refund_paid_has_approver",
            ),
        ]

    def __str__(self):
        return f"{self.account_id} {self.amount} {self.get_status_display()}"

    @property
    def reference(self) -> str:
        return f"late-refund:{self.pk}"
