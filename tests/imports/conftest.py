import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english_messages():
    """Assertions read the English source strings; one test checks the Chinese rendering."""
    with translation.override("en"):
        yield
