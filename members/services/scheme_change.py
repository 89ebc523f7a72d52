"""Ziyang 第八条(二): a pooled-only member (单建统筹) changes to the combined scheme (统账结合) once.

- In service: 自变更次月起按统账结合方式费率缴费并建立个人账户 — the combined spell starts on the
  first day of the month after the application; until then the member stays pooled-only.
- Retired (已达到法定退休年龄): 按统账结合参保现行缴费规定补足缴费，次月起享受医保待遇，之前的医保待遇
  不再补办 — the combined spell starts the day the arrears are paid, its benefits on the first
  day of the next month; settlement refuses visits in between (`benefits_not_started`).
- 变更参保方式后不得再次变更: a member whose history already has a change to combined is refused.

The spell is recorded by `enrollment.record_spell` (the one check of Ziyang 第八条(二)).
A service: plain `transaction.atomic()` (joins the caller's), locks the member, audits.
"""

from datetime import date
from itertools import pairwise

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError

from ..account_credits import add_months
from ..models import Enrollment, Member
from .enrollment import record_spell


class SchemeChangeRefused(DomainError):
    code = "scheme_change_refused"


@transaction.atomic
def enrollment_change_scheme(*, member: Member, applied_on: date, arrears_paid_on: date | None = None, user=None) -> Enrollment:
    member = Member.objects.select_for_update().get(pk=member.pk)
    spells = list(member.enrollments.order_by("effective_from"))
    current = next((spell for spell in reversed(spells) if spell.effective_from <= applied_on), None)
    if current is None or current.scheme != Enrollment.Scheme.POOLED_ONLY:
        raise SchemeChangeRefused(
            _("Only a pooled-only member can change to the combined scheme."), code="not_pooled_only", details={"field": "scheme"}
        )
    if any(
        earlier.scheme == Enrollment.Scheme.POOLED_ONLY and later.scheme == Enrollment.Scheme.COMBINED
        for earlier, later in pairwise(spells)
    ):
        raise SchemeChangeRefused(
            _("The member has already changed scheme once; it cannot be changed again (Ziyang 第八条(二))."),
            code="scheme_already_changed", details={"field": "scheme"},
        )
    if current.employment_status == Enrollment.EmploymentStatus.RETIRED:
        if arrears_paid_on is None:
            raise SchemeChangeRefused(
                _("A retired member changes scheme by paying the arrears: enter the day they were paid."),
                code="arrears_required", details={"field": "arrears_paid_on"},
            )
        start, benefits_from = arrears_paid_on, add_months(arrears_paid_on, 1)
    else:
        start, benefits_from = add_months(applied_on, 1), None
    if any(spell.effective_from >= start for spell in spells):
        raise SchemeChangeRefused(
            _("The member has an enrollment spell from {date} or later; record the change before it.").format(date=start.isoformat()),
            code="later_spell_exists", details={"field": "applied_on"},
        )
    spell = record_spell(member=member, user=user, facts=dict(
        effective_from=start, employment_status=current.employment_status, retired_on=current.retired_on,
        scheme=Enrollment.Scheme.COMBINED, category=current.category, sector=current.sector,
        civil_servant=current.civil_servant, pre_1949_veteran=current.pre_1949_veteran,
        employer_name=current.employer_name, employer_credit_code=current.employer_credit_code,
        contribution_base=current.contribution_base, monthly_pension=current.monthly_pension,
        benefits_from=benefits_from,
    ))
    audit(
        actor=user, action=AuditAction.ENROLLMENT_CHANGE_SCHEME, target=member, label=member.masked_id_number,
        applied_on=applied_on.isoformat(), effective_from=start.isoformat(),
        benefits_from=benefits_from.isoformat() if benefits_from else None,
    )
    return spell
