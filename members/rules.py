"""Pure rules about members' enrollment facts: no ORM, no settings."""

COMBINED = "combined"
POOLED_ONLY = "pooled_only"


def scheme_goes_back(schemes_in_date_order: list[str]) -> bool:
    """True when a member who joined the combined scheme later appears as pooled-only again.

    Ziyang 第八条(二): a pooled-only (单建统筹) member may switch once to the combined
    scheme (统账结合); the switch is never undone.
    """
    seen_combined = False
    for scheme in schemes_in_date_order:
        if scheme == COMBINED:
            seen_combined = True
        elif scheme == POOLED_ONLY and seen_combined:
            return True
    return False
