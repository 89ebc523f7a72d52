"""The structure the README ("Layout", "Transactions") promises, checked on the source."""

import ast
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

from core.models import AuditEvent
from core.roles import Role
from members.models import AccountDecision, LedgerEntry, PersonalAccount
from members.services import account_lock, account_post_entry
from tests.factories import MemberFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "tests", "migrations", "node_modules", "static", "var", "locale", "templates"}


def project_modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if any(part in SKIP or part.startswith(".") for part in relative.parts[:-1]):
            continue
        yield relative, path


def is_service_module(relative: Path) -> bool:
    return "services" in relative.parts[:-1] or relative.name.endswith("services.py")


def durable_calls(source: str) -> list[int]:
    """Lines with a call passing durable=True (transaction.atomic(durable=True), or any alias)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "durable" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    lines.append(node.lineno)
    return lines


def test_the_scan_sees_services_and_durable_calls():
    """Guard against a scan that cannot fail: it finds the service modules and would see a
    durable block in one."""
    services = [relative for relative, _path in project_modules() if is_service_module(relative)]
    assert Path("members/services/withdrawals.py") in services
    assert Path("claims/services.py") in services
    assert Path("claims/policy_services.py") in services
    assert durable_calls("@transaction.atomic(durable=True)\ndef f(): pass\n") == [1]
    assert durable_calls("with atomic(using='default', durable=True): pass\n") == [1]
    assert durable_calls("@transaction.atomic\ndef f(): pass\n") == []


def test_no_service_is_durable():
    """README "Transactions": services join the caller's transaction (plain atomic());
    durable=True is only for the outermost entry points (views, tasks, commands)."""
    offenders = {
        str(relative): durable_calls(path.read_text(encoding="utf-8"))
        for relative, path in project_modules()
        if is_service_module(relative)
    }
    assert {name: lines for name, lines in offenders.items() if lines} == {}


# README "Transactions": the outermost entry points, the only modules that open a durable
# transaction (the admin site and the portal through core.transactions.durable_on_post).
ENTRY_POINT_MODULES = {Path("config/admin_site.py"), Path("core/transactions.py")}


def is_entry_point(relative: Path) -> bool:
    """An API view module, a Celery task module, a management command, or one of the two
    request wrappers (the admin site, core.transactions)."""
    return (relative.name in {"api.py", "tasks.py"} or relative.parts[-3:-1] == ("management", "commands")
            or relative in ENTRY_POINT_MODULES)


def test_durable_transactions_open_only_at_entry_points():
    """Not only the modules named services: a service-like function in any other module (a
    calculator's neighbour, claims/chronic.py, claims/statements/approval.py) joins the caller's
    transaction too; durable=True appears only in API views, tasks, commands and the two
    request wrappers."""
    durable = {relative: lines for relative, path in project_modules()
               if (lines := durable_calls(path.read_text(encoding="utf-8")))}
    assert Path("core/transactions.py") in durable and Path("claims/api.py") in durable  # the scan sees them
    assert is_entry_point(Path("members/management/commands/run_monthly_credits.py"))
    assert not is_entry_point(Path("claims/chronic.py")) and not is_entry_point(Path("claims/statements/approval.py"))
    assert {str(relative): lines for relative, lines in durable.items() if not is_entry_point(relative)} == {}


def test_a_service_joins_its_callers_transaction_and_rolls_back_with_it(db):
    """The consequence of the rule: an entry point's durable transaction may call any service,
    and a failure after it leaves nothing of the service behind."""
    from members.services import account_withdrawal_propose

    proposer = UserFactory(roles=[Role.CASE_WORKER])
    account = PersonalAccount.objects.create(member=MemberFactory(), opened_on=date(2023, 1, 1))
    with pytest.raises(RuntimeError, match="after the service"), transaction.atomic(durable=True):
        account_withdrawal_propose(account=account, reason="relocation", user=proposer)
        raise RuntimeError("the entry point fails after the service")
    assert not AccountDecision.objects.exists()
    assert not AuditEvent.objects.filter(action="account.withdrawal_propose").exists()


# --- the admin paths that call services ---------------------------------------------------


def _funded_account(balance: str) -> PersonalAccount:
    account = PersonalAccount.objects.create(member=MemberFactory(), opened_on=date(2023, 1, 1))
    with transaction.atomic():
        account_lock(account_ids=[account.pk])
        account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=Decimal(balance))
    return account


def test_the_withdrawal_proposal_form_submits_and_another_case_worker_executes_it(db, client):
    """Zaozhuang 第九条 (withdrawal on relocation), Ziyang 第十九条 (separated duties), through the
    admin: the add form calls account_withdrawal_propose inside the admin's transaction (it
    answered 500 on every submit while the service was durable), the approve action pays out."""
    proposer, approver = UserFactory(roles=[Role.CASE_WORKER]), UserFactory(roles=[Role.CASE_WORKER])
    account = _funded_account("321.45")

    client.force_login(proposer)
    response = client.post("/admin/members/accountdecision/add/", {
        "account": account.pk, "reason": "relocation", "destination": "", "heirs": "[]", "note": "moves to Hainan",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    decision = AccountDecision.objects.get()
    assert (decision.account_id, decision.reason, decision.status, decision.proposed_by) == (
        account.pk, "relocation", "proposed", proposer)
    assert decision.note == "moves to Hainan"
    assert AuditEvent.objects.filter(action="account.withdrawal_propose", actor=proposer,
                                     target_id=str(decision.pk)).count() == 1
    assert account.entries.count() == 1  # proposing moves no money

    client.force_login(approver)
    response = client.post("/admin/members/accountdecision/", {
        "action": "approve", "_selected_action": [decision.pk], "index": 0,
    })
    assert response.status_code == 302
    decision.refresh_from_db()
    account.refresh_from_db()
    assert (decision.status, decision.amount, decision.decided_by) == ("executed", Decimal("321.45"), approver)
    assert (account.balance, account.status) == (Decimal("0.00"), PersonalAccount.Status.CLOSED)
    payout = account.entries.get(kind=LedgerEntry.Kind.WITHDRAWAL)
    assert (payout.amount, payout.balance_after, payout.reference) == (
        Decimal("-321.45"), Decimal("0.00"), f"decision:{decision.pk}")


def test_a_refused_withdrawal_proposal_names_the_field_and_writes_nothing(db, client):
    """Zaozhuang 第九条: a transfer names the region it goes to; the form says so, nothing written."""
    proposer = UserFactory(roles=[Role.CASE_WORKER])
    account = _funded_account("10.00")
    client.force_login(proposer)
    response = client.post("/admin/members/accountdecision/add/", {
        "account": account.pk, "reason": "transfer_to_another_region", "destination": "", "heirs": "[]",
    })
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert "请填写转入的统筹地区。" in errors and "destination_required" not in errors  # the message, never the code
    assert not AccountDecision.objects.exists()
    assert not AuditEvent.objects.filter(action="account.withdrawal_propose").exists()


# --- the import graph -----------------------------------------------------------------------

# README "Layout": core ← members ← pharmacies ← claims ← supervision; gateway, config, demo and
# devtools sit above them all. A module may import its own layer and the ones below, never above.
# Every top-level package (and module) of the project is classified here: one the scan does not
# know fails the test (a new app would otherwise escape the layering).
LAYERS = {"core": 0, "members": 1, "pharmacies": 2, "claims": 3, "supervision": 4,
          "gateway": 5, "config": 5, "demo": 5, "devtools": 5,
          "manage": 5}  # manage.py: the command line's entry point, above everything


def top_level(relative: Path) -> str:
    """The importable top-level name of a module: its package, or the module itself (manage.py)."""
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def project_top_levels() -> set[str]:
    """Every top-level name a project module could import (the skipped directories included:
    tests, templates … are not application code, but importing them from it is still an arrow)."""
    names = {path.parent.name for path in ROOT.glob("*/__init__.py")} | {path.stem for path in ROOT.glob("*.py")}
    names |= {top_level(relative) for relative, _path in project_modules()}  # namespace packages too
    return {name for name in names if not name.startswith(".")}


def imported_modules(source: str):
    """(line, module) of every absolute import, wherever it is written (functions included)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def layering_problems(modules, known_packages: set[str]) -> list[str]:
    """Arrows against the order, and modules of (or imports into) a top-level package LAYERS does
    not classify. `modules`: (relative path, source); `known_packages`: the project's top-level
    names, so that an import of a third-party package is not taken for an unknown app."""
    wrong = []
    unknown: dict[str, str] = {}
    for relative, source in modules:
        package = top_level(relative)
        if package not in LAYERS:
            unknown.setdefault(package, f"{package}: a top-level package the layering test does not classify ({relative})")
            continue
        for line, module in imported_modules(source):
            target = module.split(".")[0]
            if target in LAYERS:
                if LAYERS[target] > LAYERS[package]:
                    wrong.append(f"{relative}:{line} {package} → {module}")
            elif target in known_packages:
                wrong.append(f"{relative}:{line} {package} → {module}: {target} is not classified in LAYERS")
    return [unknown[name] for name in sorted(unknown)] + wrong


