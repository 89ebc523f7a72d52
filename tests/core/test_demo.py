from datetime import date

import pytest
from django.contrib.auth import get_user_model

from claims.models import Claim
from demo.data import load_demo
from core.roles import Role
from members.models import LedgerEntry, Member

pytestmark = pytest.mark.django_db


def test_the_demo_loads_once_and_again_changes_nothing(settings):
    settings.REGION = "zaozhuang"
    first = load_demo(today=date(2026, 11, 23))
    counts = (Member.objects.count(), LedgerEntry.objects.count(), Claim.objects.count())
    second = load_demo(today=date(2026, 11, 23))
    assert (Member.objects.count(), LedgerEntry.objects.count(), Claim.objects.count()) == counts
    assert first["settlements"] == second["settlements"]
    # Three pooling visits and one chronic visit (example values, labelled as such).
    assert Claim.objects.count() == 4
    assert Claim.objects.filter(benefit="chronic_special").count() == 1
    assert first["chronic"][-1] == second["chronic"][-1] and first["chronic"][-1].startswith("DEMO-CHRONIC-202611: fund")
    # Zaozhuang 第五条: 1000.00 at a level-3 hospital, deductible 800, 50% → the fund pays 100.00.
    assert first["settlements"][0].startswith("DEMO-202611-0001: fund 100.00")


def test_the_demo_has_one_login_per_role():
    load_demo(today=date(2026, 11, 23))
    users = get_user_model().objects
    for role in Role:
        assert users.filter(groups__name=role.value).exists(), role
    assert not users.get(username="provider").is_staff


def test_the_demo_prints_the_provider_token_once(client):
    from io import StringIO

    from django.core.management import call_command

    from core.models import ApiToken
    from core.tokens import key_digest

    first, second = StringIO(), StringIO()
    call_command("setup_demo", stdout=first)
    line = next(text for text in first.getvalue().splitlines() if text.startswith("API token of provider"))
    key = line.rsplit(" ", 1)[-1]
    assert ApiToken.objects.get(user__username="provider").digest == key_digest(key)
    assert client.get("/api/v1/providers/me", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    call_command("setup_demo", stdout=second)
    assert key not in second.getvalue() and f"{key[:8]}…" in second.getvalue()
    assert ApiToken.objects.filter(user__username="provider").count() == 1


@pytest.mark.second_factor
def test_demo_agency_users_sign_in_with_their_fixed_authenticators(client, settings):
    """README's demo secrets, and `demo_otp_code` printing the code the login accepts."""
    import base64
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from demo.data import DEMO_OTP_KEYS

    load_demo(today=date(2026, 11, 23))
    load_demo(today=date(2026, 11, 23))  # idempotent: still one authenticator each
    for username, key in DEMO_OTP_KEYS.items():
        assert TOTPDevice.objects.filter(user__username=username, confirmed=True).count() == 1
        assert base64.b32encode(bytes.fromhex(key)).decode() in README_TEXT, username
    assert not TOTPDevice.objects.filter(user__username="provider").exists()

    out = io.StringIO()
    call_command("demo_otp_code", "finance", stdout=out)
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    assert client.post("/admin/login/?next=/admin/", {"username": "finance", "password": "gongji-demo-2026"}).status_code == 302
    assert client.post("/otp/verify/", {"code": code, "next": "/admin/"}).status_code == 302
    assert client.get("/admin/").status_code == 200

    for stranger in ["provider", "nobody"]:
        with pytest.raises(CommandError):
            call_command("demo_otp_code", stranger, stdout=io.StringIO())
    get_user_model().objects.create_user("realstaff", password="x" * 16, is_staff=True)
    with pytest.raises(CommandError):
        call_command("demo_otp_code", "realstaff", stdout=io.StringIO())


README_TEXT = (__import__("pathlib").Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
