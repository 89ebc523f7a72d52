from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisionConfig(AppConfig):
    name = "supervision"
    verbose_name = _("Supervision")

    def ready(self):
        from . import todo  # noqa: F401  (the workbench's items: core.todo)
        from pharmacies.portal import add_navigation

        add_navigation("portal:supervision_flags", _("Supervision flags"))
