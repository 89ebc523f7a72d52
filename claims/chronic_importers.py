"""Imports for chronic and special diseases (CONTRACT.md): import_diseases,
import_chronic_registrations, import_inpatient_totals. See core.imports.pipeline."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from core.imports.pipeline import Cells, Column, choice_map
from core.imports.upsert import UpsertImporter
from pharmacies.models import Provider

from .models import ChronicRegistration, Disease, MemberYear

ID_NUMBER = Column("id_number", "身份证号", required=True, aliases=("身份证号码", "公民身份号码", "证件号码"))
DISEASE_GROUP = choice_map(Disease.Group.choices, {
    "慢性病": "chronic", "门诊慢性病": "chronic", "特殊病": "special", "门诊特殊病": "special",
    "特殊疾病": "special", "门诊特殊疾病": "special", "两病": "two_diseases"})


def _member_ids(importer, rows, fail) -> None:
    from members.models import Member

    found = importer.pks_by(Member.objects, "id_number", (row.values["id_number"] for row in rows))
    for row in rows:
        pk = found.get(row.values["id_number"])
        if pk is None:
            fail(row, "id_number", _("No member has this ID number; import the member first."))
            row.values["_skip"] = True
        else:
            row.values["member_id"] = pk


class DiseaseImporter(UpsertImporter):
    """The region's disease list (病种目录), keyed by code within the deployment's REGION."""

    kind = "diseases"
    model = Disease
    update_fields = ("name", "group")
    columns = (
        Column("code", "病种编码", required=True, aliases=("病种代码", "编码")),
        Column("name", "病种名称", required=True, aliases=("名称",)),
        Column("group", "病种类别", required=True, aliases=("类别",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "code": cells.text("code", required=True, max_length=32),
            "name": cells.text("name", required=True, max_length=200),
            "group": cells.choice("group", DISEASE_GROUP),
        }
        return values, cells.problems

    def key(self, values):
        return values["code"], "code"

    def db_key(self, values):
        return values["code"]

    def existing(self, rows):
        codes = sorted({r.values["code"] for r in rows})
        return {d.code: d for d in Disease.objects.filter(region=settings.REGION, code__in=codes)}

    def new_instance(self, values):
        return Disease(region=settings.REGION, code=values["code"], name=values["name"], group=values["group"])


class ChronicRegistrationImporter(UpsertImporter):
    """Certified registrations from the certifying system (认定结果), keyed by member, disease
    and start date; they come approved. The region's exclusion rule applies as for the admin:
    a registration the rule refuses is a bad row; one that ends another ends it."""

    kind = "chronic_registrations"
    model = ChronicRegistration
    update_fields = ("valid_to", "certified_by_id", "designated_provider_id")
    keep_when_absent = {"designated_provider_id": "designated_provider_code"}
    columns = (
        ID_NUMBER,
        Column("disease_code", "病种编码", required=True, aliases=("病种代码",)),
        Column("valid_from", "开始日期", required=True, aliases=("认定开始日期", "待遇开始日期")),
        Column("valid_to", "结束日期", aliases=("认定结束日期", "待遇结束日期")),
        Column("certified_by_code", "认定机构编码", required=True, aliases=("认定医院编码",)),
        Column("designated_provider_code", "定点机构编码", aliases=("选定医疗机构编码", "指定医疗机构编码")),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "disease_code": cells.text("disease_code", required=True, max_length=32),
            "valid_from": cells.date("valid_from", required=True),
            "valid_to": cells.date("valid_to"),
            "certified_by_code": cells.text("certified_by_code", required=True, max_length=32),
            "designated_provider_code": cells.text("designated_provider_code", max_length=32),
        }
        if values["valid_from"] and values["valid_to"] and values["valid_to"] < values["valid_from"]:
            cells.fail("valid_to", _("The end date is before the start date."))
        return values, cells.problems

    def key(self, values):
        return (values["id_number"], values["disease_code"], values["valid_from"]), "valid_from"

    def prepare(self, rows, fail):
        _member_ids(self, rows, fail)
        diseases = {d.code: d for d in Disease.objects.filter(
            region=settings.REGION, code__in=sorted({r.values["disease_code"] for r in rows}))}
        codes = {r.values["certified_by_code"] for r in rows} | {r.values["designated_provider_code"] for r in rows}
        providers = dict(Provider.objects.filter(code__in=sorted(c for c in codes if c)).values_list("code", "pk"))
        for row in rows:
            disease = diseases.get(row.values["disease_code"])
            if disease is None:
                fail(row, "disease_code", _("No disease of the region's list has this code; import the disease list first."))
                row.values["_skip"] = True
            row.values["disease"] = disease
            for column, target in (("certified_by_code", "certified_by_id"), ("designated_provider_code", "designated_provider_id")):
                code = row.values[column]
                row.values[target] = providers.get(code) if code else None
                if code and row.values[target] is None:
                    fail(row, column, _("No designated provider has this code."))
                    row.values["_skip"] = True

    def db_key(self, values):
        return values["member_id"], values["disease"].pk, values["valid_from"]

    def existing(self, rows):
        found = {}
        for chunk in self.chunks(sorted({r.values["member_id"] for r in rows})):
            for obj in ChronicRegistration.objects.filter(member_id__in=chunk):
                found[(obj.member_id, obj.disease_id, obj.valid_from)] = obj
        return found

    def validate(self, row, instance, fail):
        if instance is not None:
            return
        from .chronic import RegistrationRefused, registration_exclusion

        candidate = self.new_instance(row.values)
        try:
            # Against what is recorded; rows of the same file are checked in apply (in order).
            registration_exclusion(registration=candidate, pending=True)
        except RegistrationRefused as refused:
            fail(row, "disease_code", str(refused.message))

    def new_instance(self, values):
        from django.utils import timezone

        return ChronicRegistration(
            member_id=values["member_id"], disease=values["disease"], valid_from=values["valid_from"],
            valid_to=values["valid_to"], certified_by_id=values["certified_by_id"],
            designated_provider_id=values["designated_provider_id"], status=ChronicRegistration.Status.APPROVED,
            imported=True, approved_by=self.user, approved_at=timezone.now(),
        )

    def apply(self, rows, progress):
        from .chronic import _end_excluded, registration_exclusion

        self.write_updates(self._updates, progress)
        # One by one, in file order: a registration the region's exclusion rule touches ends
        # (or is refused by) the ones already recorded (Ziyang 第九条). Such files are small.
        for registration in self._creates:
            ended = registration_exclusion(registration=registration, pending=False)
            registration.save()
            _end_excluded(registration=registration, ended=ended, user=self.user)
            progress(1)


class InpatientTotalsImporter(UpsertImporter):
    """Per member and year, from the inpatient system: the compliant personal burden (Jinan
    (七) counts it toward the large-amount second payment) and what the fund paid (Ziyang
    第十一条). A new file replaces the year's figures (they are totals, not additions)."""

    kind = "inpatient_totals"
    model = MemberYear
    has_history = False
    update_fields = ("inpatient_compliant_burden", "inpatient_fund_paid", "inpatient_as_of")
    columns = (
        ID_NUMBER,
        Column("year", "年度", required=True),
        Column("compliant_burden", "住院合规个人负担", required=True, aliases=("合规个人负担", "个人负担")),
        Column("fund_paid", "住院统筹支付", required=True, aliases=("统筹基金支付", "基金支付")),
        Column("as_of", "截至日期", aliases=("统计截止日期",)),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        values = {
            "id_number": cells.id_number(),
            "year": cells.integer("year", required=True, minimum=2000, maximum=2100),
            "inpatient_compliant_burden": cells.decimal("compliant_burden", required=True, minimum=0),
            "inpatient_fund_paid": cells.decimal("fund_paid", required=True, minimum=0),
            "inpatient_as_of": cells.date("as_of"),
        }
        if values["year"] and values["inpatient_as_of"] and values["inpatient_as_of"].year != values["year"]:
            cells.fail("as_of", _("The date is not in the row's year."))
        return values, cells.problems

    def key(self, values):
        return (values["id_number"], values["year"]), "year"

    def prepare(self, rows, fail):
        _member_ids(self, rows, fail)

    def db_key(self, values):
        return values["member_id"], values["year"]

    def existing(self, rows):
        found = {}
        for chunk in self.chunks(sorted({r.values["member_id"] for r in rows})):
            for obj in MemberYear.objects.filter(member_id__in=chunk):
                found[(obj.member_id, obj.year)] = obj
        return found

    def new_instance(self, values):
        return MemberYear(member_id=values["member_id"], year=values["year"],
                          **{name: values[name] for name in self.update_fields})

    def write_updates(self, objs, progress):
        # Only the imported columns: a settlement may be updating the same row's own figures.
        for start in range(0, len(objs), self.batch_size):
            batch = objs[start:start + self.batch_size]
            MemberYear.objects.bulk_update(batch, list(self.update_fields), batch_size=self.batch_size)
            progress(len(batch))
