"""Helpers for the statement tests: settled claims written directly, at a chosen time."""

import itertools
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from claims.models import Claim, PolicyVersion
from tests.factories import MemberFactory, UserFactory

_refs = itertools.count(1)


def local(year, month, day, hour=12, minute=0) -> datetime:
    """An aware datetime in Asia/Shanghai."""
    return timezone.make_aware(datetime(year, month, day, hour, minute), timezone.get_default_timezone())


def settled_claim(*, provider, settled_at: datetime, fund="0.00", account="0.00", family_account="0.00", cash="0.00",
                  reversed_at: datetime | None = None, member=None, external_ref=None, user=None,
                  large_expense_subsidy="0.00") -> Claim:
    """A settled claim (optionally reversed) whose total is the sum of its shares."""
    fund, account, family_account, cash = (Decimal(v) for v in (fund, account, family_account, cash))
    subsidy = Decimal(large_expense_subsidy)
    total = fund + subsidy + account + family_account + cash
    policy = PolicyVersion.objects.order_by("pk").first()
    claim = Claim.objects.create(
        submitter=provider.code, external_ref=external_ref or f"HIS-{next(_refs)}", request_hash="x",
        provider=provider, member=member or MemberFactory(), visit_date=timezone.localtime(settled_at).date(), year=timezone.localtime(settled_at).year,
        policy_version=policy, total=total, fully_self_paid=0, over_limit=0, class_b_prepay=0, policy_scope=total,
        temporary_visit_prepay=0, deductible=0, pay_ratio_percent=Decimal("70"), fund=fund, large_expense_subsidy=subsidy,
        personal_burden=account + family_account + cash, account=account, family_account=family_account, cash=cash,
        settled_by=user or UserFactory(),
    )
    changes = {"settled_at": settled_at}
    if reversed_at is not None:
        changes.update(status=Claim.Status.REVERSED, reversed_at=reversed_at)
    Claim.objects.filter(pk=claim.pk).update(**changes)
    claim.refresh_from_db()
    return claim


MARCH = date(2026, 3, 1)
APRIL = date(2026, 4, 1)
