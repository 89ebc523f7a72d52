"""Data the browser tests start from, made with the project's own services: the Zaozhuang
policy preset, a catalog item, members with an account, settlements through claim_settle."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from claims.models import CatalogItem
from claims.policy_services import policy_load
from claims.services import ItemRequest, SettlementRequest, claim_settle
from members.models import LedgerEntry
from members.services import account_post_entry
from tests.factories import AccountFactory, MemberFactory, ProviderStaffFactory

PRESET = Path(__file__).resolve().parents[2] / "claims" / "policies" / "zaozhuang.json"
VISIT = date(2023, 2, 1)


def settlement_policy():
    policy_load(data=json.loads(PRESET.read_text(encoding="utf-8")))
    CatalogItem.objects.create(code="A-DRUG", name="阿莫西林胶囊", kind="drug", item_class="A", list_price=Decimal("10.00"))


def member_with_account(name: str, balance: str):
    member = MemberFactory(name=name)
    account = AccountFactory(member=member)
    with transaction.atomic():
        account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=Decimal(balance), reference="e2e")
    return member


def staff_of(provider=None, **kwargs):
    """A provider staff user (of a new provider unless one is given)."""
    return ProviderStaffFactory(**({"provider": provider} if provider else {}), **kwargs)


def settle(staff, member, *, external_ref: str, quantity: str = "30", use_account: bool = True) -> dict:
    """A visit settled by the staff's provider: quantity × A-DRUG at 10.00."""
    request = SettlementRequest(
        member_id_number=member.id_number, visit_date=VISIT, external_ref=external_ref, use_account=use_account,
        items=(ItemRequest("A-DRUG", Decimal(quantity), Decimal("10.00")),),
    )
    response, created = claim_settle(user=staff.user, request=request)
    assert created
    return response
