"""The provider's page of supervision flags in the portal (/portal/flags/): its confirmed
flags, their evidence and amounts, the appeal form, and its credit score."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from pharmacies.portal import portal_view, render_portal

from . import services
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
    return render_portal(request, "portal/supervision/flag_detail.html", {
        "flag": flag, "can_appeal": can_appeal, "transitions": flag.transitions.order_by("pk"),
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
