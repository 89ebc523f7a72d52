"""SITE_URL: the site's address, for the links sent outside a request (the e-mails telling a
provider of a decision). Validated wherever it is set; required in production; development
falls back to runserver's address."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.site import DEVELOPMENT_SITE_URL, site_url

from .test_operations import _manage

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x" * 10 + "a-long-random-production-secret-key-for-the-test-0123456789",
    "ALLOWED_HOSTS": "gongji.example.gov.cn",
}
PRINT_SITE_URL = "from django.conf import settings; print('SITE_URL=' + settings.SITE_URL)"


@pytest.mark.parametrize("raw, expected", [
    ("", ""), ("  ", ""),
    ("https://gongji.example.gov.cn", "https://gongji.example.gov.cn"),
    ("https://gongji.example.gov.cn/", "https://gongji.example.gov.cn"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
])
def test_site_url_is_the_address_without_its_trailing_slash(raw, expected):
    assert site_url({"SITE_URL": raw}) == expected
    assert site_url({}) == ""


@pytest.mark.parametrize("raw", [
    "gongji.example.gov.cn", "ftp://gongji.example.gov.cn", "https://", "https://gongji.example.gov.cn/gongji",
    "https://gongji.example.gov.cn/?a=1", "https://gongji.example.gov.cn/#top", "https://user:pw@gongji.example.gov.cn",
    "https://gongji.example.gov.cn:port",
])
def test_a_site_url_that_is_not_an_address_is_refused(raw):
    with pytest.raises(ImproperlyConfigured, match="SITE_URL must be the site's address"):
        site_url({"SITE_URL": raw})


def test_production_refuses_to_start_without_site_url_or_with_a_wrong_one():
    result = _manage("check", **PRODUCTION)
    assert result.returncode != 0 and "SITE_URL must be set in production" in result.stderr
    result = _manage("check", **PRODUCTION, SITE_URL="gongji.example.gov.cn")
    assert result.returncode != 0 and "SITE_URL must be the site's address" in result.stderr
    result = _manage("shell", "-c", PRINT_SITE_URL, **PRODUCTION, SITE_URL="https://gongji.example.gov.cn/",
                     SECURE_SSL_REDIRECT="0")
    assert result.returncode == 0, result.stderr
    assert "SITE_URL=https://gongji.example.gov.cn\n" in result.stdout


def test_development_falls_back_to_runservers_address():
    result = _manage("shell", "-c", PRINT_SITE_URL, DJANGO_SETTINGS_MODULE="config.settings.development")
    assert result.returncode == 0, result.stderr
    assert f"SITE_URL={DEVELOPMENT_SITE_URL}\n" in result.stdout
    assert DEVELOPMENT_SITE_URL == "http://127.0.0.1:8000"
