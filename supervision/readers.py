"""What supervision offers other apps to read without importing it (a setting names the
function): pharmacies reads a provider's credit for the renewal of its agreement
(settings.PROVIDER_CREDIT_READER; pharmacies may not import supervision, README Layout)."""

from .models import ProviderCreditScore


def provider_latest_credit(provider) -> ProviderCreditScore | None:
    """The provider's credit score of the latest year computed (year, score, grade), or None."""
    return ProviderCreditScore.objects.filter(provider=provider).order_by("-year").first()
