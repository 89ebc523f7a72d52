from django.urls import include, path

from . import portal

app_name = "portal"

urlpatterns = [
    path("", portal.home, name="home"),
    path("login/", portal.PortalLoginView.as_view(), name="login"),
    path("logout/", portal.PortalLogoutView.as_view(), name="logout"),
    path("applications/", portal.application_list, name="applications"),
    path("applications/new/", portal.application_create, name="application_create"),
    path("applications/<int:pk>/", portal.application_detail, name="application"),
    path("applications/<int:pk>/edit/", portal.application_edit, name="application_edit"),
    path("applications/<int:pk>/submit/", portal.application_submit, name="application_submit"),
    path("applications/<int:pk>/documents/", portal.document_upload, name="document_upload"),
    path(
        "applications/<int:pk>/documents/<int:document_pk>/",
        portal.document_download,
        name="document",
    ),
    path(
        "applications/<int:pk>/documents/<int:document_pk>/delete/",
        portal.document_delete,
        name="document_delete",
    ),
    path(
        "applications/<int:pk>/conditions/<str:condition>/",
        portal.condition_answer,
        name="condition_answer",
    ),
    path("agreement/", portal.agreements, name="agreements"),
    path("notifications/", portal.notifications, name="notifications"),
    path("token/", portal.token, name="token"),
    path("two-factor/", portal.two_factor, name="two_factor"),
    path("flags/", include("supervision.portal_urls")),
]
