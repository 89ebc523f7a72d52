from django.urls import path

from . import otp_views

app_name = "otp"

urlpatterns = [
    path("verify/", otp_views.verify, name="verify"),
    path("enrol/", otp_views.enrol, name="enrol"),
    path("recovery-codes/", otp_views.recovery_codes, name="recovery_codes"),
]
