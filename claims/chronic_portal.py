"""Provider portal: the chronic and special disease registrations of the provider's patients
(those that designate it, or that it has settled chronic visits under)."""

from django.db.models import Q

from core.params import page_or_default
from pharmacies.portal import portal_view, render_portal

from .models import ChronicRegistration


def registrations_for_provider(provider):
    """Approved or revoked registrations naming the provider, or under which it has settled."""
    return (
        ChronicRegistration.objects.exclude(status=ChronicRegistration.Status.PROPOSED)
        .filter(Q(designated_provider=provider) | Q(claims__claim__provider=provider))
        .select_related("member", "disease", "designated_provider")
        .distinct()
        .order_by("-valid_from", "-pk")
    )


@portal_view
def chronic_registrations(request):
    page_number = page_or_default(request.GET.get("page"))
    per_page = 50
    rows = list(registrations_for_provider(request.provider)[(page_number - 1) * per_page: page_number * per_page + 1])
    return render_portal(request, "portal/chronic_registrations.html", {
        "registrations": rows[:per_page], "page_number": page_number, "has_next": len(rows) > per_page,
    })
