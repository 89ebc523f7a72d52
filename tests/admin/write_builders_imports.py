"""Write-path builders for the admin's imports and exports (django-import-export, through
core.imports.admin), registered into tests/admin/test_write_paths.py's BUILDERS by `register`.

Each import is submitted as a browser does it, by each role with its own client (the confirmation
token lives in that role's session): the import page's upload (the preview: 200, a confirmation
form, nothing written), then the confirmation (process_import: 302, the rows written, the
import's audit event). Imports are for the roles that may add the data (README, Imports: 经办,
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"); every other role gets 403 and nothing is written.
An export (every role that may view the data) answers with a CSV file holding the row asked for.

The files use the README's "Imports" columns (the English keys), one valid row each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import AuditEvent
from core.roles import Role


@dataclass
class ImportFile:
    """One small valid file: its CSV text and a check that its row was written."""

    text: str
    written: Callable[[], bool]


def _member():
    from tests.factories import MemberFactory

    return MemberFactory()


def _catalog(n):
    from claims.models import CatalogItem

    code = f"WPC{n}"
    return ImportFile(f"code,name,kind,class,prepay_percent\n{code},写路径甲类药{n},drug,A,\n",
                      lambda: CatalogItem.objects.filter(code=code, item_class="A").exists())


def _disease(n):
    from claims.models import Disease

    code = f"WPD{n}"
    return ImportFile(f"code,name,group\n{code},写路径慢病{n},chronic\n",
                      lambda: Disease.objects.filter(region=settings.REGION, code=code, group="chronic").exists())


def _chronic_registration(n):
    from claims.models import ChronicRegistration, Disease
    from tests.factories import ProviderFactory

    disease = Disease.objects.create(region=settings.REGION, code=f"WPR{n}", name=f"写路径病种{n}", group="chronic")
    member, hospital = _member(), ProviderFactory()
    return ImportFile(
        "id_number,disease_code,valid_from,valid_to,certified_by_code\n"
        f"{member.id_number},{disease.code},2023-01-01,2023-12-31,{hospital.code}\n",
        lambda: ChronicRegistration.objects.filter(member=member, disease=disease, status="approved").exists())


def _member_year(n):
    from decimal import Decimal

    from claims.models import MemberYear

    member = _member()
    return ImportFile(
        f"id_number,year,compliant_burden,fund_paid\n{member.id_number},2023,3000.50,9000\n",
        lambda: MemberYear.objects.filter(member=member, year=2023,
                                          inpatient_compliant_burden=Decimal("3000.50")).exists())


def _episode(n):
    from members.models import Episode

    member = _member()
    return ImportFile(f"id_number,kind,start_date,end_date\n{member.id_number},inpatient_stay,2023-03-01,2023-03-10\n",
                      lambda: Episode.objects.filter(member=member, kind="inpatient_stay").exists())


def _family_link(n):
    from members.models import FamilyLink

    member, relative = _member(), _member()
    return ImportFile(f"id_number,relative_id_number,relation\n{member.id_number},{relative.id_number},spouse\n",
                      lambda: FamilyLink.objects.filter(member=member, relative=relative, relation="spouse").exists())


def _members(n):
    from members.models import Member
    from tests.factories import new_id_number

    id_number = new_id_number()
    return ImportFile(
        "id_number,name,employment_status,scheme,contribution_base,enrolled_on\n"
        f"{id_number},李写{n},in_service,combined,5000,2021-01-01\n",
        lambda: Member.objects.filter(id_number=id_number, enrollments__isnull=False).exists())


def _reference_value(n):
    from decimal import Decimal

    from members.models import ReferenceValue

    year = 1990 + n % 100  # a year of its own, within 1990–2100: the import would otherwise change nothing
    return ImportFile(f"kind,year,sector,value\naverage_wage,{year},,91000\n",
                      lambda: ReferenceValue.objects.filter(kind="average_wage", year=year,
                                                            value=Decimal("91000")).exists())


def _registration(n):
    from members.models import Registration

    member = _member()
    return ImportFile(
        f"id_number,kind,place,valid_from,valid_to\n{member.id_number},long_term_residence,in_province,2023-01-01,\n",
        lambda: Registration.objects.filter(member=member, place="in_province").exists())


def _providers(n):
    from pharmacies.models import Provider

    code = f"H{37070000000 + n:011d}"
    return ImportFile(f"code,name,kind,level\n{code},写路径医院{n},institution,level_1\n",
                      lambda: Provider.objects.filter(code=code, kind="institution", level="level_1").exists())


# label → the file its import takes
IMPORTS: dict[str, Callable[[int], ImportFile]] = {
    "claims.CatalogItem": _catalog,
    "claims.ChronicRegistration": _chronic_registration,
    "claims.Disease": _disease,
    "claims.MemberYear": _member_year,
    "members.Episode": _episode,
    "members.FamilyLink": _family_link,
    "members.Member": _members,
    "members.ReferenceValue": _reference_value,
    "members.Registration": _registration,
    "pharmacies.Provider": _providers,
}


def _case_worker(user) -> bool:
    """Who imports (README, Imports): the roles that may add the data, 经办."""
    return user.is_superuser or user.groups.filter(name=Role.CASE_WORKER.value).exists()


def _anyone(user) -> bool:
    """Who exports: every agency role views members, providers and the catalog."""
    return True


def _model_admin(label):
    return next(model_admin for model, model_admin in admin.site._registry.items() if model._meta.label == label)


def _csv_format(formats) -> str:
    from import_export.formats.base_formats import CSV

    return str(next(index for index, kind in enumerate(formats) if issubclass(kind, CSV)))


def _upload(label, import_file, n) -> dict:
    formats = _model_admin(label).get_import_formats()
    name = f"{label.split('.')[1].lower()}-{n}.csv"
    return {"resource": "0", "format": _csv_format(formats),
            "import_file": SimpleUploadedFile(name, import_file.text.encode("utf-8"), content_type="text/csv")}


def _import_view(wp, label):
    """The import page's upload: the preview, with a confirmation form and nothing written."""

    def case(w):
        n = w.n()
        import_file = IMPORTS[label](n)

        def check(w, response):
            assert response.context.get("confirm_form") is not None, (
                f"{label} import: no confirmation offered: {_preview_errors(response)}")
            assert not import_file.written(), f"{label} import: the preview wrote the rows"

        return wp.ViewCase(args=[], data=_upload(label, import_file, n), status=200, check=check, allowed=_case_worker)

    return case


