"""Included by pharmacies.portal_urls under /portal/flags/ (names in the `portal` namespace)."""

from django.urls import path

from . import portal

urlpatterns = [
    path("", portal.flag_list, name="supervision_flags"),
    path("<int:pk>/", portal.flag_detail, name="supervision_flag"),
    path("<int:pk>/appeal/", portal.flag_appeal, name="supervision_flag_appeal"),
]
