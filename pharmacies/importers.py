"""Import of designated providers (import_providers). See core.imports.pipeline for the pipeline."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from core.imports.pipeline import CREATED, UNCHANGED, UPDATED, Cells, Column, choice_map
from core.imports.upsert import UpsertImporter

from .models import Provider

PROVIDER_KIND = choice_map(Provider.Kind.choices, {
    "定点医疗机构": "institution", "医疗机构": "institution", "医院": "institution",
    "定点零售药店": "pharmacy", "零售药店": "pharmacy", "药店": "pharmacy"})
PROVIDER_LEVEL = choice_map(Provider.Level.choices, {
    "一级": "level_1", "一级及以下": "level_1", "二级": "level_2", "三级": "level_3",
    "省级三甲": "provincial_tertiary_a", "省级三级甲等": "provincial_tertiary_a",
    "乡镇卫生院": "township_health_centre", "社区卫生服务中心": "community_health_centre",
    "村卫生室": "village_clinic", "互联网医院": "internet_hospital"})
PROVIDER_STATUS = choice_map(Provider.Status.choices, {"正常": "active", "有效": "active", "暂停": "suspended",
                                                       "中止": "suspended", "终止": "terminated"})
CODE = re.compile(r"^[HP]\d{11}$")


class ProviderImporter(UpsertImporter):
    """Designated institutions and pharmacies, keyed by national code.

    An internet hospital names the physical institution it relies on (`parent_code`), which
    is already registered or appears in the same file (Jinan (十二): it follows that
    institution's policy level)."""

    kind = "providers"
    model = Provider
    update_fields = ("name", "level", "parent", "outpatient_pooling", "status", "district")
    keep_when_absent = {"outpatient_pooling": "outpatient_pooling", "status": "status", "district": "district"}
    columns = (
        Column("code", "机构编码", required=True, aliases=("医保编码", "国家编码", "定点编码")),
        Column("name", "机构名称", required=True, aliases=("名称",)),
        Column("kind", "机构类型", required=True, aliases=("类型",)),
        Column("level", "机构等级", aliases=("等级",)),
        Column("parent_code", "依托机构编码", aliases=("实体机构编码",)),
        Column("outpatient_pooling", "纳入门诊统筹", aliases=("门诊统筹",)),
        Column("status", "状态", aliases=("协议状态",)),
        Column("district", "所属区县", aliases=("区县",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        code = cells.get("code").upper()
        if not code:
            cells.missing("code", True)
        elif not CODE.match(code):
            cells.fail("code", _("A provider code is H or P followed by 11 digits."))
            code = ""
        values = {
            "code": code,
            "name": cells.text("name", required=True, max_length=200),
            "kind": cells.choice("kind", PROVIDER_KIND),
            "level": cells.choice("level", PROVIDER_LEVEL, default=""),
            "parent_code": cells.get("parent_code").upper(),
            "outpatient_pooling": cells.boolean("outpatient_pooling", default=True),
            "status": cells.choice("status", PROVIDER_STATUS, default="active"),
            "district": cells.text("district", max_length=64),
        }
        kind, level = values["kind"], values["level"]
        if code and kind and code[0] != ("H" if kind == "institution" else "P"):
            cells.fail("code", _("An institution's code starts with H, a pharmacy's with P."))
        if kind == "pharmacy" and level:
            cells.fail("level", _("A pharmacy has no level."))
        if kind == "institution" and not level and not any(k == "level" for k, _r in cells.problems):
            cells.fail("level", _("An institution needs a level."))
        if level == "internet_hospital":
            if not values["parent_code"]:
                cells.fail("parent_code", _("An internet hospital needs the code of its physical institution."))
            elif values["parent_code"] == code:
                cells.fail("parent_code", _("An internet hospital cannot rely on itself."))
        elif values["parent_code"]:
            cells.fail("parent_code", _("Only an internet hospital relies on a physical institution."))
        return values, cells.problems

    def key(self, values):
        return values["code"], "code"

    def db_key(self, values):
        return values["code"]

    def prepare(self, rows, fail):
        codes = {r.values["code"] for r in rows} | {r.values["parent_code"] for r in rows if r.values["parent_code"]}
        self._known = {}
        for chunk in self.chunks(sorted(codes)):
            self._known.update((p.code, p) for p in Provider.objects.filter(code__in=chunk))
        in_file = {r.values["code"]: r for r in rows}
        for row in rows:
            values = row.values
            existing = self._known.get(values["code"])
            if existing is not None and existing.kind != values["kind"]:
                fail(row, "kind", _("A registered provider's kind cannot change."))
            parent_code = values["parent_code"]
            values["parent"] = None
            if not parent_code:
                continue
            source = in_file.get(parent_code)
            if source is not None:
                parent_kind, parent_level = source.values["kind"], source.values["level"]
            elif parent_code in self._known:
                parent_kind, parent_level = self._known[parent_code].kind, self._known[parent_code].level
            else:
                fail(row, "parent_code", _("No institution has this code, in the registry or in this file."))
                continue
            if parent_kind != "institution" or parent_level == "internet_hospital":
                fail(row, "parent_code", _("The parent must be a physical institution, not a pharmacy or "
                                           "another internet hospital."))
                continue
            values["_parent_code"] = parent_code

    def existing(self, rows):
        # prepare() already loaded the registry rows the file names (and their parents).
        return self._known

    def plan(self, rows, fail):
        # Own plan: an internet hospital's parent may be created by the same file.
        self.prepare(rows, fail)
        instances = dict(self.existing(rows))
        self._creates, self._creates_after_parents, self._updates = [], [], []
        for row in rows:
            if instances.get(row.values["code"]) is None:
                row.instance, row.action = self.new_instance(row.values), CREATED
                instances[row.values["code"]] = row.instance
                is_child = row.values["level"] == Provider.Level.INTERNET_HOSPITAL
                (self._creates_after_parents if is_child else self._creates).append(row.instance)
            else:
                row.instance, row.action = instances[row.values["code"]], UNCHANGED
        fields = self.compared_fields()
        for row in rows:
            values, obj = row.values, row.instance
            parent = instances.get(values.get("_parent_code")) if values.get("_parent_code") else None
            values["parent"] = parent
            if row.action == CREATED:
                obj.parent = parent
                continue
            changed = [name for name in fields if name != "parent" and getattr(obj, name) != values[name]]
            parent_changed = (obj.parent_id is None) != (parent is None) or (
                parent is not None and (parent.pk is None or parent.pk != obj.parent_id))
            if changed or parent_changed:
                for name in fields:
                    setattr(obj, name, values[name])
                row.action = UPDATED
                self._updates.append(obj)

    def apply(self, rows, progress):
        # Physical institutions first: an internet hospital's parent needs its pk.
        self.write_creates(self._creates, progress)
        self.write_creates(self._creates_after_parents, progress)
        self.write_updates(self._updates, progress)

    def new_instance(self, values):
        return Provider(code=values["code"], name=values["name"], kind=values["kind"], level=values["level"],
                        outpatient_pooling=values["outpatient_pooling"], status=values["status"],
                        district=values["district"])
