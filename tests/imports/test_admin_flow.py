"""The admin's import page (preview, then confirm) with our resource, inside
django-import-export's real views, with the GBK-detecting CSV format."""

import os
import tempfile

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


def test_confirmation_never_uses_a_file_name_sent_by_the_browser(staff_client, tmp_path):
    """A case worker once made the server import and delete a file outside the import folder by
    editing the hidden file name: the confirmation now carries a token the session maps to the
    pending file, and a name from the browser is never opened."""
    outside = tmp_path / "secret.csv"
    outside.write_text(HEADER + f"{new_id_number()},李秀英,在职,统账结合,5000,2021-01-01\n", encoding="utf-8")
    preview = upload(staff_client, HEADER + f"{new_id_number()},王芳,在职,统账结合,5000,2021-01-01\n", "utf-8")
    initial = dict(preview.context["confirm_form"].initial)
    assert initial["import_file_name"] not in (str(outside), "")
    assert "/" not in initial["import_file_name"]  # a token, not a path
    for crafted in (str(outside), "../../" + outside.name, os.path.relpath(outside, tempfile.gettempdir())):
        done = staff_client.post("/admin/members/member/process_import/", {**initial, "import_file_name": crafted})
        assert done.status_code == 302 and done["Location"].endswith("/admin/members/member/import/")
        assert outside.exists(), "the file outside the import folder was deleted"
        assert Member.objects.count() == 0
    # The genuine token still confirms, once.
    assert staff_client.post("/admin/members/member/process_import/", initial).status_code == 302
    assert Member.objects.get().name == "王芳"
    again = staff_client.post("/admin/members/member/process_import/", initial)
    assert again["Location"].endswith("/admin/members/member/import/")
    assert Member.objects.count() == 1


def test_a_token_from_another_session_is_refused(staff_client):
    from django.test import Client

    preview = upload(staff_client, HEADER + f"{new_id_number()},王芳,在职,统账结合,5000,2021-01-01\n", "utf-8")
    initial = dict(preview.context["confirm_form"].initial)
    other = UserFactory(is_superuser=True, is_staff=True)
    other.save()
    client = Client()
    client.force_login(other)
    done = client.post("/admin/members/member/process_import/", initial)
    assert done.status_code == 302 and done["Location"].endswith("/admin/members/member/import/")
    assert Member.objects.count() == 0


def test_a_role_that_may_not_import_is_refused_the_confirmation_with_403(client, db):
    """The confirmation checks the import permission first, as the upload does: an auditor
    posting a confirmation gets 403 (it used to be told to upload the file again) and nothing
    is written."""
    from core.roles import Role

    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    done = client.post("/admin/members/member/process_import/", {
        "import_file_name": "token", "original_file_name": "members.csv", "format": "0", "resource": "0"})
    assert done.status_code == 403
    assert Member.objects.count() == 0
