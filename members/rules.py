"""Pure rules about members' enrollment facts: no ORM, no settings."""

from collections.abc import Iterable
from datetime import date

COMBINED = "combined"
POOLED_ONLY = "pooled_only"

# The one refusal of Ziyang 第八条(二), whichever path asks (members.services.enrollment gives it
# its message).
SCHEME_GOES_BACK = "scheme_goes_back"


def scheme_change_refusal(spells: Iterable[tuple[date, str]]) -> str | None:
    """The one home of Ziyang 第八条(二): None when a member's scheme history is allowed, else the
    refusal code (SCHEME_GOES_BACK).

    资阳 第八条(二): 单建统筹参保人员可以变更为统账结合 …… 变更参保方式后不得再次变更. A member's
    scheme changes at most once, from pooled-only (单建统筹) to combined (统账结合): in date order
    the schemes read pooled_only…, then combined…. Any other history has a combined spell followed
    by a pooled-only one (with two schemes, a second change, combined → pooled-only → combined,
    starts by going back), so one test decides every case.

    `spells`: the member's whole history as (effective_from, scheme), the new spell(s) included,
    in any order. Every path that changes a scheme asks this: the admin's enrollment form and
    member page, the member import, enrollment_add and enrollment_change_scheme.
    """
    seen_combined = False
    for _day, scheme in sorted(spells, key=lambda spell: spell[0]):
        if scheme == COMBINED:
            seen_combined = True
        elif scheme == POOLED_ONLY and seen_combined:
            return SCHEME_GOES_BACK
    return None


def scheme_after_a_change(scheme: str) -> str:
    """The scheme a change of scheme leads to: the other one (scheme_change_refusal says whether
    the change may be made)."""
    return POOLED_ONLY if scheme == COMBINED else COMBINED
