"""Every audit action is one member of core.audit_actions.AuditAction (issue 12).

Read from the code: each `audit(...)` names `AuditAction.<MEMBER>`, or builds the code of a
family (`workflow_<step>`, `supervision.flag.<step>`, `import.<kind>`) with `AuditAction(...)`,
which the test expands from the steps and kinds the code writes. Stored codes are unchanged."""

import ast
import importlib
from pathlib import Path

from django.utils import translation

from core.audit_actions import AuditAction
from core.audit_labels import ACTION_LABELS, action_label

ROOT = Path(__file__).resolve().parents[2]
APPS = ["claims", "members", "pharmacies", "supervision", "core", "gateway", "demo", "config", "devtools"]


def _sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _name(call: ast.Call) -> str | None:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _action_constants(path: Path, function: str | None = None) -> set[str]:
    """String constants given as `action=` (both arms of a conditional) in calls of `function`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and (function is None or _name(node) == function):
            for keyword in node.keywords:
                if keyword.arg == "action":
                    value = keyword.value
                    arms = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                    found |= {arm.value for arm in arms if isinstance(arm, ast.Constant) and isinstance(arm.value, str)}
    return found


def _family_codes() -> dict[str, set[str]]:
    steps = set()
    for path in (ROOT / "pharmacies" / "services").glob("*.py"):
        steps |= _action_constants(path)
    sanctions = _action_constants(ROOT / "pharmacies" / "services" / "sanctions.py")
    steps |= {f"{step}_provider" for step in sanctions}  # sanctions.py records f"{action}_provider"
    flag_steps = _action_constants(ROOT / "supervision" / "services.py", "_step")
    from core.imports.pipeline import Importer

    for module in ["members.importers", "pharmacies.importers", "claims.importers", "claims.chronic_importers"]:
        importlib.import_module(module)
    kinds, todo = set(), [Importer]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if isinstance(getattr(cls, "kind", None), str) and cls.kind:
            kinds.add(cls.kind)
    return {
        "workflow_": {f"workflow_{step}" for step in steps},
        "supervision.flag.": {f"supervision.flag.{step}" for step in flag_steps},
        "import.": {f"import.{kind}" for kind in kinds},
    }


def test_every_audit_call_names_a_member_of_the_enumeration():
    families = _family_codes()
    assert {"workflow_submit", "workflow_suspend_provider", "workflow_expire_provider"} <= families["workflow_"]
    assert {"supervision.flag.confirm", "supervision.flag.deduct"} <= families["supervision.flag."]
    assert {"import.members", "import.providers", "import.catalog"} <= families["import."]
    calls, problems = 0, []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node) == "audit"):
                continue
            action = next((k.value for k in node.keywords if k.arg == "action"), None)
            if action is None:
                continue
            calls += 1
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            arms = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            if len(arms) == 2:  # one of two members
                if not all(isinstance(arm, ast.Attribute) and getattr(arm.value, "id", None) == "AuditAction"
                           and arm.attr in AuditAction.names for arm in arms):
                    problems.append(f"{where}: the action is not a member of AuditAction: {ast.unparse(action)}")
                continue
            if isinstance(action, ast.Attribute) and isinstance(action.value, ast.Name) and action.value.id == "AuditAction":
                if action.attr not in AuditAction.names:
                    problems.append(f"{where}: AuditAction.{action.attr} does not exist")
            elif (isinstance(action, ast.Call) and _name(action) == "AuditAction"
                  and isinstance(action.args[0], ast.JoinedStr)):
                prefix = action.args[0].values[0].value
                if prefix not in families:
                    problems.append(f"{where}: a family of codes the test does not know ({prefix}…)")
                    continue
                missing = sorted(families[prefix] - set(AuditAction.values))
                if missing:
                    problems.append(f"{where}: codes missing from AuditAction: {missing}")
            else:
                problems.append(f"{where}: the action is not a member of AuditAction: {ast.unparse(action)}")
    assert calls >= 70
    assert problems == []


def test_the_stored_codes_are_kept_and_every_action_has_chinese_words():
    # Codes existing rows hold, in each of the three conventions.
    assert {"claim.settle", "member.benefits.read", "workflow_approve", "api_token_create",
            "supervision.flag.confirm", "import.members"} <= set(AuditAction.values)
    assert ACTION_LABELS == {action.value: action.label for action in AuditAction}
    with translation.override("zh-hans"):
        untranslated = [action.value for action in AuditAction
                        if action_label(action.value) == action.value or action_label(action.value).isascii()]
    assert untranslated == []
    with translation.override("zh-hans"):
        assert not action_label("claim.settle").isascii()
