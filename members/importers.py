"""Imports of members' base data: members with their enrollment, family links, out-of-area
registrations, episodes, reference data and opening account balances (CONTRACT.md columns).

Each importer's `parse_row` is pure (no database): the admin resources and the commands share
it. See core.imports.pipeline for the pipeline."""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.bulk import insert_new
from core.imports.pipeline import (
    CREATED,
    UNCHANGED,
    UPDATED,
    Cells,
    Column,
    Importer,
    ParsedRow,
    choice_map,
)
from core.imports.upsert import UpsertImporter

from .models import (
    Enrollment,
    Episode,
    FamilyLink,
    LedgerEntry,
    Member,
    PersonalAccount,
    ReferenceValue,
    Registration,
)
from .services.enrollment import EnrollmentRefused, enrollment_check_schemes

PHONE = re.compile(r"^[0-9+\- ()]{1,32}$")
ID_NUMBER = Column("id_number", "身份证号", required=True, aliases=("身份证号码", "公民身份号码", "证件号码"))

EMPLOYMENT_STATUS = choice_map(Enrollment.EmploymentStatus.choices, {
    "在职": "in_service", "在职职工": "in_service", "退休": "retired", "退休人员": "retired"})
SCHEME = choice_map(Enrollment.Scheme.choices, {"统账结合": "combined", "单建统筹": "pooled_only"})
CATEGORY = choice_map(Enrollment.Category.choices, {
    "职工": "employee", "单位职工": "employee", "灵活就业": "flexible_employment",
    "灵活就业人员": "flexible_employment"})
SECTOR = choice_map(Enrollment.Sector.choices, {
    "企业": "enterprise", "机关事业单位": "government", "机关事业": "government", "机关": "government"})
MEMBER_STATUS = choice_map(Member.Status.choices, {
    "正常": "active", "参保": "active", "暂停": "suspended", "中止": "suspended", "终止": "terminated",
    "死亡": "deceased"})
RELATION = choice_map(FamilyLink.Relation.choices, {
    "配偶": "spouse", "父母": "parent", "父亲": "parent", "母亲": "parent",
    "子女": "child", "儿子": "child", "女儿": "child"})
REGISTRATION_KIND = choice_map(Registration.Kind.choices, {
    "异地长期居住": "long_term_residence", "异地长期居住人员": "long_term_residence", "长期居住": "long_term_residence"})
PLACE = choice_map(Registration.Place.choices, {"省内": "in_province", "省外": "out_of_province",
                                                "省内异地": "in_province", "跨省异地": "out_of_province"})
EPISODE_KIND = choice_map(Episode.Kind.choices, {
    "住院": "inpatient_stay", "住院期间": "inpatient_stay", "居家护理": "ltc_home_care",
    "机构护理": "ltc_institutional_care", "医疗专护": "ltc_medical_care",
    # The Chinese labels, whatever the reader's language, with the full-width colon or the ASCII
    # one they had before (a file saved from an older export).
    "长期护理：居家护理": "ltc_home_care", "长期护理：机构护理": "ltc_institutional_care",
    "长期护理：医疗专护": "ltc_medical_care",
    "长期护理:居家护理": "ltc_home_care", "长期护理:机构护理": "ltc_institutional_care",
    "长期护理:医疗专护": "ltc_medical_care"})
REFERENCE_KIND = choice_map(ReferenceValue.Kind.choices, {
    "基本养老金平均水平": "average_pension", "平均养老金": "average_pension", "月平均养老金": "average_pension",
    "城镇单位就业人员年平均工资": "average_wage", "全口径城镇单位就业人员年平均工资": "average_wage",
    "年平均工资": "average_wage", "社平工资": "average_wage"})
REFERENCE_SECTOR = choice_map(ReferenceValue.Sector.choices, {
    "全部": "", "全口径": "", "企业": "enterprise", "机关事业单位": "government", "机关事业": "government"})


def _member_ids(importer: Importer, rows, fail, column: str = "id_number", target: str = "member_id") -> None:
    """Resolve each row's ID number to a member pk (values[target]); unknown members are row errors."""
    found = importer.pks_by(Member.objects, "id_number", (row.values[column] for row in rows))
    for row in rows:
        pk = found.get(row.values[column])
        if pk is None:
            fail(row, column, _("No member has this ID number; import the member first."))
            row.values["_skip"] = True
        else:
            row.values[target] = pk