def arrows_against_the_order() -> list[str]:
    return layering_problems(((relative, path.read_text(encoding="utf-8")) for relative, path in project_modules()),
                             project_top_levels())


def test_the_import_scan_sees_imports_inside_functions():
    assert [module for _line, module in imported_modules("def f():\n    from supervision import realtime\n")] == [
        "supervision"]
    assert list(imported_modules("from . import models\n")) == []


def test_no_import_runs_against_the_documented_order():
    """claims never imports supervision (supervision registers its real-time rules with
    claims.visit_facts at start-up); core imports no app; members imports neither pharmacies
    nor claims; every top-level package is classified."""
    assert arrows_against_the_order() == []


def test_every_top_level_package_is_classified_and_every_class_exists():
    """The packages the scan reads are exactly those LAYERS classifies: a new app fails until it is
    given its place, and no entry names a package that is gone."""
    scanned = {top_level(relative) for relative, _path in project_modules()}
    assert scanned == set(LAYERS)
    assert set(LAYERS) <= project_top_levels()


def test_the_layering_check_fails_on_an_unknown_package():
    """A new top-level app is refused, listed by name, whatever it imports; so is an import of it
    from a classified one. Third-party imports are not apps."""
    known = project_top_levels() | {"billing"}
    modules = [
        (Path("billing/services.py"), "from claims.models import Claim\n"),
        (Path("billing/models.py"), "from django.db import models\n"),
        (Path("members/helpers.py"), "import decimal\nfrom django.db import models\nfrom billing import services\n"),
        (Path("members/other.py"), "from claims import calculator\n"),
    ]
    assert layering_problems(modules, known) == [
        "billing: a top-level package the layering test does not classify (billing/services.py)",
        "members/helpers.py:3 members → billing: billing is not classified in LAYERS",
        "members/other.py:1 members → claims",
    ]
    assert layering_problems([(Path("members/helpers.py"), "import decimal\n")], known) == []


