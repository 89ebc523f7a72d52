from django.urls import path

from . import api

urlpatterns = [
    path("members/<str:id_number>", api.MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:id_number>/account", api.MemberAccountView.as_view(), name="member-account"),
]
