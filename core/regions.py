"""The five regions Gongji serves, as people name them. One deployment serves one region
(settings.REGION); its rules are effective-dated data (claims/policies, members/policies)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Region(models.TextChoices):
    ZAOZHUANG = "zaozhuang", _("Zaozhuang")
    ZIYANG = "ziyang", _("Ziyang")
    HENAN = "henan", _("a Henan city (draft)")
    YANGZHOU = "yangzhou", _("Yangzhou")
    JINAN = "jinan", _("Jinan")


def region_label(key: str) -> str:
    """枣庄市 for "zaozhuang"; an unknown key as it is."""
    try:
        return str(Region(key).label)
    except ValueError:
        return key


def context(request) -> dict:
    """Template context: the region this deployment serves (shown in every page's header)."""
    return {"gongji_region": region_label(settings.REGION)}
