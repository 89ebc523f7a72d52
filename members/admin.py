"""Admin for members and their base data. Thin: family links go through the services."""

import re

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.db.models.functions import Right
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import AddOnlyInlineMixin, HistoryAdmin, LargeTableMixin
from core.errors import DomainError
from core.idnumber import mask_id_number, normalize_id_number
from core.imports.admin import ImportExportMixin, ImportMixin  # within the import limits
from core.member_page import sections_for
from core.params import year_or_default

from .models import Enrollment, Episode, FamilyLink, Member, PrimaryCareRegistration, ReferenceValue, Registration
from .resources import (
    EpisodeResource,
    FamilyLinkResource,
    MemberResource,
    ReferenceValueResource,
    RegistrationResource,
)
from .services import (
    EnrollmentRefused,
    enrollment_add,
    enrollment_check_schemes,
    family_link_check,
    family_link_create,
    family_link_create_outside,
    family_link_delete,
    family_link_outside_check,
    primary_care_check,
    primary_care_register,
)

FULL_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
ID_NUMBER_PREFIX = re.compile(r"^\d{6,17}$")
LAST_FOUR = re.compile(r"^\d{3}[\dX]$")
# What the masked lists show: 370402********1234 (any number of stars, or an ellipsis).
MASKED_ID_NUMBER = re.compile(r"^(\d{6})(?:\*+|…|\.\.\.)(\d{3}[\dX])$")


def search_members(queryset: QuerySet, term: str, prefix: str = "") -> QuerySet:
    """Find members as a case worker on the phone would.

    - a full ID number: exact (the unique index);
    - its leading digits (6 to 17): prefix (the same index);
    - the masked form the lists show (370402********1234): region prefix and last four;
    - four characters: the last four of the ID number (a functional index, migration 0005);
    - anything else: any part of the name (a trigram index on PostgreSQL).

    Written out rather than left to `search_fields`: Django's "=" and "icontains" lookups
    wrap the column in UPPER(), which no index serves on a million rows.
    """
    term = normalize_id_number(term)
    if not term:
        return queryset
    id_field = f"{prefix}id_number"
    if FULL_ID_NUMBER.match(term):
        return queryset.filter(**{id_field: term})
    if ID_NUMBER_PREFIX.match(term):
        return queryset.filter(**{f"{id_field}__startswith": term})
    masked = MASKED_ID_NUMBER.match(term)
    if masked:
        return queryset.alias(_last4=Right(id_field, 4)).filter(
            **{f"{id_field}__startswith": masked[1], "_last4": masked[2]}
        )
    if LAST_FOUR.match(term):
        return queryset.alias(_last4=Right(id_field, 4)).filter(_last4=term)
    return queryset.filter(**{f"{prefix}name__contains": term})


SEARCH_HELP = _(
    "Full ID number, its first digits, the masked number the lists show, its last four digits, or any part of the name."
)


class MemberSearchMixin:
    """Lists of things that belong to a member are searched by that member."""

    search_fields = ["member__id_number", "member__name"]
    search_help_text = SEARCH_HELP

    def get_search_results(self, request, queryset, search_term):
        return search_members(queryset, search_term, prefix="member__"), False


# "name" is one msgid shared with providers and catalog items (名称); a person has a 姓名.
@admin.display(description=_("full name"), ordering="name")
def member_name(member: Member) -> str:
    return member.name


@admin.display(description=_("ID number"), ordering="id_number")
def member_masked_id_number(member: Member) -> str:
    return mask_id_number(member.id_number)


# The masked digits of an ID number are the birth date: a list shows the age, never the date.
@admin.display(description=_("age"), ordering="-birth_date")
def member_age(member: Member) -> int:
    return member.age_on(timezone.localdate())


# Inlines of the member page ---------------------------------------------------------------


class EnrollmentFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        spells = [(spell.effective_from, spell.scheme) for spell in self.get_queryset()]
        for form in self.extra_forms:
            if form.has_changed() and form.is_valid() and not form.cleaned_data.get("DELETE"):
                spells.append((form.cleaned_data["effective_from"], form.cleaned_data["scheme"]))
        try:
            enrollment_check_schemes(spells)  # Ziyang 第八条(二): pooled-only → combined once, never back
        except EnrollmentRefused as error:
            raise forms.ValidationError(error.message, code=error.code) from error


