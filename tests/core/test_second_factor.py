"""The second factor (等保 2.0 level 3: two factors for those who administer the system), through
the real pages: password only reaches nothing but the code pages; enrolment; codes; recovery
codes once; code failures count like password failures."""

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory
from tests.second_factor import code_for, enter_code, make_authenticator

pytestmark = [pytest.mark.django_db, pytest.mark.second_factor]
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    """django-otp waits 1, 2, 4 … s after a wrong code; tests of the throttle turn it back on."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def _password(client, user, next_url="/admin/"):
    response = client.post(f"/admin/login/?next={next_url}", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


@pytest.mark.parametrize("roles", [[Role.CASE_WORKER], [Role.AUDITOR], [Role.FINANCE], [Role.ADMINISTRATOR], []])
def test_password_only_reaches_no_admin_page_and_is_sent_to_enrol(client, roles):
    user = UserFactory(roles=roles, is_superuser=not roles, is_staff=True)
    user.save()  # the factory saves the password only with roles
    _password(client, user)
    for url in ["/admin/", "/admin/members/member/", "/admin/core/auditevent/", "/admin/schedules/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/otp/enrol/?next=")
    api = client.get("/api/v1/providers/me")
    assert api.status_code == 403
    assert api.json()["code"] == "second_factor_required"


def test_force_login_alone_is_not_verified_either(client):
    """The suite's force_login verifies the session only outside this file (tests/conftest.py)."""
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    assert client.get("/admin/")["Location"] == "/otp/enrol/?next=%2Fadmin%2F"


def test_enrolment_shows_a_qr_code_and_the_secret_then_ten_recovery_codes_once(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    _password(client, user)
    page = client.get("/otp/enrol/?next=/admin/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and "设置一次性验证码" in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert page.context["secret"] in html

    wrong = client.post("/otp/enrol/", {"code": "000000" if code_for(device) != "000000" else "111111",
                                         "next": "/admin/"})
    assert wrong.status_code == 200
    assert "验证码不正确" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert client.get("/admin/").status_code == 302

    done = client.post("/otp/enrol/", {"code": code_for(device), "next": "/admin/"})
    assert done.status_code == 302 and done["Location"].startswith("/otp/recovery-codes/")
    shown = client.get(done["Location"])
    codes = shown.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in shown.content.decode() for code in codes)
    assert sorted(StaticDevice.objects.get(user=user).token_set.values_list("token", flat=True)) == sorted(codes)
    # Shown once: the page no longer has them.
    assert client.get("/otp/recovery-codes/?next=/admin/")["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.otp_enrol", actor=user).count() == 1


def test_enrolment_is_closed_to_someone_who_already_has_an_authenticator(client):
    """The password alone never enrols a second authenticator over the first."""
    user = UserFactory(roles=[Role.CASE_WORKER])
    make_authenticator(user)
    _password(client, user)
    response = client.get("/otp/enrol/?next=/admin/")
    assert response["Location"].startswith("/otp/verify/")
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_wrong_code_is_refused_and_audited_the_right_one_opens_the_admin(client):
    user = UserFactory(roles=[Role.FINANCE])
    device = make_authenticator(user)
    _password(client, user)
    assert client.get("/admin/")["Location"] == "/otp/verify/?next=%2Fadmin%2F"
    page = client.get("/otp/verify/?next=/admin/")
    assert "一次性验证码" in page.content.decode()

    right = code_for(device)
    wrong = client.post("/otp/verify/", {"code": "000000" if right != "000000" else "111111", "next": "/admin/"})
    assert wrong.status_code == 200
    assert "验证码无效" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302
    event = AuditEvent.objects.get(action="auth.otp_failed")
    assert event.target_label == user.username

    ok = enter_code(client, device)
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/members/member/").status_code == 200


def test_the_same_code_is_never_accepted_twice(client):
    user = UserFactory(roles=[Role.AUDITOR])
    device = make_authenticator(user)
    _password(client, user)
    code = code_for(device)
    assert client.post("/otp/verify/", {"code": code, "next": "/admin/"}).status_code == 302
    client.post("/admin/logout/")
    _password(client, user)
    again = client.post("/otp/verify/", {"code": code, "next": "/admin/"})
    assert again.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_a_recovery_code_works_once(client):
    user = UserFactory(roles=[Role.ADMINISTRATOR])
    device = make_authenticator(user)
    static = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    static.token_set.create(token="abcd2345")
    static.token_set.create(token="efgh6723")

    _password(client, user)
    used = client.post("/otp/verify/", {"code": "ABCD 2345", "next": "/admin/"})
    assert used.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert list(static.token_set.values_list("token", flat=True)) == ["efgh6723"]
    event = AuditEvent.objects.get(action="auth.otp_recovery_used")
    assert event.details["left"] == 1

    client.post("/admin/logout/")
    _password(client, user)
    again = client.post("/otp/verify/", {"code": "abcd2345", "next": "/admin/"})
    assert again.status_code == 200
    assert client.get("/admin/").status_code == 302
    assert device.pk  # the authenticator itself is untouched


def test_wrong_codes_count_towards_the_lockout_of_the_pair(client, settings):
    settings.LOGIN_BACKOFF_FREE_ATTEMPTS = 1000
    user = UserFactory(roles=[Role.CASE_WORKER])
    device = make_authenticator(user)
    _password(client, user)
    right = code_for(device)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        assert client.post("/otp/verify/", {"code": wrong, "next": "/admin/"}).status_code == 200
    locked = client.post("/otp/verify/", {"code": wrong, "next": "/admin/"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # The password no longer opens the door from this client either.
    assert client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD}).status_code == 429


def test_wrong_codes_back_off_per_username(client, settings):
    settings.LOGIN_BACKOFF_FREE_ATTEMPTS = 1
    user = UserFactory(roles=[Role.CASE_WORKER])
    device = make_authenticator(user)
    _password(client, user)
    right = code_for(device)
    wrong = "000000" if right != "000000" else "111111"
    client.post("/otp/verify/", {"code": wrong, "next": "/admin/"})
    client.post("/otp/verify/", {"code": wrong, "next": "/admin/"})
    waiting = client.post("/otp/verify/", {"code": right, "next": "/admin/"})
    assert waiting.status_code == 200
    assert "秒后再试" in waiting.content.decode()
    assert client.get("/admin/").status_code == 302


def test_django_otp_throttles_a_device_after_a_wrong_code(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    user = UserFactory(roles=[Role.CASE_WORKER])
    device = make_authenticator(user)
    _password(client, user)
    right = code_for(device)
    client.post("/otp/verify/", {"code": "000000" if right != "000000" else "111111", "next": "/admin/"})
    throttled = client.post("/otp/verify/", {"code": right, "next": "/admin/"})
    assert throttled.status_code == 200
    assert "错误的验证码过多" in throttled.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # the refusal was kept, not rolled back


def test_with_staff_otp_required_off_the_password_is_enough(client, settings):
    settings.STAFF_OTP_REQUIRED = False
    user = UserFactory(roles=[Role.CASE_WORKER])
    _password(client, user)
    assert client.get("/admin/").status_code == 200


def test_next_never_leaves_the_site(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    device = make_authenticator(user)
    _password(client, user)
    response = client.post("/otp/verify/", {"code": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


def test_the_login_page_shows_the_demo_hint_in_debug_only(client, settings):
    settings.DEBUG = True
    assert "demo_otp_code" in client.get("/admin/login/").content.decode()
    settings.DEBUG = False
    assert "demo_otp_code" not in client.get("/admin/login/").content.decode()
