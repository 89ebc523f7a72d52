"""The second factor (等保 2.0 level 3: two authentication factors for those who administer the
system): time-based one-time codes (django-otp's TOTP devices) and single-use recovery codes
(django-otp's static devices).

- Every agency user (staff account, superuser, any agency role) needs it while STAFF_OTP_REQUIRED
  is on: after the password, one without a confirmed device enrols (QR code and secret, confirmed
  with a code, then 10 recovery codes shown once); one with a device enters a code. Until then
  `SecondFactorMiddleware` lets them reach only the code pages (and log out).
- Provider staff may opt in from the portal; once enrolled, the portal asks them for a code too.
- A wrong code counts like a wrong password: django-axes' lockout of (username, client) and the
  per-username back-off (core.auth), on top of django-otp's own per-device throttling.
- A 系统管理 proposes resetting someone's second factor (with a reason); another 系统管理 or a
  superuser approves, and the person's devices are deleted: they enrol at their next login.

Services here join the caller's transaction; the views (core.otp_views, the portal, the admin)
are the entry points.
"""

import base64
import binascii

from django.conf import settings
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit
from .audit_actions import AuditAction
from .errors import Conflict, DomainError, DutyConflict, Forbidden
from .roles import Role, ensure_separated, has_role, holds_agency_role

TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


# --- who needs it ------------------------------------------------------------------------------


def is_agency_user(user) -> bool:
    return holds_agency_role(user)


