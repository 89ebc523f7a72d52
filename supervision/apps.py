from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisionConfig(AppConfig):
    name = "supervision"
    verbose_name = _("Supervision")

    def ready(self):
        from claims import visit_facts
        from pharmacies.portal import add_navigation

        from . import member_page, todo  # noqa: F401  (the member page's flags, the workbench's items)
        from .realtime import run_single_visit_rules

        # Settlement asks for the single-visit rules' warnings through this registration:
        # claims never imports supervision.
        visit_facts.register(run_single_visit_rules)

        add_navigation("portal:supervision_flags", _("Supervision flags"))
