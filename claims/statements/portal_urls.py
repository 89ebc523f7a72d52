"""Portal pages of the claims app (/portal/…), namespace portal_claims."""

from django.urls import path

from .. import chronic_portal
from . import portal as views

app_name = "portal_claims"

urlpatterns = [
    path("settlements/", views.settlements, name="settlements"),
    path("settlements/<int:pk>/", views.settlement_detail, name="settlement"),
    path("statements/", views.statements, name="statements"),
    path("statements/<int:pk>/", views.statement_detail, name="statement"),
    path("statements/<int:pk>/print/", views.statement_print, name="statement_print"),
    path("statements/<int:pk>/xlsx/", views.statement_xlsx, name="statement_xlsx"),
    path("year-end/", views.year_ends, name="year_ends"),
    path("year-end/<int:pk>/", views.year_end_detail, name="year_end"),
    path("year-end/<int:pk>/print/", views.year_end_print, name="year_end_print"),
    path("year-end/<int:pk>/xlsx/", views.year_end_xlsx, name="year_end_xlsx"),
    path("reconciliations/", views.reconciliations, name="reconciliations"),
    path("reconciliations/<int:pk>/", views.reconciliation_detail, name="reconciliation"),
    path("chronic-registrations/", chronic_portal.chronic_registrations, name="chronic_registrations"),
]
