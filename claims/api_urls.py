from django.urls import path

from . import api

urlpatterns = [
    path("settlements/preview", api.SettlementPreviewView.as_view(), name="settlement-preview"),
    path("settlements", api.SettlementView.as_view(), name="settlement-settle"),
    path("settlements/<int:settlement_id>/reverse", api.SettlementReverseView.as_view(), name="settlement-reverse"),
    path("members/<str:id_number>/benefits", api.MemberBenefitsView.as_view(), name="member-benefits"),
    path("members/<str:id_number>/registrations", api.MemberRegistrationsView.as_view(), name="member-registrations"),
]

# Monthly settlement with providers: reconciliation (claims.statements.api).
from .statements import api as statement_api  # noqa: E402

urlpatterns += [
    path("reconciliations", statement_api.ReconciliationView.as_view(), name="reconciliation-submit"),
    path("reconciliations/<int:reconciliation_id>", statement_api.ReconciliationDetailView.as_view(),
         name="reconciliation-detail"),
]
