"""The national-interface message log for case workers (a disputed transaction: who sent what,
when, and what was answered). Read-only; ID numbers masked everywhere."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin, ReadOnlyAdminMixin

from .models import Message
from .wire import loads, masked


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["received_at", "provider", "infno", "msgid", "opter_name", "outcome", "err_msg", "claim_id", "visit_id"]
    list_filter = ["infcode"]
    list_select_related = ["provider"]
    # Exact searches only (indexed): a msgid, a provider code, a transaction code.
    search_fields = ["=msgid", "=provider__code", "=infno"]
    date_hierarchy = "received_at"
    fields = ["received_at", "provider", "user", "opter", "opter_name", "msgid", "infno", "inf_refmsgid", "infcode",
              "err_msg", "visit", "claim", "effect", "reversed_by_msgid", "request_masked", "output_masked"]
    readonly_fields = fields

    @admin.display(description=_("outcome"), ordering="infcode")
    def outcome(self, obj):
        return obj.get_infcode_display()

    @admin.display(description=_("request (ID numbers masked)"))
    def request_masked(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(masked(obj.request), ensure_ascii=False, indent=2))

    @admin.display(description=_("answer (ID numbers masked)"))
    def output_masked(self, obj):
        try:
            shown = json.dumps(masked(loads(obj.output or "{}")), ensure_ascii=False, indent=2)
        except ValueError:
            shown = obj.output
        return format_html("<pre>{}</pre>", shown)
