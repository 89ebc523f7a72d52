"""Without a browser the e2e tests skip with the reason, unless E2E_REQUIRED=1 (CI) fails them."""

import pytest

from .conftest import find_chromium, unavailable


def test_a_named_browser_that_is_missing_is_not_found(monkeypatch, tmp_path):
    monkeypatch.setenv("E2E_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert find_chromium() is None


def test_a_named_browser_is_used(monkeypatch, tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("E2E_CHROMIUM", str(browser))
    assert find_chromium() == str(browser)


def test_missing_browser_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv("E2E_REQUIRED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium found.*E2E_REQUIRED=1"):
        unavailable("no Chromium found")


def test_missing_browser_fails_when_required(monkeypatch):
    monkeypatch.setenv("E2E_REQUIRED", "1")
    with pytest.raises(pytest.fail.Exception, match="E2E_REQUIRED=1 but no Chromium found"):
        unavailable("no Chromium found")
