from django.urls import path

from . import views

app_name = "members"

urlpatterns = [
    path("<int:member_pk>/statement/<int:year>/", views.account_statement_view, name="account-statement"),
]