# --------------------------------------------------------------------------------------
# Members


ENROLLMENT_FACTS = (
    "employment_status", "retired_on", "scheme", "category", "sector", "civil_servant", "pre_1949_veteran",
    "contribution_base", "monthly_pension", "employer_name", "employer_credit_code",
)
# A known member, read as a tuple: what a row is compared with.
Known = namedtuple("Known", ("pk", "id_number", "name", "phone", "status", "died_on"))
# The latest recorded spell of a member, read as a tuple (cheaper than 100k model instances).
Spell = namedtuple("Spell", ("effective_from", *ENROLLMENT_FACTS))


class MemberImporter(Importer):
    """Members and their enrollment.

    A new member gets a first enrollment spell from `enrolled_on`. For a known member the row
    is compared with the latest spell: if any enrollment fact differs, a NEW spell is added
    (history is never overwritten), starting on `effective_from` if given, else on `retired_on`
    for a retirement, else on the import day. Columns absent from the file keep their recorded
    values. `enrolled_on` of a known member is not changed (the first spell is history).
    """

    kind = "members"
    columns = (
        ID_NUMBER,
        Column("name", "姓名", required=True),
        Column("employment_status", "在职状态", required=True, aliases=("人员状态", "在职退休")),
        Column("scheme", "参保方式", required=True, aliases=("保障方式", "统账方式")),
        Column("category", "人员类别", aliases=("参保类别",)),
        Column("sector", "单位类型", aliases=("单位性质",)),
        Column("civil_servant", "公务员医疗补助", aliases=("享受公务员医疗补助",)),
        Column("pre_1949_veteran", "建国前老工人"),
        Column("contribution_base", "缴费基数", aliases=("月缴费基数",)),
        Column("monthly_pension", "月养老金", aliases=("养老金", "基本养老金")),
        Column("enrolled_on", "参保日期", required=True),
        Column("retired_on", "退休日期"),
        Column("status", "参保状态"),
        Column("died_on", "死亡日期"),
        Column("phone", "联系电话", aliases=("电话", "手机号")),
        # Beyond the contract: when a changed row's new spell starts, and the employer.
        Column("effective_from", "生效日期"),
        Column("employer_name", "单位名称"),
        Column("employer_credit_code", "统一社会信用代码"),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values: dict[str, Any] = {
            "id_number": cells.id_number(),
            "name": cells.text("name", required=True, max_length=100),
            "employment_status": cells.choice("employment_status", EMPLOYMENT_STATUS),
            "scheme": cells.choice("scheme", SCHEME),
            "category": cells.choice("category", CATEGORY, default="employee"),
            "sector": cells.choice("sector", SECTOR, default="enterprise"),
            "civil_servant": cells.boolean("civil_servant", default=False),
            "pre_1949_veteran": cells.boolean("pre_1949_veteran", default=False),
            "contribution_base": cells.decimal("contribution_base", minimum=0),
            "monthly_pension": cells.decimal("monthly_pension", minimum=0),
            "enrolled_on": cells.date("enrolled_on", required=True),
            "retired_on": cells.date("retired_on"),
            "status": cells.choice("status", MEMBER_STATUS, default="active"),
            "died_on": cells.date("died_on"),
            "phone": cells.get("phone"),
            "effective_from": cells.date("effective_from"),
            "employer_name": cells.text("employer_name", max_length=200),
            "employer_credit_code": cells.get("employer_credit_code").upper(),
        }
        if values["phone"] and not PHONE.match(values["phone"]):
            cells.fail("phone", _("A phone number holds digits, spaces and + - ( ) only."))
        code = values["employer_credit_code"]
        if code and (len(code) != 18 or not code.isalnum()):
            cells.fail("employer_credit_code", _("A unified social credit code has 18 letters or digits."))
        if values["id_number"]:
            facts = cells.facts["id_number"]
            values["birth_date"], values["sex"] = facts.birth_date, facts.sex
            for key in ("enrolled_on", "retired_on", "died_on", "effective_from"):
                if values[key] and values[key] < facts.birth_date:
                    cells.fail(key, _("This date is before the birth date in the ID number."))
        if values["employment_status"] == "in_service":
            if values["retired_on"]:
                cells.fail("retired_on", _("An in-service member has no retirement date."))
            if values["monthly_pension"] is not None:
                cells.fail("monthly_pension", _("An in-service member has no pension."))
            if values["contribution_base"] is None and not any(k == "contribution_base" for k, _r in cells.problems):
                cells.fail("contribution_base", _("An in-service member needs a contribution base."))
        if values["status"] == "deceased" and not values["died_on"]:
            cells.fail("died_on", _("A deceased member needs a date of death."))
        if values["died_on"] and values["status"] != "deceased":
            cells.fail("status", _("A date of death is given: the status must be deceased."))
        return values, cells.problems

    def key(self, values):
        return values["id_number"], "id_number"

    def plan(self, rows, fail):
        present = self.present
        # New members and spells are plain dicts (attname → value): 100k model instances
        # would cost more than the insert itself (core.bulk).
        self._new_members: list[tuple[ParsedRow, dict]] = []
        self._new_spells: list[tuple[ParsedRow | None, dict]] = []  # row set: member created in this import
        self._member_updates: list[tuple[int, dict]] = []  # (pk, changed fields)
        self._known_rows: list[tuple[ParsedRow, int]] = []
        today = timezone.localdate()
        for chunk in self.chunks(rows):
            existing = {k.id_number: k for k in map(Known._make, self.any_of(
                Member.objects, "id_number", [r.values["id_number"] for r in chunk]).values_list(*Known._fields))}
            latest: dict[int, Enrollment] = {}
            schemes: dict[int, list[tuple[date, str]]] = {}
            if existing:
                spells = self.any_of(Enrollment.objects, "member", [m.pk for m in existing.values()]).order_by(
                    "member_id", "effective_from").values_list("member_id", "effective_from", *ENROLLMENT_FACTS)
                for member_id, effective_from, *facts in spells:
                    latest[member_id] = Spell(effective_from, *facts)
                    schemes.setdefault(member_id, []).append((effective_from, latest[member_id].scheme))
            for row in chunk:
                values = row.values
                member = existing.get(values["id_number"])
                if member is None:
                    self._new_members.append((row, {
                        "id_number": values["id_number"], "name": values["name"], "sex": values["sex"],
                        "birth_date": values["birth_date"], "phone": values["phone"], "status": values["status"],
                        "died_on": values["died_on"],
                    }))
                    self._new_spells.append((row, self._spell(None, values, values["enrolled_on"])))
                    row.action = CREATED
                    continue
                row.action = UNCHANGED
                self._known_rows.append((row, member.pk))
                member_fields = ["name"] + [k for k in ("phone", "status", "died_on") if k in present]
                if any(getattr(member, k) != values[k] for k in member_fields):
                    self._member_updates.append((member.pk, {k: values[k] for k in member_fields}))
                    row.action = UPDATED
                spell = latest.get(member.pk)
                if spell is None:
                    self._new_spells.append((None, self._spell(member.pk, values, values["enrolled_on"])))
                    row.action = UPDATED
                    continue
                # Columns absent from the file keep the recorded facts.
                facts = {k: (values[k] if self._given(k) else getattr(spell, k)) for k in ENROLLMENT_FACTS}
                if all(getattr(spell, k) == facts[k] for k in ENROLLMENT_FACTS):
                    continue
                # Ziyang 第八条(二): pooled-only may switch to combined once, never back. The one
                # rule (members.rules.scheme_change_refusal) every path asks; the new spell follows
                # the latest (its day is checked below), whatever day the file gives.
                try:
                    enrollment_check_schemes([*schemes[member.pk], (date.max, facts["scheme"])])
                except EnrollmentRefused as error:
                    fail(row, "scheme", str(error.message))
                    continue
                starts = values["effective_from"]
                if starts is None and facts["employment_status"] == "retired" and spell.employment_status != "retired":
                    starts = facts["retired_on"]
                starts = starts or today
                if starts <= spell.effective_from:
                    fail(row, "effective_from", _("The enrollment facts changed; the new spell must start after "
                                                  "the latest one (%(day)s): give a later effective_from.")
                         % {"day": spell.effective_from.isoformat()})
                    continue
                self._new_spells.append((None, self._spell(member.pk, facts, starts)))
                row.action = UPDATED

    @property
    def _user_id(self):
        return getattr(self.user, "pk", None)

    def _given(self, key: str) -> bool:
        # A fact whose column is absent is kept; the defaulted flags count as given only if present.
        return key in self.present or key in ("employment_status", "scheme")

    def _spell(self, member_id: int | None, values: dict[str, Any], starts: date) -> dict[str, Any]:
        spell = {k: values[k] for k in ENROLLMENT_FACTS}
        for k, default in _FACT_DEFAULTS.items():
            if spell[k] is None:
                spell[k] = default
        spell["member_id"], spell["effective_from"], spell["recorded_by_id"] = member_id, starts, self._user_id
        return spell

    def apply(self, rows, progress):
        size = self.batch_size
        ids = insert_new(Member, [member for _row, member in self._new_members], history=True, user=self.user,
                         change_reason=self.change_reason, progress=progress)
        member_of_row = {}
        for (row, member), pk in zip(self._new_members, ids, strict=True):
            member_of_row[row.number] = pk
            if self.keep_instances:
                row.instance = Member(pk=pk, **member)
        now = timezone.now()
        for start in range(0, len(self._member_updates), size):
            changes = dict(self._member_updates[start:start + size])
            batch = list(Member.objects.in_bulk(list(changes)).values())
            for member in batch:
                for name, value in changes[member.pk].items():
                    setattr(member, name, value)
                member.updated_at = now
            bulk_update_with_history(batch, Member, ["name", "phone", "status", "died_on", "updated_at"],
                                     batch_size=size, **self.history_kwargs())
            progress(len(batch))
        if self.keep_instances:  # the admin logs each row against its member
            for start in range(0, len(self._known_rows), size):
                batch = self._known_rows[start:start + size]
                found = Member.objects.in_bulk([pk for _row, pk in batch])
                for row, pk in batch:
                    row.instance = found[pk]
        spells = []
        for row, spell in self._new_spells:
            if row is not None:
                spell["member_id"] = member_of_row[row.number]
            spells.append(spell)
        insert_new(Enrollment, spells, history=False)


_FACT_DEFAULTS = {"employer_name": "", "employer_credit_code": "", "civil_servant": False, "pre_1949_veteran": False}


# --------------------------------------------------------------------------------------
# Family links


class FamilyLinkImporter(Importer):
    """Family links (家庭共济), stored in both directions; never to oneself; one spouse at most.

    A row whose relative is not a member but has a `relative_name` links a relative outside
    the registry (insured elsewhere or not at all; CONTRACT.md "Account-only settlement"): one
    way, from the member whose account may pay for them."""

    kind = "family_links"
    columns = (
        ID_NUMBER,
        Column("relative_id_number", "亲属身份证号", required=True, aliases=("亲属身份证号码",)),
        Column("relation", "关系", required=True, aliases=("亲属关系", "与本人关系")),
        Column("relative_name", "亲属姓名", aliases=("家属姓名",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "relative_id_number": cells.id_number("relative_id_number"),
            "relation": cells.choice("relation", RELATION),
            "relative_name": cells.text("relative_name", max_length=100),
        }
        if values["id_number"] and values["id_number"] == values["relative_id_number"]:
            cells.fail("relative_id_number", _("A member cannot be linked to themselves."))
        return values, cells.problems

    def key(self, values):
        # A→B and B→A are the same link.
        return frozenset((values["id_number"], values["relative_id_number"])), "relative_id_number"

    def plan(self, rows, fail):
        found = self.pks_by(
            Member.objects, "id_number",
            [r.values["id_number"] for r in rows] + [r.values["relative_id_number"] for r in rows])
        member_ids = sorted(set(found.values()))
        links: dict[tuple[int, int], str] = {}
        # A spouse is a member's id, or ("outside", ID number) for a relative outside the registry.
        spouse_of: dict[int, object] = {}
        outside: dict[tuple[int, str], str] = {}
        for chunk in self.chunks(member_ids):
            for a, b, relation, outside_id in FamilyLink.objects.filter(member_id__in=chunk).values_list(
                    "member_id", "relative_id", "relation", "relative_id_number"):
                if b is None:
                    outside[(a, outside_id)] = relation
                else:
                    links[(a, b)] = relation
                if relation == FamilyLink.Relation.SPOUSE:
                    spouse_of[a] = b if b is not None else ("outside", outside_id)
        self._creates: list[FamilyLink] = []
        for row in rows:
            a, b = found.get(row.values["id_number"]), found.get(row.values["relative_id_number"])
            if a is None:
                fail(row, "id_number", _("No member has this ID number; import the member first."))
            if b is None and a is not None and row.values["relative_name"]:
                self._plan_outside(row, a, outside, spouse_of, fail)
                continue
            if b is None:
                fail(row, "relative_id_number", _("No member has this ID number; import the member first, "
                                                  "or give the relative's name to link a relative outside the registry."))
            if a is None or b is None:
                continue
            relation = row.values["relation"]
            inverse = FamilyLink.INVERSE[relation]
            forward, backward = links.get((a, b)), links.get((b, a))
            if (forward is not None and forward != relation) or (backward is not None and backward != inverse):
                recorded = forward if forward is not None else FamilyLink.INVERSE[backward]
                fail(row, "relation", _("These two are already linked as %(relation)s.")
                     % {"relation": FamilyLink.Relation(recorded).label})
                continue
            if forward is not None and backward is not None:
                row.action = UNCHANGED
                row.instance = FamilyLink(member_id=a, relative_id=b, relation=relation)
                continue
            if relation == FamilyLink.Relation.SPOUSE:
                if spouse_of.get(a, b) != b:
                    fail(row, "id_number", _("This member already has a spouse."))
                    continue
                if spouse_of.get(b, a) != a:
                    fail(row, "relative_id_number", _("The relative already has a spouse."))
                    continue
                spouse_of[a], spouse_of[b] = b, a
            row.action = CREATED if forward is None and backward is None else UPDATED
            if forward is None:
                row.instance = FamilyLink(member_id=a, relative_id=b, relation=relation)
                self._creates.append(row.instance)
                links[(a, b)] = relation
            if backward is None:
                link = FamilyLink(member_id=b, relative_id=a, relation=inverse)
                self._creates.append(link)
                links[(b, a)] = inverse
                row.instance = row.instance or link

    def _plan_outside(self, row, a, outside, spouse_of, fail):
        """One row linking member `a` to a relative outside the registry."""
        id_number, relation = row.values["relative_id_number"], row.values["relation"]
        recorded = outside.get((a, id_number))
        if recorded is not None:
            if recorded != relation:
                fail(row, "relation", _("These two are already linked as %(relation)s.")
                     % {"relation": FamilyLink.Relation(recorded).label})
                return
            row.action = UNCHANGED
            row.instance = FamilyLink(member_id=a, relative_id_number=id_number, relation=relation)
            return
        if relation == FamilyLink.Relation.SPOUSE:
            key = ("outside", id_number)
            if spouse_of.get(a, key) != key:
                fail(row, "id_number", _("This member already has a spouse."))
                return
            spouse_of[a] = key
        row.action = CREATED
        row.instance = FamilyLink(member_id=a, relative=None, relative_id_number=id_number,
                                  relative_name=row.values["relative_name"], relation=relation)
        self._creates.append(row.instance)
        outside[(a, id_number)] = relation

    def apply(self, rows, progress):
        for start in range(0, len(self._creates), self.batch_size):
            batch = self._creates[start:start + self.batch_size]
            bulk_create_with_history(batch, FamilyLink, batch_size=self.batch_size, **self.history_kwargs())
            progress(len(batch) // 2 or 1)


# --------------------------------------------------------------------------------------
# Registrations and episodes


class RegistrationImporter(UpsertImporter):
    """Out-of-area registrations (异地就医备案), keyed by member, kind and start date."""

    kind = "registrations"
    model = Registration
    update_fields = ("place", "valid_to")
    columns = (
        ID_NUMBER,
        Column("kind", "备案类型"),
        Column("place", "备案地区", required=True, aliases=("就医地", "异地类型")),
        Column("valid_from", "开始日期", required=True, aliases=("备案开始日期",)),
        Column("valid_to", "结束日期", aliases=("备案结束日期",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "kind": cells.choice("kind", REGISTRATION_KIND, default="long_term_residence"),
            "place": cells.choice("place", PLACE),
            "valid_from": cells.date("valid_from", required=True),
            "valid_to": cells.date("valid_to"),
        }
        if values["valid_from"] and values["valid_to"] and values["valid_to"] < values["valid_from"]:
            cells.fail("valid_to", _("The end date is before the start date."))
        return values, cells.problems

    def key(self, values):
        return (values["id_number"], values["kind"], values["valid_from"]), "valid_from"

    def prepare(self, rows, fail):
        _member_ids(self, rows, fail)

    def db_key(self, values):
        return values["member_id"], values["kind"], values["valid_from"]

    def existing(self, rows):
        found = {}
        for chunk in self.chunks(sorted({r.values["member_id"] for r in rows})):
            for obj in Registration.objects.filter(member_id__in=chunk):
                found[(obj.member_id, obj.kind, obj.valid_from)] = obj
        return found

    def new_instance(self, values):
        return Registration(member_id=values["member_id"], kind=values["kind"], place=values["place"],
                            valid_from=values["valid_from"], valid_to=values["valid_to"])


class EpisodeImporter(UpsertImporter):
    """Inpatient stays and long-term-care episodes, keyed by member, kind and start date.
    A blank end date is an episode still going on."""

    kind = "episodes"
    model = Episode
    update_fields = ("end_date",)
    columns = (
        ID_NUMBER,
        Column("kind", "类型", required=True, aliases=("事件类型", "待遇类型")),
        Column("start_date", "开始日期", required=True, aliases=("入院日期",)),
        Column("end_date", "结束日期", aliases=("出院日期",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "kind": cells.choice("kind", EPISODE_KIND),
            "start_date": cells.date("start_date", required=True),
            "end_date": cells.date("end_date"),
        }
        if values["start_date"] and values["end_date"] and values["end_date"] < values["start_date"]:
            cells.fail("end_date", _("The end date is before the start date."))
        return values, cells.problems

    def key(self, values):
        return (values["id_number"], values["kind"], values["start_date"]), "start_date"

    def prepare(self, rows, fail):
        _member_ids(self, rows, fail)

    def db_key(self, values):
        return values["member_id"], values["kind"], values["start_date"]

    def existing(self, rows):
        found = {}
        for chunk in self.chunks(sorted({r.values["member_id"] for r in rows})):
            for obj in Episode.objects.filter(member_id__in=chunk):
                found[(obj.member_id, obj.kind, obj.start_date)] = obj
        return found

    def new_instance(self, values):
        return Episode(member_id=values["member_id"], kind=values["kind"], start_date=values["start_date"],
                       end_date=values["end_date"])


# --------------------------------------------------------------------------------------
# Reference data


class ReferenceValueImporter(UpsertImporter):
    """Reference data by year (average monthly pension overall or by sector, average annual wage)."""

    kind = "reference"
    model = ReferenceValue
    update_fields = ("value",)
    columns = (
        Column("kind", "指标", required=True, aliases=("指标名称", "类型")),
        Column("year", "年度", required=True, aliases=("年份",)),
        Column("sector", "单位类型", aliases=("单位性质",)),
        Column("value", "数值", required=True, aliases=("金额", "标准")),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "kind": cells.choice("kind", REFERENCE_KIND),
            "year": cells.integer("year", required=True, minimum=1990, maximum=2100),
            "sector": cells.choice("sector", REFERENCE_SECTOR, default=""),
            "value": cells.decimal("value", required=True, positive=True),
        }
        return values, cells.problems

    def key(self, values):
        return (values["kind"], values["year"], values["sector"]), "year"

    def db_key(self, values):
        return values["kind"], values["year"], values["sector"]

    def existing(self, rows):
        return {(o.kind, o.year, o.sector): o for o in ReferenceValue.objects.all()}  # a few hundred rows

    def new_instance(self, values):
        return ReferenceValue(kind=values["kind"], year=values["year"], sector=values["sector"], value=values["value"])


# --------------------------------------------------------------------------------------
# Opening balances


class AccountOpeningImporter(Importer):
    """Opening balances carried over from the previous system (import_accounts).

    Creates the personal account if missing (opened on `as_of`), posts one `opening_balance`
    entry through members.services.account_post_entry (the only way money moves) and records
    what was credited in the twelve months before `as_of` (Yangzhou 2023 transition). The same
    row again does nothing; a different opening for a member who already has one is refused:
    correct it with a reversing entry, not a second import.
    """

    kind = "accounts"
    columns = (
        ID_NUMBER,
        Column("balance", "账户余额", required=True, aliases=("余额", "期初余额")),
        Column("as_of", "结转日期", required=True, aliases=("截止日期", "余额日期")),
        Column("credited_last_12_months", "前12个月划入金额", aliases=("近12个月划入金额", "近十二个月划入")),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "balance": cells.decimal("balance", required=True, minimum=0),
            "as_of": cells.date("as_of", required=True),
            "credited_last_12_months": cells.decimal("credited_last_12_months", minimum=0),
        }
        return values, cells.problems

    def key(self, values):
        return values["id_number"], "id_number"

    def plan(self, rows, fail):
        _member_ids(self, rows, fail)
        ready = [row for row in rows if "_skip" not in row.values]
        member_ids = [row.values["member_id"] for row in ready]
        accounts: dict[int, PersonalAccount] = {}
        schemes: dict[int, str] = {}
        openings: dict[int, Decimal] = {}
        for chunk in self.chunks(sorted(set(member_ids))):
            accounts.update((a.member_id, a) for a in PersonalAccount.objects.filter(member_id__in=chunk))
            for member_id, scheme in Enrollment.objects.filter(member_id__in=chunk).order_by(
                    "member_id", "effective_from").values_list("member_id", "scheme"):
                schemes[member_id] = scheme  # the latest spell wins
            for member_id, amount in LedgerEntry.objects.filter(
                    account__member_id__in=chunk, kind=LedgerEntry.Kind.OPENING_BALANCE).values_list(
                    "account__member_id", "amount"):
                openings[member_id] = openings.get(member_id, Decimal(0)) + amount
        self._work = []
        for row in ready:
            values = row.values
            member_id = values["member_id"]
            account = accounts.get(member_id)
            if schemes.get(member_id) == Enrollment.Scheme.POOLED_ONLY and account is None:
                fail(row, "id_number", _("A pooled-only member has no personal account."))
                continue
            if account is not None and (account.carried_over_as_of is not None or member_id in openings):
                same = (openings.get(member_id, Decimal(0)) == values["balance"]
                        and account.carried_over_as_of == values["as_of"]
                        and account.carried_over_credits == values["credited_last_12_months"])
                if same:
                    row.action, row.instance = UNCHANGED, account
                else:
                    fail(row, "balance", _("This member already has an opening balance of %(amount)s as of "
                                           "%(day)s; correct it with a reversing entry, not a new import.")
                         % {"amount": openings.get(member_id, Decimal("0.00")),
                            "day": account.carried_over_as_of or ""})
                continue
            if account is not None and account.status != PersonalAccount.Status.OPEN:
                fail(row, "id_number", _("The personal account is closed."))
                continue
            row.action = CREATED if account is None else UPDATED
            self._work.append((row, account))

    def apply(self, rows, progress):
        from .services import account_lock, account_post_entry

        new_accounts = [
            PersonalAccount(member_id=row.values["member_id"], opened_on=row.values["as_of"])
            for row, account in self._work if account is None
        ]
        PersonalAccount.objects.bulk_create(new_accounts, batch_size=self.batch_size)
        by_member = {a.member_id: a for a in new_accounts}
        # Existing accounts are locked in pk order before money moves (members.services).
        existing_ids = [account.pk for _row, account in self._work if account is not None]
        for chunk in self.chunks(sorted(existing_ids)):
            by_member.update((a.member_id, a) for a in account_lock(account_ids=chunk).values())
        updated = []
        for row, _account in self._work:
            account = by_member[row.values["member_id"]]
            if row.values["balance"] > 0:
                account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE,
                                   amount=row.values["balance"], reference=f"carry_over:{row.values['as_of']}",
                                   memo=self.change_reason[:200], user=self.user)
            account.carried_over_credits = row.values["credited_last_12_months"]
            account.carried_over_as_of = row.values["as_of"]
            updated.append(account)
            row.instance = account
            progress(1)
        PersonalAccount.objects.bulk_update(updated, ["carried_over_credits", "carried_over_as_of"],
                                            batch_size=self.batch_size)

