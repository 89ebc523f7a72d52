"""Telling the provider: portal notifications and e-mail after commit."""

from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import NotFound
from core.money import to_fen
from core.roles import Role, require_role

from ..models import (
    Application,
    Notification,
    Provider,
)
from .common import _acts_for_provider, logger

# What the provider is told at each decision (subject, body); rendered in LANGUAGE_CODE.
MESSAGES = {
    "received": (
        gettext_noop("Application no. %(number)s for %(name)s received"),
        gettext_noop(
            "Your application no. %(number)s for the designation of %(name)s (%(code)s) has been "
            "received and awaits review by the agency."
        ),
    ),
    "under_review": (
        gettext_noop("Application no. %(number)s for %(name)s is under review"),
        gettext_noop(
            "The agency has started reviewing your application no. %(number)s for %(name)s "
            "(%(code)s). A site inspection may follow."
        ),
    ),
    "approved": (
        gettext_noop("Application no. %(number)s for %(name)s approved"),
        gettext_noop(
            "Your application no. %(number)s for %(name)s (%(code)s) has been approved. The agency "
            "will contact you to sign the agreement. %(reason)s"
        ),
    ),
    "rejected": (
        gettext_noop("Application no. %(number)s for %(name)s rejected"),
        gettext_noop(
            "Your application no. %(number)s for %(name)s (%(code)s) has been rejected. Reasons: "
            "%(reason)s"
        ),
    ),
    "signed": (
        gettext_noop("Agreement signed with %(name)s"),
        gettext_noop(
            "The agreement with %(name)s (%(code)s) has been signed: valid from %(period_from)s to "
            "%(period_to)s, payment method %(payment_method)s, outpatient pooling: %(pooling)s."
        ),
    ),
    "in_force": (
        gettext_noop("%(name)s is a designated provider"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) is in force from %(period_from)s to %(period_to)s."
        ),
    ),
    "expired": (
        gettext_noop("Agreement of %(name)s expired"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) ended on %(period_to)s and no renewal is in force: "
            "settlements are refused until a renewed agreement comes into force."
        ),
    ),
    "renewed": (
        gettext_noop("Agreement of %(name)s renewed"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) has been renewed: valid from %(period_from)s to "
            "%(period_to)s, payment method %(payment_method)s, outpatient pooling: %(pooling)s. "
            "Reason: %(reason)s"
        ),
    ),
    "suspended": (
        gettext_noop("Agreement of %(name)s suspended"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) is suspended; settlements are refused until it is "
            "reinstated. Reason: %(reason)s"
        ),
    ),
    "reinstated": (
        gettext_noop("Agreement of %(name)s reinstated"),
        gettext_noop("The agreement of %(name)s (%(code)s) is in force again. Reason: %(reason)s"),
    ),
    "terminated": (
        gettext_noop("Agreement of %(name)s terminated"),
        gettext_noop(
            "The agreement of %(name)s (%(code)s) has been terminated. Reason: %(reason)s"
        ),
    ),
}
def _recipients(*, provider: Provider | None, application: Application | None) -> list[str]:
    emails = set()
    if provider is not None:
        emails.update(
            get_user_model()
            .objects.filter(provider_staff__provider=provider, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    if application is not None and application.contact_email:
        emails.add(application.contact_email)
    return sorted(emails)


def portal_page(link: str, application: Application | None = None) -> str:
    """The portal page a notification is about (a path): its link (a flag, a statement, a
    year-end settlement); the application of a designation step; the provider's agreement page
    for a step of the agreement itself."""
    if link:
        return link
    if application is not None:
        return reverse("portal:application", args=[application.pk])
    return reverse("portal:agreements")


def absolute_url(path: str) -> str:
    """A path as an address to open from outside the site (an e-mail): SITE_URL + path."""
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _send(subject: str, body: str, recipients: list[str]) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # the decision stands; the notification is in the portal
        logger.exception("notification e-mail failed: %s", subject)


def money_text(amount) -> str:
    """An amount as the provider reads it on a notification: ¥1,234.56 (two decimals, to the fen)."""
    return f"¥{to_fen(Decimal(str(amount))):,.2f}"


def notify_provider(
    provider: Provider | None,
    message,
    values: dict,
    *,
    link: str = "",
    application: Application | None = None,
) -> Notification | None:
    """Tell the provider's staff: a portal notification now, an e-mail once the transaction commits.

    `message` is a key of MESSAGES or a (subject, body) pair of gettext_noop strings (other apps
    keep their own: supervision.notifications, claims.statements.notifications); `link` is the
    portal page of the object (a path). The e-mail's body ends with the page's absolute address
    (SITE_URL + the path, `portal_page`). Called by services inside their transaction, so a
    rolled-back decision leaves no notification and sends no e-mail.

    Provider staff read Chinese: the text is rendered in the deployment's language
    (LANGUAGE_CODE, zh-hans), whatever language the acting case worker's request used; a value
    that is a callable (e.g. ``partial(month_label, month)``) is evaluated in that language too.
    Nothing is written when there is no provider to tell (a cross-region clearing statement).
    """
    provider = provider or (application.provider if application is not None else None)
    if provider is None and application is None:
        return None
    subject_template, body_template = MESSAGES[message] if isinstance(message, str) else message
    with translation.override(settings.LANGUAGE_CODE):
        rendered = {key: value() if callable(value) else value for key, value in values.items()}
        subject = gettext(subject_template) % rendered
        body = gettext(body_template) % rendered
        # The e-mail links to the page: an absolute address, the mail being read outside the site.
        email_body = body + "\n\n" + gettext("Open it in the portal: %(url)s") % {
            "url": absolute_url(portal_page(link, application))}
    recipients = _recipients(provider=provider, application=application)
    notification = Notification.objects.create(
        provider=provider,
        application=application,
        subject=subject[:200],
        body=body,
        link=link[:300],
        emailed_to=", ".join(recipients),
    )
    if recipients:
        transaction.on_commit(partial(_send, subject, email_body, recipients))
    return notification


def _notify(*, message: str, values: dict, provider=None, application=None) -> Notification:
    """The designation workflow's notifications (pharmacies' own messages, linked to the application)."""
    return notify_provider(provider, message, values, application=application)


# --- notifications and API tokens (portal) -----------------------------------------------


@transaction.atomic
def notifications_mark_read(*, actor, provider: Provider, notification_id: int | None = None) -> int:
    """Mark the provider's unread notifications read: all of them, or the one given (another
    provider's notification, or one that does not exist, is NotFound: nothing is written).

    Each notification marked is one audit event (who, when, which notification) in the same
    transaction; one already read is left as it is and audited no more."""
    require_role(actor, Role.PROVIDER)
    if _acts_for_provider(actor) != provider:
        raise NotFound()
    unread = Notification.objects.for_provider(provider)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
        if not unread.exists():
            raise NotFound()
    # Locked, so that two requests marking the same notification audit it once.
    marked = list(unread.filter(read_at__isnull=True).order_by("pk").select_for_update(of=("self",)))
    if not marked:
        return 0
    now = timezone.now()
    Notification.objects.filter(pk__in=[notification.pk for notification in marked]).update(read_at=now)
    for notification in marked:
        audit(actor=actor, action=AuditAction.NOTIFICATION_READ, target=notification, provider=provider.pk)
    return len(marked)
