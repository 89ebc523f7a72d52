from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = _("Claims and settlement")

    def ready(self):
        from pharmacies.portal import add_navigation

        from . import member_page, todo  # noqa: F401  (the member page's sections, the workbench's items)

        # Celery finds tasks.py modules only; the statements' task lives in its own module.
        from .statements import tasks  # noqa: F401

        add_navigation("portal_claims:settlements", _("Settlements"))
        add_navigation("portal_claims:statements", _("Monthly statements"))
        add_navigation("portal_claims:year_ends", _("Year-end settlements"))
        add_navigation("portal_claims:reconciliations", _("Reconciliation"))
        add_navigation("portal_claims:chronic_registrations", _("Chronic disease registrations"))