def has_confirmed_totp(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def requires_second_factor(user) -> bool:
    """Agency users while STAFF_OTP_REQUIRED is on; anyone else who enrolled (provider opt-in)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if is_agency_user(user):
        return bool(settings.STAFF_OTP_REQUIRED) or has_confirmed_totp(user)
    return has_confirmed_totp(user)


def second_factor_pending(request) -> bool:
    """Signed in with the password, but still owing the second factor (remembered on the request)."""
    cached = getattr(request, "_gongji_otp_pending", None)
    if cached is None:
        user = request.user
        # is_verified comes from django-otp's middleware; without it, nobody is verified.
        is_verified = getattr(user, "is_verified", None)
        cached = bool(
            getattr(user, "is_authenticated", False)
            and not (is_verified is not None and is_verified())
            and requires_second_factor(user)
        )
        request._gongji_otp_pending = cached
    return cached


# --- the gate ----------------------------------------------------------------------------------

# What a person owing the second factor may still reach: the code pages themselves, logging out,
# the login pages (to sign in as someone else), static files, health checks and the language switch.
OPEN_PREFIXES = (
    "/otp/", "/static/", "/healthz", "/readyz", "/i18n/",
    "/admin/login/", "/admin/logout/", "/portal/login/", "/portal/logout/", "/password-reset/",
)


class SecondFactorMiddleware:
    """Sends a user who owes the second factor to the code page (or the enrolment page) from any
    other page; the API answers 403 `second_factor_required` to such a session (tokens are not
    sessions and are not concerned: provider systems authenticate with them)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if not path.startswith(OPEN_PREFIXES) and second_factor_pending(request):
            if path.startswith("/api/"):
                return JsonResponse(
                    {
                        "code": "second_factor_required",
                        "message": gettext("Enter your one-time code first: sign in again through the login page."),
                        "details": {},
                    },
                    status=403,
                )
            return HttpResponseRedirect(second_factor_url(request.user, next_url=request.get_full_path()))
        return self.get_response(request)


def second_factor_url(user, *, next_url: str = "") -> str:
    """The page that takes this user's code: enrolment for an agency user with no device yet."""
    name = "otp:verify" if has_confirmed_totp(user) else "otp:enrol"
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


# --- devices -----------------------------------------------------------------------------------


def totp_secret_base32(device: TOTPDevice) -> str:
    return base64.b32encode(binascii.unhexlify(device.key)).decode()


def qr_svg(text: str) -> str:
    """An inline SVG of `text` as a QR code (no image service, no CDN)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def enrolment_device(user) -> TOTPDevice:
    """The unconfirmed device this user is enrolling (made on first call, the same one after)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=TOTP_NAME).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def _new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = []
    while len(codes) < settings.OTP_RECOVERY_CODE_COUNT:
        code = StaticToken.random_token()
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def normalize_code(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


class CodeRefused(DomainError):
    code = "otp_invalid"
    default_message = _("The code is not valid. Enter the current 6-digit code from your authenticator app, "
                        "or one of your recovery codes.")


class CodeThrottled(DomainError):
    code = "otp_throttled"
    status = 429
    default_message = _("Too many wrong codes. Wait a few seconds and try again.")


def enrol_confirm(*, user, device: TOTPDevice, code: str) -> list[str]:
    """Confirm the enrolling device with a current code; returns the new recovery codes (shown
    once). Every other device of the user goes (an earlier authenticator, old recovery codes).

    A refusal is raised only after the block that counted it (django-otp's throttling) is done,
    so the count is kept."""
    with transaction.atomic():
        outcome = _enrol_confirm(user=user, device=device, code=code)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _enrol_confirm(*, user, device, code):
    if device.user_id != user.pk or device.confirmed:
        return Conflict(_("This enrolment is no longer open. Start again."), code="otp_enrolment_closed")
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    allowed, _info = device.verify_is_allowed()
    if not allowed:
        return CodeThrottled()
    code = normalize_code(code)
    if not (code.isdigit() and len(code) == device.digits):
        device.throttle_increment()
        return CodeRefused(_("The code does not match. Enter the 6-digit code your authenticator app shows now."))
    if not device.verify_token(code):  # counts the failure itself
        return CodeRefused(_("The code does not match. Enter the 6-digit code your authenticator app shows now."))
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    codes = _new_recovery_codes(user)
    audit(actor=user, action=AuditAction.AUTH_OTP_ENROL, target=user, label=user.get_username())
    return codes


def second_factor_verify(*, user, code: str):
    """The device `code` verifies for `user` (its TOTP device for six digits, its recovery codes
    otherwise; a recovery code works once), or CodeRefused / CodeThrottled (raised after the
    failure was counted and kept)."""
    with transaction.atomic():
        outcome = _second_factor_verify(user=user, code=code)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _second_factor_verify(*, user, code):
    code = normalize_code(code)
    totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
    if totp is None:
        return Conflict(_("No authenticator is enrolled for this account."), code="otp_not_enrolled")
    if code.isdigit() and len(code) == totp.digits:
        allowed, _info = totp.verify_is_allowed()
        if not allowed:
            return CodeThrottled()
        if totp.verify_token(code):
            return totp
        return CodeRefused()
    static = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if static is None or not code:
        totp.throttle_increment()
        return CodeRefused()
    allowed, _info = static.verify_is_allowed()
    if not allowed:
        return CodeThrottled()
    if static.verify_token(code):
        left = static.token_set.count()
        audit(actor=user, action=AuditAction.AUTH_OTP_RECOVERY_USED, target=user, label=user.get_username(), left=left)
        static.recovery_codes_left = left
        return static
    return CodeRefused()


def second_factor_disable(*, user, code: str) -> None:
    """A provider's own opt-out: with a current code (or a recovery code), every device goes."""
    if is_agency_user(user) and settings.STAFF_OTP_REQUIRED:
        raise Forbidden(_("Agency staff must keep the second factor."), code="otp_required")
    second_factor_verify(user=user, code=code)
    with transaction.atomic():
        _delete_devices(user)
        audit(actor=user, action=AuditAction.AUTH_OTP_DISABLE, target=user, label=user.get_username())


def _delete_devices(user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


# --- reset by two persons ----------------------------------------------------------------------


def _ensure_may_reset(actor, user) -> None:
    if not (getattr(actor, "is_superuser", False) or has_role(actor, Role.ADMINISTRATOR)):
        raise Forbidden(_("Only 系统管理 may reset a second factor."), code="otp_reset_forbidden")
    if actor.pk == user.pk:
        raise DutyConflict(_("Nobody resets their own second factor: another administrator does."),
                           code="otp_reset_own")
    if user.is_superuser and not actor.is_superuser:
        raise Forbidden(_("Only a superuser may reset a superuser's second factor."), code="otp_reset_superuser")


@transaction.atomic
def second_factor_reset_propose(*, user, reason: str, actor):
    from .models import SecondFactorReset

    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for the reset."), code="reason_required", details={"field": "reason"})
    _ensure_may_reset(actor, user)
    if SecondFactorReset.objects.filter(user=user, status=SecondFactorReset.Status.PROPOSED).exists():
        raise Conflict(_("A reset of this user's second factor is already waiting for approval."),
                       code="otp_reset_open", details={"user": user.pk})
    reset = SecondFactorReset.objects.create(user=user, reason=reason, proposed_by=actor)
    audit(actor=actor, action=AuditAction.AUTH_OTP_RESET_PROPOSE, target=user, label=user.get_username(),
          reset=reset.pk, reason=reason)
    return reset


def _open_reset(reset):
    from .models import SecondFactorReset

    reset = SecondFactorReset.objects.select_for_update(of=("self",)).select_related("user", "proposed_by").get(
        pk=reset.pk)
    if reset.status != SecondFactorReset.Status.PROPOSED:
        raise Conflict(_("This reset was already decided."), code="already_decided", details={"reset": reset.pk})
    return reset


@transaction.atomic
def second_factor_reset_approve(*, reset, actor):
    """Another 系统管理 (or a superuser) approves: the person's devices are deleted, and they
    enrol again at their next login (a session verified with the deleted device is no longer)."""
    from .models import SecondFactorReset

    reset = _open_reset(reset)
    _ensure_may_reset(actor, reset.user)
    try:
        ensure_separated(proposer=reset.proposed_by, approver=actor)
    except DutyConflict:
        raise DutyConflict(_("The administrator who proposed the reset cannot approve it."),
                           code="separated_duties") from None
    _delete_devices(reset.user)
    reset.status = SecondFactorReset.Status.APPROVED
    reset.decided_by = actor
    reset.decided_at = timezone.now()
    reset.save(update_fields=["status", "decided_by", "decided_at"])
    audit(actor=actor, action=AuditAction.AUTH_OTP_RESET_APPROVE, target=reset.user, label=reset.user.get_username(),
          reset=reset.pk, proposed_by=reset.proposed_by_id)
    return reset


@transaction.atomic
def second_factor_reset_reject(*, reset, actor):
    from .models import SecondFactorReset

    reset = _open_reset(reset)
    if not (getattr(actor, "is_superuser", False) or has_role(actor, Role.ADMINISTRATOR)):
        raise Forbidden(_("Only 系统管理 may reset a second factor."), code="otp_reset_forbidden")
    reset.status = SecondFactorReset.Status.REJECTED
    reset.decided_by = actor
    reset.decided_at = timezone.now()
    reset.save(update_fields=["status", "decided_by", "decided_at"])
    audit(actor=actor, action=AuditAction.AUTH_OTP_RESET_REJECT, target=reset.user, label=reset.user.get_username(),
          reset=reset.pk)
    return reset