def test_the_order_tested_is_the_order_the_readme_documents():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`core` ← `members` ← `pharmacies` ← `claims` ← `supervision`" in readme


def test_supervision_registers_its_settlement_rules_with_claims():
    from claims import visit_facts
    from supervision.realtime import run_single_visit_rules

    assert run_single_visit_rules in visit_facts._checks


def test_read_only_admins_use_the_mixin():
    """core.admin.ReadOnlyAdminMixin / ReadOnlyInlineMixin say "read-only" once; no admin class
    writes the three has_*_permission methods returning False again, nor a ModelAdmin the
    add-and-delete pair of core.admin.NoAddNoDeleteMixin."""
    names = {"has_add_permission", "has_change_permission", "has_delete_permission"}
    repeated = []
    for relative, path in project_modules():
        if relative.parts[0] == "core" and relative.name == "admin.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                refusing = {item.name for item in node.body if isinstance(item, ast.FunctionDef)
                            and item.name in names and len(item.body) == 1 and isinstance(item.body[0], ast.Return)
                            and isinstance(item.body[0].value, ast.Constant) and item.body[0].value.value is False}
                if refusing == names:
                    repeated.append(f"{relative}:{node.lineno} {node.name}")
                # A ModelAdmin (has_add_permission(self, request): not an inline) refusing add and
                # delete says so with core.admin.NoAddNoDeleteMixin.
                add = next((item for item in node.body if isinstance(item, ast.FunctionDef)
                            and item.name == "has_add_permission"), None)
                if {"has_add_permission", "has_delete_permission"} <= refusing and len(add.args.args) == 2:
                    repeated.append(f"{relative}:{node.lineno} {node.name} (no add, no delete)")
    assert repeated == []


# --- README "Layout" matches the tree ---------------------------------------------------------

