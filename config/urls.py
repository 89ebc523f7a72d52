from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.views import healthz, readyz
from gateway.api import NhsaGatewayView

# The admin site's titles are set by config.admin_site.GongjiAdminSite.
urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # The second factor after the password (core.otp): the code, enrolment, recovery codes.
    path("otp/", include("core.otp_urls")),
    # The person completes a reset the administrator sent (core.admin): nobody sets another's password.
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's start script is served by the same view (?script) as a file, not inline: the
    # Content-Security-Policy allows scripts from the site's own addresses only.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("config.api_urls")),
    # The national interface's one endpoint (gateway): hospitals' and pharmacies' HIS messages.
    path("api/nhsa/", NhsaGatewayView.as_view(), name="nhsa-gateway"),
    # Provider portal: applications and agreement (pharmacies), settlements, statements and
    # reconciliation (claims).
    path("portal/", include("pharmacies.portal_urls")),
    path("portal/", include("claims.statements.portal_urls")),
    # Printable yearly account statements for staff (members).
    path("accounts/", include("members.urls")),
]

# Unknown API addresses and defects answer in the API's one error shape (core.api).
handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.not_found"
handler500 = "core.api.server_error"
