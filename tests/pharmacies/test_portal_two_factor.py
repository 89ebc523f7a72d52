"""Provider staff may opt in to the second factor from the portal (core.otp); once enrolled, the
portal asks for the code after the password; they turn it off with a code."""

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import AuditEvent
from tests.factories import ProviderStaffFactory
from tests.second_factor import code_for, make_authenticator

pytestmark = [pytest.mark.django_db, pytest.mark.second_factor]
PASSWORD = "correct-horse-battery"
PAGE = "/portal/two-factor/"


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def staff():
    return ProviderStaffFactory().user


def _password(client, user):
    response = client.post("/portal/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return response


def test_without_opting_in_the_password_is_enough(client, staff):
    _password(client, staff)
    assert client.get("/portal/").status_code == 200


def test_opting_in_then_the_portal_asks_for_the_code(client, staff):
    _password(client, staff)
    page = client.get(PAGE)
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "登录安全" in html
    assert '密钥：<code id="otp-secret"' in html and "密钥:" not in html  # the full-width colon
    device = TOTPDevice.objects.get(user=staff, confirmed=False)

    wrong = client.post(PAGE, {"code": "000000" if code_for(device) != "000000" else "111111", "operation": "enable"})
    assert "验证码不正确" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()

    on = client.post(PAGE, {"code": code_for(device), "operation": "enable"})
    assert on.status_code == 200
    assert len(on.context["codes"]) == 10
    assert StaticDevice.objects.get(user=staff).token_set.count() == 10
    assert client.get("/portal/").status_code == 200  # this session is verified
    assert AuditEvent.objects.filter(action="auth.otp_enrol", actor=staff).exists()

    client.post("/portal/logout/")
    _password(client, staff)
    sent = client.get("/portal/settlements/")
    assert sent.status_code == 302 and sent["Location"].startswith("/otp/verify/?next=%2Fportal%2Fsettlements%2F")
    verify = client.get(sent["Location"])
    assert "一次性验证码" in verify.content.decode()
    device.refresh_from_db()
    ok = client.post("/otp/verify/", {"code": code_for(device, steps_ahead=1), "next": "/portal/settlements/"})
    assert ok["Location"] == "/portal/settlements/"
    assert client.get("/portal/").status_code == 200


def test_turning_it_off_needs_a_code(client, staff):
    device = make_authenticator(staff)
    _password(client, staff)
    client.post("/otp/verify/", {"code": code_for(device), "next": "/portal/"})
    page = client.get(PAGE)
    assert "关闭一次性验证码" in page.content.decode()
    refused = client.post(PAGE, {"code": "12345678", "operation": "disable"})
    assert refused.status_code == 200
    assert TOTPDevice.objects.filter(user=staff).exists()
    off = client.post(PAGE, {"code": code_for(device, steps_ahead=1), "operation": "disable"})
    assert off.status_code == 302
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert AuditEvent.objects.filter(action="auth.otp_disable", actor=staff).exists()
    client.post("/portal/logout/")
    _password(client, staff)
    assert client.get("/portal/").status_code == 200
