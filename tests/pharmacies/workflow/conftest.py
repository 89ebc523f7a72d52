import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import Role
from pharmacies.models import AdmissionCondition, Provider
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def pdf(name="licence.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def png(name="photo.png"):
    return SimpleUploadedFile(name, PNG, content_type="image/png")


ALL_CONDITIONS = list(AdmissionCondition.Condition.values)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Hashing test passwords with PBKDF2 costs seconds per test for nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def case_worker(db):
    return UserFactory(roles=[Role.CASE_WORKER], email="caseworker@agency.example")


@pytest.fixture
def auditor(db):
    return UserFactory(roles=[Role.AUDITOR], email="auditor@agency.example")


@pytest.fixture
def pharmacy(db):
    """A designated pharmacy not yet in outpatient pooling: it applies to join (Ziyang 第十四条)."""
    return ProviderFactory(kind=Provider.Kind.PHARMACY, outpatient_pooling=False, name="康宁大药房")


@pytest.fixture
def pharmacy_user(pharmacy):
    staff = ProviderStaffFactory(provider=pharmacy, user__email="staff@pharmacy.example")
    return staff.user


@pytest.fixture
def other_provider_user(db):
    return ProviderStaffFactory(provider=ProviderFactory(kind=Provider.Kind.PHARMACY)).user
