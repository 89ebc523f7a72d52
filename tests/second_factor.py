"""Helpers for tests that sign in through the real pages: an authenticator with a known secret,
and the code it shows (django-otp's TOTP, as a phone app computes it)."""

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def make_authenticator(user, *, confirmed=True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=confirmed)


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code `device` accepts now (steps_ahead=1: the next one, for a second sign-in within
    the same 30 seconds: django-otp never accepts one code twice)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enter_code(client, device, *, steps_ahead: int = 0, next_url: str = "/admin/"):
    return client.post("/otp/verify/", {"code": code_for(device, steps_ahead=steps_ahead), "next": next_url})
