"""What the provider is told about its statements (issue 16): a monthly statement or a year-end
settlement approved, its payment recorded. Sent by the services inside their transaction
(pharmacies.services.notify_provider); each notification links to the statement's or the
year-end settlement's page in the portal. Amounts as ¥ with two decimals, the month as people write it (2026年11月).
"""

from functools import partial

from django.urls import reverse
from django.utils.translation import gettext_noop

from core.formats import month_label
from pharmacies.services import money_text, notify_provider

# (subject, body) per event, rendered in the deployment's language (zh-hans).
MESSAGES = {
    "statement_approved": (
        gettext_noop("Monthly statement for %(period)s approved"),
        gettext_noop(
            "Your monthly statement for %(period)s has been approved: %(count)s settlements, "
            "deductions %(deductions)s, amount payable %(payable)s. Payment follows."
        ),
    ),
    "statement_paid": (
        gettext_noop("Monthly statement for %(period)s paid"),
        gettext_noop(
            "The amount payable on your monthly statement for %(period)s, %(payable)s, has been "
            "paid: payment reference %(reference)s."
        ),
    ),
    "year_end_approved": (
        gettext_noop("Year-end settlement for %(year)s approved"),
        gettext_noop(
            "Your year-end settlement for %(year)s has been approved: amount payable %(payable)s "
            "(quality deposit returned %(deposit)s). Payment follows."
        ),
    ),
    "year_end_paid": (
        gettext_noop("Year-end settlement for %(year)s paid"),
        gettext_noop(
            "The amount payable on your year-end settlement for %(year)s, %(payable)s, has been "
            "paid: payment reference %(reference)s."
        ),
    ),
}


def statement_notify(statement, event: str) -> None:
    """Tell the statement's provider (a cross-region clearing statement has none: no one told)."""
    if statement.provider_id is None:
        return
    notify_provider(
        statement.provider,
        MESSAGES[event],
        {
            "period": partial(month_label, statement.month),
            "count": statement.settlement_count,
            "deductions": money_text(statement.deductions_total),
            "payable": money_text(statement.payable),
            "reference": statement.payment_reference or "-",
        },
        link=reverse("portal_claims:statement", args=[statement.pk]),
    )


def year_end_notify(settlement, event: str) -> None:
    """Tell the provider, linked to the year-end settlement's page in the portal."""
    notify_provider(
        settlement.provider,
        MESSAGES[event],
        {
            "year": settlement.year,
            "payable": money_text(settlement.payable),
            "deposit": money_text(settlement.deposit_returned),
            "reference": settlement.payment_reference or "-",
        },
        link=reverse("portal_claims:year_end", args=[settlement.pk]),
    )