def _preview_errors(response) -> str:
    context = response.context or {}
    form, result = context.get("form"), context.get("result")
    errors = {"form": form.errors.get_json_data() if form is not None else None}
    if result is not None:
        errors["rows"] = [(row.number, row.error_dict) for row in result.invalid_rows]
        errors["base"] = [str(error.error) for error in result.base_errors]
    return repr(errors)


def _process_import_view(wp, label):
    """The confirmation of a preview made by the same role in its own session: the rows written."""

    def case(w):
        n = w.n()
        import_file = IMPORTS[label](n)
        model = _model_admin(label).model
        kind = _model_admin(label).get_import_resource_classes(None)[0].importer_class.kind

        def prepare(client):
            preview = client.post(reverse(f"{wp._prefix(model)}_import"), _upload(label, import_file, n))
            if preview.status_code == 403:
                return {}  # this role may not import: its confirmation is refused below
            assert preview.status_code == 200, f"{label} preview: {preview.status_code}"
            confirm = preview.context.get("confirm_form")
            assert confirm is not None, f"{label} preview: no confirmation offered: {_preview_errors(preview)}"
            return dict(confirm.initial)

        def check(w, response):
            assert response["Location"] == reverse(f"{wp._prefix(model)}_changelist"), response["Location"]
            assert import_file.written(), f"{label} process_import: redirected, but the row was not written"
            assert AuditEvent.objects.filter(action=f"import.{kind}").exists(), f"{label}: the import was not audited"

        return wp.ViewCase(args=[], prepare=prepare, check=check, allowed=_case_worker)

    return case


def _export_view(wp, label, make, text_of):
    """The export page's form as the role's browser sends it (every column ticked, CSV): a file."""

    def case(w):
        obj = make(w)
        model = _model_admin(label).model

        def prepare(client):
            page = client.get(reverse(f"{wp._prefix(model)}_export"))
            if page.status_code == 403:
                return {"format": "0", "resource": "0"}
            assert page.status_code == 200, f"{label} export page: {page.status_code}"
            form = page.context["form"]
            formats = _model_admin(label).get_export_formats()
            data = {"format": _csv_format(formats), "resource": "0"}
            data.update({name: "on" for name, field in form.fields.items()
                         if isinstance(field, forms.BooleanField) and field.initial})
            return data

        def check(w, response):
            assert "attachment" in response.get("Content-Disposition", ""), dict(response.headers)
            assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
            content = b"".join(response.streaming_content) if response.streaming else response.content
            assert text_of(obj) in content.decode("utf-8-sig"), f"{label} export: the row is not in the file"

        return wp.ViewCase(args=[], prepare=prepare, status=200, check=check, allowed=_anyone)

    return case


def _catalog_item(w):
    from claims.models import CatalogItem

    return CatalogItem.objects.create(code=f"WPX{w.n()}", name="写路径导出药", kind="drug", item_class="A")


def _reference(w):
    from decimal import Decimal

    from members.models import ReferenceValue

    return ReferenceValue.objects.create(kind="average_wage", year=2090 + w.n() % 10, value=Decimal("88000"))


def _provider(w):
    from tests.factories import ProviderFactory

    return ProviderFactory()


EXPORTS = {
    "claims.CatalogItem": (_catalog_item, lambda obj: obj.code),
    "members.ReferenceValue": (_reference, lambda obj: f"average_wage,{obj.year}"),
    "pharmacies.Provider": (_provider, lambda obj: obj.code),
}


def register(wp) -> None:
    """Add the import and export views' builders to `wp.BUILDERS` (wp: the test module)."""
    for label in IMPORTS:
        views = wp.BUILDERS[label].views
        views["import"] = _import_view(wp, label)
        views["process_import"] = _process_import_view(wp, label)
    for label, (make, text_of) in EXPORTS.items():
        wp.BUILDERS[label].views["export"] = _export_view(wp, label, make, text_of)
