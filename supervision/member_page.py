"""The member page's flags (core.member_page): the supervision flags raised on the member or on
the member's settlements, each linked to its case page."""

from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.member_page import MemberSection, member_section

from .models import Flag

LIMIT = 50


@member_section
def member_flags(request, member, year):
    flags = (
        Flag.objects.filter(Q(member=member) | Q(claim__member=member))
        .select_related("rule", "provider", "claim").order_by("-day", "-pk")[:LIMIT]
    )
    rows = [
        [
            format_html('<a href="{}">{}</a>', reverse("admin:supervision_flag_change", args=[flag.pk]), flag.rule.title),
            flag.day,
            flag.provider.name if flag.provider_id else "-",
            format_html('<a href="{}">{}</a>', reverse("admin:claims_claim_change", args=[flag.claim_id]), flag.claim.external_ref)
            if flag.claim_id else "-",
            flag.message,
            flag.amount_at_stake,
            flag.get_status_display(),
        ]
        for flag in flags
    ]
    return MemberSection(
        title=_("Supervision flags (all years, latest 50)"),
        headers=[_("rule"), _("date"), _("provider"), _("settlement"), _("finding"), _("amount at stake"), _("status")],
        rows=rows, empty=_("No supervision flag concerns this member."),
    )
