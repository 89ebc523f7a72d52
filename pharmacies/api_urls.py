from django.urls import path

from . import api

urlpatterns = [
    path("providers/me", api.ProviderSelfView.as_view(), name="provider-self"),
    path("providers/<str:code>", api.ProviderDetailView.as_view(), name="provider-detail"),
]
