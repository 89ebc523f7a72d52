import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english_messages():
    """Assertions read the English source strings; one test checks the Chinese rendering."""
    with translation.override("en"):
        yield


@pytest.fixture
def staff_client(client, db):
    from tests.factories import UserFactory

    user = UserFactory(is_superuser=True, is_staff=True)
    user.save()  # the factory sets the password after saving; the session hash must match the row
    client.force_login(user)
    return client
