"""A paid second payment's take-back (Jinan (七)) has no role check of its own: it is only ever
reached through the reversal (`claims.services.claim_reverse`), which has checked the caller
first (the provider that settled the claim, or an agency user who may change settlements; a role
check in the take-back would refuse the provider's own reversal). So it is private, and no view,
admin, API, task or command calls it: this walks the project's source."""

import ast
from pathlib import Path

import claims.subsidy_batches

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "tests", "node_modules", "var", ".git", "staticfiles"}
NAMES = {"_subsidy_take_back_record", "subsidy_take_back_record"}


def _sources():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if not SKIP.intersection(parts) and not any(part.endswith(".egg-info") for part in parts):
            yield path


def _references(path: Path) -> set[tuple[str, str]]:
    """(file, enclosing function) of every mention of the take-back in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()

    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in NAMES:
                found.add((str(path.relative_to(ROOT)), f"def {node.name}"))
            function = node.name
        mentioned = (
            (isinstance(node, ast.Name) and node.id in NAMES)
            or (isinstance(node, ast.Attribute) and node.attr in NAMES)
            or (isinstance(node, ast.alias) and node.name in NAMES)
        )
        if mentioned:
            found.add((str(path.relative_to(ROOT)), function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_the_take_back_is_private_and_called_by_the_reversal_only():
    assert not hasattr(claims.subsidy_batches, "subsidy_take_back_record")
    found = set().union(*(_references(path) for path in _sources()))
    assert found == {
        ("claims/subsidy_batches.py", "def _subsidy_take_back_record"),
        ("claims/services.py", "claim_reverse"),
    }


def test_no_template_names_the_take_back():
    for path in ROOT.joinpath("templates").rglob("*.html"):
        assert "take_back_record" not in path.read_text(encoding="utf-8"), path
