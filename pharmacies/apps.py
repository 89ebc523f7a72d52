from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PharmaciesConfig(AppConfig):
    name = "pharmacies"
    verbose_name = _("Designated providers")

    def ready(self):
        from . import (
            signals,  # noqa: F401
            todo,  # noqa: F401  (the workbench's items: core.todo)
        )
