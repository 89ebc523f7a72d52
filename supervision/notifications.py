"""What the provider is told about its supervision flags (issue 16): a flag confirmed, an appeal
decided, a deduction made. Sent by the flag services inside their transaction
(pharmacies.services.notify_provider), linked to the flag's page in the portal.

The text names the provider's own transaction numbers (Claim.external_ref), never the agency's
ids, and the amounts as ¥ with two decimals.
"""

from django.urls import reverse
from django.utils.translation import gettext_noop

from claims.models import Claim
from pharmacies.services import money_text, notify_provider

# (subject, body) per event, rendered in the deployment's language (zh-hans).
MESSAGES = {
    "confirmed": (
        gettext_noop("Violation confirmed: %(rule)s"),
        gettext_noop(
            "The agency has confirmed a violation (%(rule)s) on %(day)s, transaction numbers "
            "%(refs)s: %(amount)s will be deducted from your next monthly statement. You may "
            "appeal in the portal until %(deadline)s. Reason: %(note)s"
        ),
    ),
    "appeal_upheld": (
        gettext_noop("Appeal upheld: %(rule)s"),
        gettext_noop(
            "Your appeal against the violation (%(rule)s) on %(day)s, transaction numbers %(refs)s, "
            "has been upheld: nothing will be deducted. Reason: %(note)s"
        ),
    ),
    "appeal_rejected": (
        gettext_noop("Appeal rejected: %(rule)s"),
        gettext_noop(
            "Your appeal against the violation (%(rule)s) on %(day)s, transaction numbers %(refs)s, "
            "has been rejected: %(amount)s will be deducted from your next monthly statement. "
            "Reason: %(note)s"
        ),
    ),
    "deducted": (
        gettext_noop("Deduction of %(amount)s: %(rule)s"),
        gettext_noop(
            "The confirmed violation (%(rule)s) on %(day)s, transaction numbers %(refs)s, has been "
            "deducted: %(amount)s goes on your next monthly statement."
        ),
    ),
}


def _transaction_numbers(flag) -> str:
    """The provider's own numbers of the settlements behind the flag ("-" when none)."""
    ids = [pk for pk in (flag.evidence or {}).get("claims", []) if isinstance(pk, int)] or (
        [flag.claim_id] if flag.claim_id else [])
    refs = Claim.objects.filter(pk__in=ids, provider_id=flag.provider_id).order_by(
        "visit_date", "pk").values_list("external_ref", flat=True)
    return "、".join(refs) or "-"


def flag_notify(flag, event: str, *, note: str = "") -> None:
    """Tell the flag's provider (no provider: no one to tell)."""
    if flag.provider_id is None:
        return
    notify_provider(
        flag.provider,
        MESSAGES[event],
        {
            "rule": flag.rule.title,
            "day": flag.day.isoformat(),
            "refs": _transaction_numbers(flag),
            "amount": money_text(flag.confirmed_amount or 0),
            "deadline": flag.appeal_deadline.isoformat() if flag.appeal_deadline else "-",
            "note": note or "-",
        },
        link=reverse("portal:supervision_flag", args=[flag.pk]),
    )
