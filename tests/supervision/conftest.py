import sys
import types
from types import SimpleNamespace

import pytest

from core.roles import Role
from tests.factories import UserFactory


@pytest.fixture
def deductions(monkeypatch):
    """Records the calls to claims.statements.services.deduction_record (written on another
    branch): the real service is spied on when it is there, a recorder stands in when not."""
    calls = []
    try:
        import claims.statements.services as module
    except ImportError:
        module = types.ModuleType("claims.statements.services")

        def deduction_record(**kwargs):
            calls.append(kwargs)
            return SimpleNamespace(pk=f"deduction-{len(calls)}")

        module.deduction_record = deduction_record
        monkeypatch.setitem(sys.modules, "claims.statements.services", module)
        return calls
    real = module.deduction_record

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, "deduction_record", spy)
    return calls


@pytest.fixture
def auditors(db):
    return [UserFactory(roles=[Role.AUDITOR]) for _ in range(3)]


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in their English source form, whatever catalog is compiled."""
    from django.utils import translation

    with translation.override("en"):
        yield
