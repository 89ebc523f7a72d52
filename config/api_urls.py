"""Version 1 of the providers' HTTP API (CONTRACT.md); each app adds its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("pharmacies.api_urls")),
    path("", include("claims.api_urls")),
]
