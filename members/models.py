"""Members, their effective-dated enrollment, family links, registrations, episodes,
reference data and personal accounts with their immutable ledger."""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from core.idnumber import mask_id_number, parse_id_number
from core.money import MoneyField


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
        constraints = [
            # A deceased member has a date of death, and only a deceased member has one.
            models.CheckConstraint(
                condition=Q(status="deceased", died_on__isnull=False) | (~Q(status="deceased") & Q(died_on__isnull=True)),
                name="member_death_date_iff_deceased",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.masked_id_number})"

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def save(self, *args, **kwargs):
        # Sex and birth date are facts of the ID number (GB 11643), never typed in.
        facts = parse_id_number(self.id_number)
        self.birth_date, self.sex = facts.birth_date, facts.sex
        super().save(*args, **kwargs)

    def clean(self):
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
        return self.enrollments.filter(effective_from__lte=day).order_by("-effective_from").first()


class Enrollment(models.Model):
    """One effective-dated spell of a member's enrollment facts.

    Never overwritten: a change is a new row from its effective date; the spell in
    force on a day is the latest one that started on or before it.
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
    pre_1949_veteran = models.BooleanField(_("pre-1949 veteran worker"), default=False)
    employer_name = models.CharField(_("employer"), max_length=200, blank=True)
    employer_credit_code = models.CharField(_("employer unified social credit code"), max_length=18, blank=True)
    contribution_base = MoneyField(_("monthly contribution base"), null=True, blank=True)
    monthly_pension = MoneyField(_("monthly pension"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

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
    relative = models.ForeignKey(Member, verbose_name=_("relative"), on_delete=models.PROTECT, related_name="+")
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
            # At most one spouse at a time.
            models.UniqueConstraint(fields=["member"], condition=Q(relation="spouse"), name="family_link_one_spouse"),
        ]

    def __str__(self):
        # The relative's str masks the ID number (admin log, lists); select_related("relative").
        return f"{self.get_relation_display()}: {self.relative}"


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
        return f"{self.account_id} {self.kind} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are immutable; post a reversing entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are never deleted; post a reversing entry instead.")
