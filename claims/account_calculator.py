"""Account-only settlement (个人账户支付, national med_type 41): the pure calculation, no database.

Zaozhuang 第八条, Ziyang 第六条, Yangzhou 二(三)2, Jinan (十五): the personal account pays the
member's own and their spouse's, parents' and children's personal burden at designated
institutions, and purchases of medicines, devices and consumables at designated pharmacies;
it may not pay public-health, fitness or health-care products (catalog `account_payable`
false: those lines go to cash). The pooled fund pays nothing; the member's year is untouched.

CONTRACT.md "Account-only settlement":
    personal_burden = total − other_insurance_paid
    account paid    = min(personal_burden, account-payable items' total, balance)
    cash            = personal_burden − account paid
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.money import ZERO, to_fen

from .calculator import LineInput, LineResult, price_lines

# A line's reason for going to cash (in the response's lines).
NOT_ACCOUNT_PAYABLE = "not_account_payable"


class AccountCalculationRefused(Exception):
    """The calculation cannot be made; the service turns it into a refusal."""

    def __init__(self, code: str, **details):
        self.code = code
        self.details = details
        super().__init__(code)


@dataclass(frozen=True)
class AccountLineInput:
    line: LineInput
    account_payable: bool = True


@dataclass(frozen=True)
class AccountResult:
    lines: tuple[LineResult, ...]
    # Per line: False when the account may not pay it (cash, reason NOT_ACCOUNT_PAYABLE).
    payable: tuple[bool, ...]
    total: Decimal
    fully_self_paid: Decimal
    over_limit: Decimal
    class_b_prepay: Decimal
    policy_scope: Decimal
    not_account_payable: Decimal
    other_insurance_paid: Decimal
    personal_burden: Decimal
    account: Decimal  # paid from the treated member's own account
    family_account: Decimal  # paid from a linked relative's account (家庭共济)
    cash: Decimal
    balance_after: Decimal


def settle_account_only(
    lines: tuple[AccountLineInput, ...],
    *,
    balance: Decimal,
    other_insurance_paid: Decimal = ZERO,
    family: bool = False,
) -> AccountResult:
    """What the account pays of one bill, and what is left to cash.

    `balance` is the paying account's balance; `family` is True when that account is not the
    treated person's own (the payment is then reported as `family_account`).
    Refuses (AccountCalculationRefused) with `other_insurance_exceeds_total` when the other
    insurance claims to have paid more than the bill, and `account_empty` when the account
    would pay nothing (nothing account-payable, nothing left after the other insurance, or no
    balance).
    """
    priced = price_lines(tuple(item.line for item in lines))
    payable = tuple(item.account_payable for item in lines)
    total = sum((line.amount for line in priced), ZERO)
    other = to_fen(other_insurance_paid or ZERO)
    if other < 0 or other > total:
        raise AccountCalculationRefused("other_insurance_exceeds_total", total=f"{total:.2f}", other_insurance_paid=f"{other:.2f}")
    not_payable = sum((line.amount for line, ok in zip(priced, payable, strict=True) if not ok), ZERO)
    personal_burden = total - other
    due = min(personal_burden, total - not_payable)
    paid = min(due, balance)
    if paid <= 0:
        reason = "nothing_payable" if due <= 0 else "no_balance"
        raise AccountCalculationRefused("account_empty", reason=reason, balance=f"{balance:.2f}")
    return AccountResult(
        lines=priced,
        payable=payable,
        total=total,
        fully_self_paid=sum((line.fully_self_paid for line in priced), ZERO),
        over_limit=sum((line.over_limit for line in priced), ZERO),
        class_b_prepay=sum((line.class_b_prepay for line in priced), ZERO),
        policy_scope=sum((line.policy_scope for line in priced), ZERO),
        not_account_payable=not_payable,
        other_insurance_paid=other,
        personal_burden=personal_burden,
        account=ZERO if family else paid,
        family_account=paid if family else ZERO,
        cash=personal_burden - paid,
        balance_after=balance - paid,
    )
