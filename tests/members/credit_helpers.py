"""Helpers for the account-credit tests: load a region's shipped preset, make members, run a month."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from members.models import Enrollment, LedgerEntry, ReferenceValue
from members.services import credit_month, credit_policy_load
from tests.factories import MemberFactory

POLICIES = Path(__file__).resolve().parents[2] / "members" / "policies"


def use_region(settings, region: str, **references: str):
    """Switch the deployment to `region`, load its shipped preset and the given average pensions:
    use_region(settings, "henan", average_pension_2021_enterprise="2800.00")."""
    settings.REGION = region
    credit_policy_load(data=json.loads((POLICIES / f"{region}.json").read_text(encoding="utf-8")))
    for key, value in references.items():
        parts = key.split("_")
        sector = parts[3] if len(parts) > 3 else ""
        ReferenceValue.objects.create(kind="average_pension", year=int(parts[2]), sector=sector, value=Decimal(value))


def member(born=date(1980, 5, 17), spells=None, **spell):
    """A member with one enrollment spell from 2020-01-01 (or the given list of spells)."""
    person = MemberFactory(born=born, enrollment=False)
    for values in spells or [spell]:
        values = dict(values)
        values.setdefault("effective_from", date(2020, 1, 1))
        values.setdefault("employment_status", "in_service")
        values.setdefault("scheme", "combined")
        for key in ("contribution_base", "monthly_pension"):
            if values.get(key) is not None:
                values[key] = Decimal(values[key])
        Enrollment.objects.create(member=person, **values)
    return person


def month(text: str) -> date:
    year, number = text.split("-")
    return date(int(year), int(number), 1)


def run(text: str, **kwargs):
    return credit_month(month=month(text), **kwargs)


def credits_of(person, text: str, kind: str = "monthly_credit"):
    """The amount credited to `person` for month `text`, or None when there is no entry."""
    amounts = list(
        LedgerEntry.objects.filter(account__member=person, kind=kind, period=month(text)).values_list("amount", flat=True)
    )
    assert len(amounts) <= 1
    return amounts[0] if amounts else None
