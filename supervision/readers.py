"""What supervision offers other apps to read without importing it (a setting names the
function): pharmacies reads a provider's credit for the renewal of its agreement
(settings.PROVIDER_CREDIT_READER; pharmacies may not import supervision, README Layout)."""

from .models import ProviderCreditScore


def provider_latest_credit(provider, year: int | None = None) -> ProviderCreditScore | None:
    """The provider's credit score of the latest year computed (year, score, grade), or None;
    with `year`, that year's score or None (the year-end settlement of a year reads its own)."""
    scores = ProviderCreditScore.objects.filter(provider=provider)
    if year is not None:
        scores = scores.filter(year=int(year))
    return scores.order_by("-year").first()
