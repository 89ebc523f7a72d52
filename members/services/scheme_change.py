"""Ziyang 第八条(二): a pooled-only member (单建统筹) changes to the combined scheme (统账结合) once.

- In service: 自变更次月起按统账结合方式费率缴费并建立个人账户 — the combined spell starts on the
  first day of the month after the application; until then the member stays pooled-only.
- Retired (已达到法定退休年龄): 按统账结合参保现行缴费规定补足缴费，次月起享受医保待遇，之前的医保待遇
  不再补办 — the combined spell starts the day the arrears are paid, its benefits on the first
  day of the next month; settlement refuses visits in between (`benefits_not_started`).
- 变更参保方式后不得再次变更: the change is asked of the one rule of every path
  (`members.rules.scheme_change_refusal`, through `enrollment.enrollment_check_schemes`): a member
  who has been in the combined scheme is refused with the code and message the admin and the
  import give when a pooled-only spell follows a combined one.

The spell is recorded by `enrollment.record_spell` (which asks the same rule again).
A service: plain `transaction.atomic()` (joins the caller's), locks the member, audits.
"""

from datetime import date

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction

from ..account_credits import add_months
from ..models import Enrollment, Member
from ..rules import scheme_after_a_change
from .enrollment import EnrollmentRefused, enrollment_check_schemes, record_spell


class SchemeChangeRefused(EnrollmentRefused):
    """A scheme change refused for its own conditions (the article's rule raises EnrollmentRefused)."""

    code = "scheme_change_refused"


@transaction.atomic
def enrollment_change_scheme(*, member: Member, applied_on: date, arrears_paid_on: date | None = None, user=None) -> Enrollment:
    member = Member.objects.select_for_update().get(pk=member.pk)
    spells = list(member.enrollments.order_by("effective_from"))
    current = next((spell for spell in reversed(spells) if spell.effective_from <= applied_on), None)
    if current is None:
        raise SchemeChangeRefused(
            _("Only a pooled-only member can change to the combined scheme."), code="not_pooled_only", details={"field": "scheme"}
        )
    # Ziyang 第八条(二): 变更参保方式后不得再次变更. The change leads to the member's other scheme,
    # after every spell recorded (later_spell_exists below); the one rule allows only pooled-only →
    # combined, once, and refuses anything else (EnrollmentRefused, scheme_goes_back).
    scheme = scheme_after_a_change(current.scheme)
    enrollment_check_schemes([*((spell.effective_from, spell.scheme) for spell in spells), (date.max, scheme)])
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
        scheme=scheme, category=current.category, sector=current.sector,
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
