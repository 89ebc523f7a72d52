"""core.admin_actions.apply_to_selected: the one "apply a service to each selected row" loop
of the admin reports what happened, and never success when nothing did."""

from django.contrib import messages
from django.utils import translation

from core.admin_actions import apply_to_selected
from core.errors import Conflict


class Recorder:
    def __init__(self):
        self.messages = []

    def message_user(self, request, text, level):
        self.messages.append((level, str(text)))


def refuse_odd(number):
    if number % 2:
        raise Conflict("odd refused", code="odd")


def test_each_refusal_is_named_and_success_counts_only_what_was_done():
    admin = Recorder()
    done = apply_to_selected(admin, None, [1, 2, 3, 4], refuse_odd, done_message="%(count)d done")
    assert done == 2
    assert admin.messages == [(messages.ERROR, "1: odd refused"), (messages.ERROR, "3: odd refused"),
                              (messages.SUCCESS, "2 done")]


def test_no_success_message_when_everything_was_refused():
    admin = Recorder()
    assert apply_to_selected(admin, None, [1, 3], refuse_odd, done_message="%(count)d done") == 0
    assert [level for level, _text in admin.messages] == [messages.ERROR, messages.ERROR]


def test_nothing_to_do_says_nothing_was_changed():
    admin = Recorder()
    with translation.override("zh-hans"):
        assert apply_to_selected(admin, None, [], refuse_odd, done_message="%(count)d done") == 0
    assert admin.messages == [(messages.WARNING, "未作任何更改。")]


def test_the_done_message_may_depend_on_the_count():
    admin = Recorder()
    apply_to_selected(admin, None, [2], refuse_odd, done_message=lambda n: f"{n} record" + ("s" if n > 1 else ""))
    assert admin.messages == [(messages.SUCCESS, "1 record")]


def test_no_admin_writes_the_loop_again():
    """The admin's actions that call a service for each selected row use apply_to_selected: no
    other loop catches DomainError and messages the user itself (read from the source)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # rotate_tokens answers with a page showing the new keys (never a message): its own loop.
    allowed = {("core/admin.py", "rotate_tokens"), ("core/admin_actions.py", "apply_to_selected")}
    copies = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] in {".venv", "tests"} or "migrations" in relative.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Functions at module or class level (a nested helper counts as its outer function's).
        outer = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        outer += [item for node in tree.body if isinstance(node, ast.ClassDef)
                  for item in node.body if isinstance(item, ast.FunctionDef)]
        for function in outer:
            for loop in ast.walk(function):
                if isinstance(loop, ast.For) and any(
                        isinstance(node, ast.Try) and "message_user" in ast.unparse(node)
                        and any(handler.type is not None and "DomainError" in ast.unparse(handler.type)
                                for handler in node.handlers)
                        for node in ast.walk(loop)):
                    copies.append((str(relative), function.name))
    assert ("core/admin.py", "rotate_tokens") in copies  # the scan sees a loop when there is one
    assert sorted(set(copies) - allowed) == []
