from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz, readyz

admin.site.site_header = _("Gongji: outpatient mutual-aid back office")
admin.site.site_title = _("Gongji")
admin.site.index_title = _("Medical insurance agency")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("config.api_urls")),
]

# Unknown API addresses and defects answer in the API's one error shape (core.api).
handler404 = "core.api.not_found"
handler500 = "core.api.server_error"
# Provider portal (designated providers' staff; pharmacies app).
urlpatterns += [path("portal/", include("pharmacies.portal_urls"))]
# Provider portal pages of the claims app: settlements, monthly statements, reconciliation.
urlpatterns += [path("portal/", include("claims.statement_portal_urls"))]
