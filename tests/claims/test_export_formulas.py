"""Exports never write a live formula, as a class: every export (the admin's CSV/XLSX through
django-import-export, the statements, the portal's settlement export, the admin's settlement
XLSX) writes text starting with =, +, -, @, a tab or a CR as text; names where a person types
them refuse such values."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import CatalogItem, Deduction, ProviderStatement
from claims.statements.services import statement_close_month
from core.exports import FORMULA_LEADS, safe_cell
from members.models import Member
from pharmacies.models import Provider
from tests.factories import CatalogItemFactory, MemberFactory, ProviderFactory, ProviderStaffFactory, UserFactory

from .statement_helpers import MARCH, local, settled_claim

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def dangerous_text(values):
    return [value for value in values if isinstance(value, str) and value.startswith(FORMULA_LEADS)]


def xlsx_cells(content: bytes):
    workbook = load_workbook(io.BytesIO(content))
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"a formula in {sheet.title}!{cell.coordinate}: {cell.value!r}"
                yield cell.value


def csv_cells(text: str):
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        yield from row


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_cell_writes_formula_leading_text_as_text_and_keeps_numbers(value):
    assert safe_cell(value) == "'" + value
    assert safe_cell(Decimal("-10.00")) == Decimal("-10.00")
    assert safe_cell("张三") == "张三"


@pytest.fixture
def hostile(region, catalog):
    region("zaozhuang")
    provider = ProviderFactory()
    Provider.objects.filter(pk=provider.pk).update(name=HOSTILE[0])
    CatalogItem.objects.filter(code="A-DRUG").update(name=HOSTILE[1])
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(name=HOSTILE[3])
    for index, ref in enumerate(HOSTILE):
        settled_claim(provider=provider, settled_at=local(2026, 3, 3 + index), fund="10.00", external_ref=ref, member=member)
    statement_close_month(month=MARCH)
    statement = ProviderStatement.objects.get()
    Deduction.objects.create(provider=provider, amount=Decimal("1.00"), reason=HOSTILE[2], source_reference=HOSTILE[4],
                             decided_by=UserFactory(), decided_on=MARCH, statement=statement)
    return {"provider": provider, "statement": statement}


def _every_admin_export():
    """Every registered admin that exports through django-import-export, and its formats."""
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        if hasattr(model_admin, "get_export_formats"):
            yield model, model_admin


def test_every_admin_export_format_escapes_formulas(hostile):
    request = RequestFactory().get("/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    exported = 0
    for model, model_admin in _every_admin_export():
        for resource_class in model_admin.get_export_resource_classes(request):
            dataset = resource_class().export(queryset=model._default_manager.all())
            for format_class in model_admin.get_export_formats():
                data = format_class().export_data(dataset.__class__(*dataset, headers=dataset.headers))
                cells = list(xlsx_cells(data)) if format_class().is_binary() else list(csv_cells(data))
                assert not dangerous_text(cells), (model._meta.label, format_class.__name__)
                exported += 1
    assert exported >= 4  # providers and the catalog at least, in CSV and XLSX


def test_the_statement_xlsx_escapes_formulas(hostile):
    client = Client()
    client.force_login(ProviderStaffFactory(provider=hostile["provider"]).user)
    response = client.get(reverse("portal_claims:statement_xlsx", args=[hostile["statement"].pk]))
    cells = list(xlsx_cells(response.content))
    assert "'" + HOSTILE[2] in cells and "'" + HOSTILE[0] in cells  # the deduction reason, a settlement's ref
    assert not dangerous_text(cells)


@pytest.mark.parametrize("export", ["csv", "xlsx"])
def test_the_portal_settlement_export_escapes_formulas(hostile, export):
    client = Client()
    client.force_login(ProviderStaffFactory(provider=hostile["provider"]).user)
    response = client.get(reverse("portal_claims:settlements"), {"export": export})
    if export == "csv":
        cells = list(csv_cells(b"".join(response.streaming_content).decode("utf-8")))
    else:
        cells = list(xlsx_cells(response.content))
    assert "'" + HOSTILE[0] in cells
    assert not dangerous_text(cells)


def test_the_admin_settlement_xlsx_escapes_formulas(hostile):
    client = Client()
    superuser = UserFactory(is_superuser=True, is_staff=True)
    superuser.save()
    client.force_login(superuser)
    from claims.models import Claim

    response = client.post(reverse("admin:claims_claim_changelist"), {
        "action": "export_xlsx", "_selected_action": list(Claim.objects.values_list("pk", flat=True)),
    })
    cells = list(xlsx_cells(response.content))
    assert "'" + HOSTILE[0] in cells
    assert not dangerous_text(cells)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("factory", [MemberFactory, ProviderFactory, CatalogItemFactory], ids=["member", "provider", "catalog"])
def test_a_typed_name_that_a_spreadsheet_reads_as_a_formula_is_refused(db, factory, value):
    instance = factory.build(name=value)
    with pytest.raises(ValidationError) as refused:
        instance.clean()
    assert list(refused.value.message_dict) == ["name"]


def test_an_ordinary_name_with_a_hyphen_inside_is_accepted(db):
    ProviderFactory.build(name="枣庄市立医院-东院").clean()
