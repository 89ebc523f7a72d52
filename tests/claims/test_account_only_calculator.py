"""The pure account-only calculation (claims.account_calculator), no database.

Zaozhuang 第八条, Ziyang 第六条, Yangzhou 二(三)2, Jinan (十五): the account pays the personal
burden (less what the person's own insurance paid) of the items it may pay, up to its balance.
"""

from decimal import Decimal

import pytest

from claims.account_calculator import AccountCalculationRefused, AccountLineInput, settle_account_only
from claims.calculator import CatalogFacts, LineInput

D = Decimal


def line(price, quantity="1", payable=True, item_class="A"):
    return AccountLineInput(LineInput(CatalogFacts(code=f"X{price}", item_class=item_class), D(quantity), D(price)), payable)


def test_the_account_pays_everything_it_may_up_to_the_balance_zaozhuang_article_8():
    result = settle_account_only((line("10.00", "3"), line("40.00", payable=False)), balance=D("100.00"))
    assert (result.total, result.account, result.family_account, result.cash, result.not_account_payable, result.balance_after) == (
        D("70.00"), D("30.00"), D("0.00"), D("40.00"), D("40.00"), D("70.00"))
    assert result.payable == (True, False)


def test_balance_caps_the_payment_and_cash_pays_the_rest():
    result = settle_account_only((line("33.33", "3"),), balance=D("50.01"))
    assert (result.total, result.account, result.cash, result.balance_after) == (D("99.99"), D("50.01"), D("49.98"), D("0.00"))


def test_other_insurance_reduces_the_burden_jinan_15():
    """At most the smaller of total − other_insurance_paid and the payable items' total."""
    lines = (line("60.00"), line("40.00", payable=False))
    result = settle_account_only(lines, balance=D("500.00"), other_insurance_paid=D("30.00"), family=True)
    assert (result.personal_burden, result.family_account, result.account, result.cash) == (D("70.00"), D("60.00"), D("0.00"), D("10.00"))
    result = settle_account_only(lines, balance=D("500.00"), other_insurance_paid=D("80.00"), family=True)
    assert (result.personal_burden, result.family_account, result.cash) == (D("20.00"), D("20.00"), D("0.00"))


def test_class_c_items_are_account_payable_unless_flagged():
    """Outside pooling (丙类) is still the personal burden the account pays (Yangzhou 二(三)2)."""
    result = settle_account_only((line("30.00", item_class="C"),), balance=D("100.00"))
    assert (result.fully_self_paid, result.account, result.cash) == (D("30.00"), D("30.00"), D("0.00"))


@pytest.mark.parametrize(
    ("lines", "balance", "other", "code", "reason"),
    [
        ((line("40.00", payable=False),), "100.00", "0", "account_empty", "nothing_payable"),
        ((line("40.00"),), "0.00", "0", "account_empty", "no_balance"),
        ((line("40.00"),), "100.00", "40.00", "account_empty", "nothing_payable"),
        ((line("40.00"),), "100.00", "40.01", "other_insurance_exceeds_total", None),
    ],
)
def test_refusals(lines, balance, other, code, reason):
    with pytest.raises(AccountCalculationRefused) as refused:
        settle_account_only(lines, balance=D(balance), other_insurance_paid=D(other))
    assert refused.value.code == code
    assert refused.value.details.get("reason") == reason