class EnrollmentInline(AddOnlyInlineMixin, admin.TabularInline):
    """Enrollment history is never overwritten: a change is a new spell from its date."""

    model = Enrollment
    formset = EnrollmentFormSet
    fields = [
        "effective_from", "employment_status", "retired_on", "scheme", "category", "sector",
        "civil_servant", "civil_servant_regularized", "pre_1949_veteran", "employer_name", "employer_credit_code",
        "contribution_base", "monthly_pension", "benefits_from", "recorded_at", "recorded_by",
    ]
    readonly_fields = ["recorded_at", "recorded_by"]
    ordering = ["effective_from"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")


def check_family_link_form(form, member) -> None:
    """A link names a member, or a relative outside the registry by ID number and name (never
    both); the service's checks say which family rule is broken."""
    cleaned = form.cleaned_data
    relative, relation = cleaned.get("relative"), cleaned.get("relation")
    id_number, name = cleaned.get("relative_id_number") or "", cleaned.get("relative_name") or ""
    if relative is not None and (id_number or name):
        form.add_error("relative_id_number", _("Choose a member, or give the ID number and name of a relative outside the registry, not both."))
        return
    if relative is None and not id_number:
        form.add_error("relative", _("Choose the relative (a member), or give the ID number and name of a relative outside the registry."))
        return
    if member is None or not relation:
        return
    try:
        if relative is not None:
            family_link_check(member=member, relative=relative, relation=relation)
        else:
            cleaned["relative_id_number"] = family_link_outside_check(
                member=member, relative_id_number=id_number, relative_name=name, relation=relation)
    except DomainError as error:
        form.add_error(None, str(error.message))


class FamilyLinkFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        new_spouses = 0
        for form in self.extra_forms:
            if not form.has_changed() or not form.is_valid() or form.cleaned_data.get("DELETE"):
                continue
            new_spouses += form.cleaned_data.get("relation") == FamilyLink.Relation.SPOUSE
            check_family_link_form(form, self.instance)
        if new_spouses > 1:
            raise forms.ValidationError(_("A member has at most one spouse at a time."))


class FamilyLinkForm(forms.ModelForm):
    class Meta:
        model = FamilyLink
        fields = ["relative", "relative_id_number", "relative_name", "relation"]

    def validate_unique(self):
        # The service's check (family_link_check) says which family rule is broken in
        # words a case worker understands; the database constraints stay as the backstop.
        pass


class FamilyLinkInline(admin.TabularInline):
    """Adding a link adds its inverse too (family_link_create); deleting removes both."""

    model = FamilyLink
    fk_name = "member"
    form = FamilyLinkForm
    formset = FamilyLinkFormSet
    # A relative outside the registry (insured elsewhere or not at all) has no member record:
    # give their ID number and name instead of choosing a member.
    fields = ["relative", "relative_id_number", "relative_name", "relation", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["relative"]
    extra = 0

    def has_change_permission(self, request, obj=None):
        # A link is added or removed, never edited into another relation.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("relative")


class RegistrationInline(admin.TabularInline):
    model = Registration
    fields = ["kind", "place", "division_code", "valid_from", "valid_to"]
    extra = 0


class PrimaryCareFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        new = [form for form in self.extra_forms
               if form.has_changed() and form.is_valid() and not form.cleaned_data.get("DELETE")]
        if len(new) > 1:
            raise forms.ValidationError(_("Register one primary-care provider at a time."))
        for form in new:
            provider, valid_from = form.cleaned_data.get("provider"), form.cleaned_data.get("valid_from")
            if provider is None or valid_from is None:
                continue
            try:
                primary_care_check(member=self.instance, provider=provider, valid_from=valid_from)
            except DomainError as error:
                form.add_error("valid_from", str(error.message))


class PrimaryCareForm(forms.ModelForm):
    class Meta:
        model = PrimaryCareRegistration
        fields = ["provider", "valid_from"]

    def validate_unique(self):
        # primary_care_check names the rule (a start after the latest registration).
        pass


class PrimaryCareInline(AddOnlyInlineMixin, admin.TabularInline):
    """The member's primary-care provider and its history (capitation pays on it). A new row is
    a registration or a change (primary_care_register ends the current one the day before)."""

    model = PrimaryCareRegistration
    form = PrimaryCareForm
    formset = PrimaryCareFormSet
    fields = ["provider", "valid_from", "valid_to", "registered_by", "registered_at"]
    readonly_fields = ["valid_to", "registered_by", "registered_at"]
    autocomplete_fields = ["provider"]
    extra = 0

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider", "registered_by")


class EpisodeInline(admin.TabularInline):
    model = Episode
    fields = ["kind", "start_date", "end_date"]
    extra = 0


# Members -------------------------------------------------------------------------------


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ["id_number", "name", "phone", "status", "died_on"]
        labels = {"name": _("full name")}

    def clean_id_number(self):
        return normalize_id_number(self.cleaned_data["id_number"])

    def clean(self):
        cleaned = super().clean()
        deceased = cleaned.get("status") == Member.Status.DECEASED
        if deceased and not cleaned.get("died_on"):
            self.add_error("died_on", _("A deceased member needs the date of death."))
        if not deceased and cleaned.get("died_on"):
            self.add_error("died_on", _("Only a deceased member has a date of death."))
        return cleaned


@admin.register(Member)
class MemberAdmin(ImportMixin, LargeTableMixin, HistoryAdmin):
    # Import with preview (django-import-export); no export: a list of full ID numbers
    # must not leave the system from a changelist.
    resource_classes = [MemberResource]
    form = MemberForm
    list_display = [member_name, member_masked_id_number, "sex", member_age, "status"]
    list_filter = ["status", "sex"]
    # No foreign key is listed: the list is one query for the page, whatever its size.
    list_select_related = False
    ordering = ["-pk"]  # the primary key's index: the newest first, without a sort
    search_fields = ["id_number", "name"]  # see get_search_results
    search_help_text = SEARCH_HELP
    readonly_fields = ["sex", "birth_date", "created_at", "updated_at"]
    inlines = [EnrollmentInline, FamilyLinkInline, RegistrationInline, PrimaryCareInline, EpisodeInline]

    def get_fields(self, request, obj=None):
        return ["id_number", "name", "sex", "birth_date", "phone", "status", "died_on",
                "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The ID number is the member's identity with every provider; not retyped.
            fields.insert(0, "id_number")
        return fields

    def get_search_results(self, request, queryset, search_term):
        return search_members(queryset, search_term), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The phone call: the year so far and the flags, by the apps' own read services
        # (core.member_page); the year is selectable (?year=).
        member = self.get_object(request, object_id)
        if member is not None and request.method == "GET":
            today = timezone.localdate()
            year = year_or_default(request.GET.get("year"), today.year)
            extra_context = {
                **(extra_context or {}),
                "member_year": year,
                "member_year_choices": list(range(today.year, today.year - 5, -1)),
                "member_sections": sections_for(request, member, year),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_formset(self, request, form, formset, change):
        if formset.model is FamilyLink:
            formset.save(commit=False)
            for link in formset.deleted_objects:
                family_link_delete(link=link, user=request.user)
            for link_form in formset.extra_forms:
                if link_form.has_changed() and not link_form.cleaned_data.get("DELETE"):
                    create_family_link(form.instance, link_form.cleaned_data, request.user)
            return
        if formset.model is PrimaryCareRegistration:
            formset.save(commit=False)  # the formset's bookkeeping for the change message
            formset.new_objects = []
            for care_form in formset.extra_forms:
                if care_form.has_changed() and not care_form.cleaned_data.get("DELETE"):
                    formset.new_objects.append(primary_care_register(member=form.instance, provider=care_form.cleaned_data["provider"],
                                          valid_from=care_form.cleaned_data["valid_from"], user=request.user))
            return
        if formset.model is Enrollment:
            formset.save(commit=False)  # the formset's bookkeeping for the change message
            formset.new_objects = [
                enrollment_add(member=form.instance, user=request.user, **enrollment_facts(spell_form.cleaned_data))
                for spell_form in formset.extra_forms
                if spell_form.has_changed() and not spell_form.cleaned_data.get("DELETE")
            ]
            return
        super().save_formset(request, form, formset, change)


# The member's base data, one list each ------------------------------------------------------


class EnrollmentForm(forms.ModelForm):
    class Meta:
        model = Enrollment
        fields = [
            "member", "effective_from", "employment_status", "retired_on", "scheme", "category", "sector",
            "civil_servant", "civil_servant_regularized", "pre_1949_veteran", "employer_name", "employer_credit_code",
            "contribution_base", "monthly_pension", "benefits_from",
        ]

    def clean(self):
        cleaned = super().clean()
        member, day, scheme = cleaned.get("member"), cleaned.get("effective_from"), cleaned.get("scheme")
        if member and day and scheme:
            spells = list(member.enrollments.values_list("effective_from", "scheme"))
            try:
                enrollment_check_schemes([*spells, (day, scheme)])  # Ziyang 第八条(二)
            except EnrollmentRefused as error:
                raise forms.ValidationError(error.message, code=error.code) from error
        return cleaned


@admin.register(Enrollment)
class EnrollmentAdmin(MemberSearchMixin, LargeTableMixin, admin.ModelAdmin):
    """Spells are added, never edited or deleted (the history is the table itself)."""

    form = EnrollmentForm
    list_display = ["member", "effective_from", "employment_status", "scheme", "category", "sector",
                    "recorded_at", "recorded_by"]
    list_select_related = ["member", "recorded_by"]
    list_filter = ["employment_status", "scheme", "category", "sector", "civil_servant"]
    autocomplete_fields = ["member"]
    readonly_fields = ["recorded_at", "recorded_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Added only (no change permission): through the enrollment service, audited.
        saved = enrollment_add(member=form.cleaned_data["member"], user=request.user,
                               **enrollment_facts(form.cleaned_data))
        obj.pk, obj.recorded_by, obj.recorded_at = saved.pk, saved.recorded_by, saved.recorded_at
        obj._state.adding = False


def enrollment_facts(cleaned: dict) -> dict:
    """The spell's facts from an enrollment form (the member, the form's bookkeeping left out)."""
    return {name: cleaned[name] for name in ENROLLMENT_FORM_FACTS if name in cleaned}


ENROLLMENT_FORM_FACTS = [
    "effective_from", "employment_status", "retired_on", "scheme", "category", "sector",
    "civil_servant", "civil_servant_regularized", "pre_1949_veteran", "employer_name", "employer_credit_code",
    "contribution_base", "monthly_pension", "benefits_from",
]


def create_family_link(member, cleaned: dict, user) -> FamilyLink:
    if cleaned.get("relative") is not None:
        return family_link_create(member=member, relative=cleaned["relative"], relation=cleaned["relation"], user=user)
    return family_link_create_outside(member=member, relative_id_number=cleaned["relative_id_number"],
                                      relative_name=cleaned["relative_name"], relation=cleaned["relation"], user=user)


@admin.display(description=_("relative"))
def family_link_relative(link: FamilyLink) -> str:
    if link.relative_id is None:
        return f"{link.relative_name} {mask_id_number(link.relative_id_number)} ({_('outside the registry')})"
    return str(link.relative)


class FamilyLinkAddForm(forms.ModelForm):
    class Meta:
        model = FamilyLink
        fields = ["member", "relative", "relative_id_number", "relative_name", "relation"]

    def clean(self):
        cleaned = super().clean()
        check_family_link_form(self, cleaned.get("member"))
        return cleaned

    def _post_clean(self):
        # When family_link_check has refused, the database constraints it mirrors would
        # only repeat the refusal in their own words ("constraint ... is violated").
        if not self._errors:
            super()._post_clean()


@admin.register(FamilyLink)
class FamilyLinkAdmin(ImportMixin, MemberSearchMixin, LargeTableMixin, HistoryAdmin):
    resource_classes = [FamilyLinkResource]
    form = FamilyLinkAddForm
    list_display = ["member", "relation", family_link_relative, "created_at"]
    list_select_related = ["member", "relative"]
    list_filter = ["relation"]
    autocomplete_fields = ["member", "relative"]
    readonly_fields = ["created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        link = create_family_link(obj.member, form.cleaned_data, request.user)
        # The admin goes on with `obj` (its log entry and redirect): make it the saved link.
        obj.pk, obj.created_at = link.pk, link.created_at
        obj._state.adding = False

    def delete_model(self, request, obj):
        family_link_delete(link=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for link in queryset:
            if FamilyLink.objects.filter(pk=link.pk).exists():  # its inverse may be gone already
                family_link_delete(link=link, user=request.user)


@admin.register(Registration)
class RegistrationAdmin(ImportMixin, MemberSearchMixin, LargeTableMixin, HistoryAdmin):
    resource_classes = [RegistrationResource]
    list_display = ["member", "kind", "place", "valid_from", "valid_to"]
    list_select_related = ["member"]
    list_filter = ["kind", "place"]
    autocomplete_fields = ["member"]


@admin.register(Episode)
class EpisodeAdmin(ImportMixin, MemberSearchMixin, LargeTableMixin, HistoryAdmin):
    resource_classes = [EpisodeResource]
    list_display = ["member", "kind", "start_date", "end_date"]
    list_select_related = ["member"]
    list_filter = ["kind"]
    autocomplete_fields = ["member"]


@admin.register(ReferenceValue)
class ReferenceValueAdmin(ImportExportMixin, HistoryAdmin):
    resource_classes = [ReferenceValueResource]
    list_display = ["kind", "year", "sector", "value"]
    list_filter = ["kind", "year", "sector"]
    ordering = ["kind", "-year", "sector"]


# Personal accounts, credit runs and withdrawal decisions; the account (balance, status, a link
# to its entries and yearly statement) shows on the member page too.
from . import admin_accounts  # noqa: E402

MemberAdmin.inlines = [*MemberAdmin.inlines, admin_accounts.PersonalAccountInline]