# Sub-packages every Django app may have, not rooms of the Layout.
PLUMBING = {"migrations", "management", "commands", "templatetags"}
# Module names of a sub-package that say what they are without the Layout naming them.
STANDARD_MODULES = {"__init__", "admin", "api", "apps", "models", "services", "tasks", "urls", "portal_urls"}


def layout_blocks(readme: str) -> dict[str, str]:
    """The Layout's code block as {"core": text, "core/imports": text, ...}: a line starting with
    `name/` opens a top-level directory, one indented two spaces `name/` a sub-package of it."""
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    blocks: dict[str, str] = {}
    top = current = None
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" ") and line.split()[0].endswith("/"):
            top = current = line.split()[0].rstrip("/")
        elif line.startswith("  ") and not line.startswith("   ") and line.split()[0].endswith("/"):
            current = f"{top}/{line.split()[0].rstrip('/')}"
        blocks.setdefault(current, "")
        blocks[current] += line.split(maxsplit=1)[1] if line.split()[0].endswith("/") else line
        blocks[current] += "\n"
    return blocks


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _defined_in(app: Path, name: str) -> bool:
    return any(f"def {name}(" in path.read_text(encoding="utf-8") or f"class {name}(" in path.read_text(encoding="utf-8")
               for path in app.rglob("*.py"))


def layout_gaps(readme: str) -> list[str]:
    blocks = layout_blocks(readme)
    gaps = [f"{name}/: in the Layout, not in the tree" for name in blocks if not (ROOT / name).is_dir()]
    packages = {path.parent.relative_to(ROOT) for path in ROOT.glob("*/__init__.py")}
    packages |= {path.parent.relative_to(ROOT) for path in ROOT.glob("*/*/__init__.py")}
    for package in sorted(packages):
        if package.parts[0] in SKIP or package.name in PLUMBING or str(package) in blocks:
            continue
        if len(package.parts) == 1 or package.parts[0] in blocks and package.parts[0] != "config":
            gaps.append(f"{package}/: a package of the tree the Layout does not show")
    for name, text in blocks.items():
        directory = ROOT / name
        if not directory.is_dir():
            continue
        if "/" in name:  # a sub-package: the Layout names each of its modules
            for module in sorted(directory.glob("*.py")):
                if module.stem not in STANDARD_MODULES and module.stem not in _words(text):
                    gaps.append(f"{name}/{module.name}: not named in the Layout's {name}/ line")
        # A dotted name (claims.visit_facts) is looked up in the app it names, a bare one in its own.
        dotted = {(ROOT / first, second) for first, second in re.findall(r"\b([a-z]+)\.([A-Za-z_]\w*)", text)
                  if (ROOT / first / "__init__.py").exists()}
        bare = {(ROOT / name.split("/")[0], word) for word in _words(re.sub(r"\b[a-z]+\.[A-Za-z_]\w*", "", text))}
        for app, word in sorted(dotted | bare):
            if (app, word) not in dotted and ("_" not in word.strip("_") or word.isupper()):
                continue  # bare words: only snake_case names (module names, functions) are code
            if not (any(app.rglob(f"{word}.py")) or any(app.rglob(f"{word}/__init__.py")) or _defined_in(app, word)):
                gaps.append(f"{name}/: names {word!r}, no such module or function in {app.name}/")
    return gaps


def test_the_readme_layout_matches_the_tree():
    """Every directory and snake_case module the Layout names exists; every package of the tree
    (apps and their sub-packages) has its line; each sub-package's line names its modules."""
    assert layout_gaps((ROOT / "README.md").read_text(encoding="utf-8")) == []


def test_the_layout_check_can_fail():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing_room = readme.replace("  statements/ ", "  statementz/ ", 1)
    assert "claims/statementz/: in the Layout, not in the tree" in layout_gaps(missing_room)
    assert "claims/statements/: a package of the tree the Layout does not show" in layout_gaps(missing_room)
    unnamed = readme.replace("approval (the one", "(the one", 1)
    assert "claims/statements/approval.py: not named in the Layout's claims/statements/ line" in layout_gaps(unnamed)
    renamed = readme.replace("visit_facts (what", "visit_fact (what", 1)
    assert "claims/: names 'visit_fact', no such module or function in claims/" in layout_gaps(renamed)
    moved = readme.replace("(core.sql)", "(core.fixed_sql)", 1)
    assert "core/: names 'fixed_sql', no such module or function in core/" in layout_gaps(moved)
