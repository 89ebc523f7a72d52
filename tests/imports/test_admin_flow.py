"""The admin's import page (preview, then confirm) with our resource, inside
django-import-export's real views, with the GBK-detecting CSV format."""

from django.core.files.uploadedfile import SimpleUploadedFile

from members.models import Member
from tests.factories import UserFactory, new_id_number

HEADER = "身份证号,姓名,在职状态,参保方式,缴费基数,参保日期\n"


def upload(client, text, encoding):
    from core.imports.formats import IMPORT_FORMATS, DetectingCSV

    csv_index = IMPORT_FORMATS.index(DetectingCSV)
    return client.post("/admin/members/member/import/", {
        "resource": "0", "format": str(csv_index),
        "import_file": SimpleUploadedFile("members.csv", text.encode(encoding), content_type="text/csv"),
    })


def test_admin_preview_then_confirm_imports_a_gbk_file(staff_client):
    id_number = new_id_number()
    text = HEADER + f"{id_number},李秀英,在职,统账结合,5000,2021-01-01\n"

    preview = upload(staff_client, text, "gbk")

    assert preview.status_code == 200
    assert Member.objects.count() == 0
    confirm = preview.context["confirm_form"]
    assert confirm is not None
    done = staff_client.post("/admin/members/member/process_import/", confirm.initial)
    assert done.status_code == 302
    assert Member.objects.get().id_number == id_number


def test_admin_preview_lists_bad_rows_and_offers_no_confirmation(staff_client):
    text = HEADER + f"{new_id_number()},李秀英,在职,统账结合,5000,2021-01-01\n370402198005171230,张伟,在职,统账结合,5000,2021-01-01\n"
    preview = upload(staff_client, text, "utf-8")
    assert preview.status_code == 200
    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [3]
    assert not preview.context.get("confirm_form")
    assert Member.objects.count() == 0


def test_only_roles_that_may_add_members_see_the_import_button(client, db):
    from core.roles import Role

    for roles, expected in (([Role.CASE_WORKER], True), ([Role.AUDITOR], False), ([Role.FINANCE], False)):
        user = UserFactory(roles=roles)
        client.force_login(user)
        page = client.get("/admin/members/member/").content.decode()
        assert ("/admin/members/member/import/" in page) is expected, roles
        status = client.get("/admin/members/member/import/").status_code
        assert status == (200 if expected else 403), roles
