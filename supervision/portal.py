"""The provider's page of supervision flags in the portal (/portal/flags/): its confirmed
flags, their evidence and amounts, the appeal form, and its credit score."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.audit_labels import action_label
from core.errors import DomainError
from pharmacies.portal import portal_view, render_portal

from . import services
from .evidence import evidence_table
from .models import Flag, ProviderCreditScore

# A flag reaches the provider once the second review has confirmed it (and stays visible).
VISIBLE = (Flag.Status.CONFIRMED, Flag.Status.APPEALED, Flag.Status.DEDUCTED)


def _visible(request):
    return Flag.objects.filter(provider=request.provider).filter(
        status__in=VISIBLE
    ) | Flag.objects.filter(provider=request.provider, status=Flag.Status.DISMISSED, appeal_decided_by__isnull=False)


@portal_view(any_status=True)
def flag_list(request):
    flags = _visible(request).select_related("rule").order_by("-day", "-pk")[:200]
    scores = ProviderCreditScore.objects.filter(provider=request.provider).order_by("-year")[:5]
    return render_portal(request, "portal/supervision/flag_list.html", {"flags": flags, "scores": scores})


@portal_view(any_status=True)
def flag_detail(request, pk):
    flag = _visible(request).select_related("rule").filter(pk=pk).first()
    if flag is None:
        raise Http404
    can_appeal = (flag.status == Flag.Status.CONFIRMED and flag.appeal_decided_by_id is None
                  and timezone.localdate() <= flag.appeal_deadline)
    from claims.models import Claim

    # The provider's own transaction numbers, never the agency's ids (issue 16).
    ids = [pk for pk in (flag.evidence or {}).get("claims", []) if isinstance(pk, int)] or (
        [flag.claim_id] if flag.claim_id else [])
    settlements = Claim.objects.filter(pk__in=ids, provider=request.provider).order_by("visit_date", "pk")
    statuses = dict(Flag.Status.choices)
    history = [
        (t.at, _("raised by monitoring") if t.action == "raise" else action_label(f"supervision.flag.{t.action}"),
         statuses.get(t.to_status, t.to_status))
        for t in flag.transitions.order_by("pk")
    ]
    # The evidence in words (the settlements are listed above it): the provider's own items only.
    evidence = evidence_table(flag.evidence or {}, provider_id=request.provider.pk, leave_out=("claims",),
                              settlement_url=lambda claim: reverse("portal_claims:settlement", args=[claim.pk]))
    return render_portal(request, "portal/supervision/flag_detail.html", {
        "flag": flag, "can_appeal": can_appeal, "history": history, "settlements": settlements, "evidence": evidence,
    })


@portal_view(any_status=True)
@require_POST
def flag_appeal(request, pk):
    flag = _visible(request).filter(pk=pk).first()
    if flag is None:
        raise Http404
    try:
        services.flag_appeal(flag=flag, user=request.user, reason=request.POST.get("reason", ""))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your appeal was sent."))
    return redirect("portal:supervision_flag", pk=pk)
