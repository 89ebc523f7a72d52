"""The policy level a settlement applied (`Claim.provider_level`), in words: the settlement's
admin page, the supervision dashboard and its export show the same label."""

from django.utils.translation import gettext_lazy as _

from pharmacies.models import Provider


def level_label(level: str) -> str:
    """The policy level a settlement applied, in words (a pharmacy's own table included; no
    level at all for a pharmacy, which has none)."""
    if level == "pharmacy":
        return str(_("retail pharmacy (its own ratio)"))
    if not level:
        return str(_("no level"))
    try:
        return str(Provider.Level(level).label)
    except ValueError:
        return level


# The levels in the order the policy lists them (Provider.Level), then the pharmacies' own.
LEVEL_ORDER: tuple[str, ...] = (*Provider.Level.values, "pharmacy", "")
