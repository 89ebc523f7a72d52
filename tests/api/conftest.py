import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Django's default hasher takes a second per password on a busy machine; these tests
    create many users and test permissions, not hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
