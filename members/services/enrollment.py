"""Enrollment changes: a new spell of a member's enrollment facts (a new employer, contribution
base or category, retirement) and the scheme switch (scheme_change). History is never edited: a
change is a new spell from its date.

Ziyang 第八条(二) (单建统筹 → 统账结合 once, 变更参保方式后不得再次变更) has one home: the pure rule
`members.rules.scheme_change_refusal`, refused with one code and one message by
`enrollment_check_schemes`, which the admin forms, the enrollment importer and these services
(enrollment_add, enrollment_change_scheme) all call.

Services: plain `transaction.atomic()` (joins the caller's), lock the member, audit.
"""

from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError

from ..models import Enrollment, Member
from ..rules import scheme_change_refusal

# Ziyang 第八条(二): the message of the rule's one refusal (members.rules.SCHEME_GOES_BACK).
SCHEME_GOES_BACK = _(
    "The scheme changes only once, from pooled only to combined: a member who has been in the combined "
    "scheme cannot change scheme again (Ziyang 第八条(二))."
)


class EnrollmentRefused(DomainError):
    code = "enrollment_refused"


def enrollment_check_schemes(spells: Iterable[tuple[date, str]]) -> None:
    """Refuse a history of (effective_from, scheme) spells that Ziyang 第八条(二) forbids.

    A pooled-only member switches to the combined scheme once, never back nor again
    (members.rules.scheme_change_refusal). No query: the caller gives the whole history, the new
    spell(s) included.
    """
    code = scheme_change_refusal(spells)
    if code is not None:
        raise EnrollmentRefused(SCHEME_GOES_BACK, code=code, details={"field": "scheme"})


def record_spell(*, member: Member, user, facts: dict) -> Enrollment:
    """Check and insert one spell of a locked member (the services' shared step; no audit)."""
    history = list(member.enrollments.values_list("effective_from", "scheme"))
    enrollment_check_schemes([*history, (facts["effective_from"], facts["scheme"])])
    spell = Enrollment(member=member, recorded_by=user if getattr(user, "pk", None) else None, **facts)
    spell.save()
    return spell


@transaction.atomic
def enrollment_add(*, member: Member, user, **facts) -> Enrollment:
    """Record a new spell of `member` from facts["effective_from"] (a change of facts, retirement)."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    spell = record_spell(member=member, user=user, facts=facts)
    audit(
        actor=user, action=AuditAction.ENROLLMENT_ADD, target=member, label=member.masked_id_number,
        effective_from=spell.effective_from.isoformat(), scheme=spell.scheme,
        employment_status=spell.employment_status,
    )
    return spell
