"""The benchmarks delete claims, ledger entries and the rule library: they run only on a
database made for them (devtools.guard), and devtools is never installed in production."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from members.models import Member
from tests.factories import MemberFactory

BENCHMARKS = ["bench_import", "bench_credits", "bench_settlement", "bench_close_month", "bench_monitoring",
              "bench_admin_changelist", "bench_gateway"]


def _run(name, *args):
    return call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_refuses_a_database_not_made_for_it(name):
    with pytest.raises(CommandError, match="bench_database --mark"):
        _run(name)
    assert not Member.objects.exists()


@pytest.mark.django_db
def test_a_database_holding_members_is_never_marked():
    MemberFactory()
    with pytest.raises(CommandError, match="already holds data"):
        _run("bench_database", "--mark")
    with pytest.raises(CommandError, match="bench_database --mark"):
        _run("bench_import", "--rows", "10", "--prefix", "530300")
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_a_marked_database_runs_the_benchmark():
    out = io.StringIO()
    call_command("bench_database", "--mark", stdout=out)
    assert "made for the benchmarks" in out.getvalue() and "NOT" not in out.getvalue()
    _run("bench_import", "--rows", "20", "--prefix", "530301")
    assert Member.objects.filter(id_number__startswith="530301").count() == 20


def test_devtools_is_installed_in_development_only():
    from config.settings import base

    root = Path(__file__).resolve().parents[2]
    assert "devtools" not in base.INSTALLED_APPS
    assert "devtools" not in (root / "config" / "settings" / "production.py").read_text(encoding="utf-8")
    assert '"devtools"' in (root / "config" / "settings" / "development.py").read_text(encoding="utf-8")


def test_every_benchmark_command_is_checked_by_the_guard_test():
    """A benchmark added to devtools is in BENCHMARKS above, so its refusal is tested too."""
    commands = Path(__file__).resolve().parents[2] / "devtools" / "management" / "commands"
    found = {path.stem for path in commands.glob("bench_*.py")} - {"bench_database"}
    assert found and found == set(BENCHMARKS)
