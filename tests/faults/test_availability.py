"""Without a part they need the fault tests skip with the reason, unless FAULTS_REQUIRED=1 (CI)
fails them."""

import pytest

from .conftest import unavailable


def test_a_missing_part_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv("FAULTS_REQUIRED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no redis-server.*FAULTS_REQUIRED=1"):
        unavailable("no redis-server")


def test_a_missing_part_fails_when_the_fault_tests_are_required(monkeypatch):
    monkeypatch.setenv("FAULTS_REQUIRED", "1")
    with pytest.raises(pytest.fail.Exception, match="FAULTS_REQUIRED=1 but no redis-server"):
        unavailable("no redis-server")


def test_ci_requires_the_fault_tests():
    from pathlib import Path

    assert "export FAULTS_REQUIRED=1" in (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
