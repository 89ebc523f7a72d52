"""`ruff check` (pyproject.toml's [tool.ruff]) passes on the whole repository. The test runs the
ruff installed in the project's virtualenv (the `test` extra); without it the test skips, unless
this is CI (E2E_REQUIRED=1, FAULTS_REQUIRED=1 or a CI variable set), where it fails instead."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return (
        os.environ.get("E2E_REQUIRED") == "1" or os.environ.get("FAULTS_REQUIRED") == "1"
        or os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    )


def ruff_binary(bin_dir: Path | None = None) -> str:
    """The virtualenv's ruff (next to its python); skip without it, or fail in CI."""
    bin_dir = bin_dir or Path(sys.executable).parent
    ruff = bin_dir / "ruff"
    if ruff.is_file() and os.access(ruff, os.X_OK):
        return str(ruff)
    reason = f"ruff is not installed in {bin_dir} (scripts/bootstrap.sh installs the `test` extra)"
    if in_ci():
        pytest.fail(f"CI but {reason}", pytrace=False)
    pytest.skip(reason)


# real_clock: runs ruff in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_ruff_finds_nothing():
    ruff = ruff_binary()
    # --no-cache: no .ruff_cache written into the checkout by the test suite.
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"ruff check found:\n{result.stdout}{result.stderr}"


def test_without_ruff_the_lint_test_skips_outside_ci(monkeypatch, tmp_path):
    for name in ("E2E_REQUIRED", "FAULTS_REQUIRED", "CI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pytest.skip.Exception, match="ruff is not installed"):
        ruff_binary(tmp_path)


@pytest.mark.parametrize("name, value", [("E2E_REQUIRED", "1"), ("FAULTS_REQUIRED", "1"), ("CI", "true")])
def test_without_ruff_the_lint_test_fails_in_ci(monkeypatch, tmp_path, name, value):
    for other in ("E2E_REQUIRED", "FAULTS_REQUIRED", "CI"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match="CI but ruff is not installed"):
        ruff_binary(tmp_path)


def test_the_ruff_found_is_the_virtualenvs(tmp_path):
    ruff = tmp_path / "ruff"
    ruff.write_text("#!/bin/sh\n")
    ruff.chmod(0o755)
    assert ruff_binary(tmp_path) == str(ruff)
