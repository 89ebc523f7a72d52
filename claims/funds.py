"""The funds that pay on a settlement, in one place.

A settlement splits its total into what the funds pay and what the member pays (personal
account, a relative's account, cash): `total = Σ funds + account + family_account + cash`.
Every fund listed here is on the monthly statement (its own column and its reversal), in the
payable, the exports, the reconciliation's `fund` total (基金支付总额, like the national
`fund_pay_sumamt`) and the dashboard. A fund added later (chronic-disease, civil-servant
subsidy: national `cvlserv_pay`) is one line here, its `Claim` field, and the statement's two
columns (`<field>` and `reversed_<field>`, one migration); tests/claims/test_funds.py checks
that every fund listed has them and that the settlements' funds add up to the statements'.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Fund:
    # Stable key (exports, dashboard series, reconciliation breakdown).
    name: str
    # The Claim field holding what this fund paid on a settlement; the statement has the same
    # field (settlements of the month) and `reversed_<field>` (reversals of the month).
    field: str
    label: str | Promise
    # The statement's lines (print, export).
    paid_label: str | Promise
    reversed_label: str | Promise
    # The national interface's fund type (setldetail.fund_pay_type), for reference.
    national_code: str = ""

    @property
    def reversed_field(self) -> str:
        return f"reversed_{self.field}"


FUNDS: tuple[Fund, ...] = (
    # Basic medical insurance pooled fund (统筹基金), every region.
    Fund("pooled", "fund", _("pooled fund"), _("Fund paid"), _("Fund reversed"), "310100"),
    # Jinan (七): the employees' large-amount subsidy (职工大额医疗费用补助), the second payment.
    Fund("large_expense_subsidy", "large_expense_subsidy", _("large-amount subsidy"),
         _("Large-amount subsidy paid"), _("Large-amount subsidy reversed"), "330100"),
)

FUND_FIELDS: tuple[str, ...] = tuple(fund.field for fund in FUNDS)
REVERSED_FUND_FIELDS: tuple[str, ...] = tuple(fund.reversed_field for fund in FUNDS)


def funds_total(obj, *, reversed_: bool = False):
    """What every fund paid on a settlement or a statement (the reversals' with reversed_)."""
    fields = REVERSED_FUND_FIELDS if reversed_ else FUND_FIELDS
    return sum((getattr(obj, field) for field in fields[1:]), getattr(obj, fields[0]))


def funds_expression(prefix: str = ""):
    """The database expression of every fund together (`prefix` for a related path, e.g. "claim__")."""
    expression = F(f"{prefix}{FUND_FIELDS[0]}")
    for field in FUND_FIELDS[1:]:
        expression = expression + F(f"{prefix}{field}")
    return expression


__all__ = ["FUNDS", "FUND_FIELDS", "REVERSED_FUND_FIELDS", "Fund", "funds_expression", "funds_total"]
