from django.urls import path

from . import api, member_api

urlpatterns = [
    # A member's registry record and account, read by providers and staff (claims.member_api).
    path("members/<str:id_number>", member_api.MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:id_number>/account", member_api.MemberAccountView.as_view(), name="member-account"),
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
