"""Error codes are for machines (the API's `code`); a person reads only the message.

A form or admin action that formats `error.code` into the text it shows puts codes such as
`destination_required` on a Chinese page (issue 16, found by the admin write-path test). This
reads every admin, portal and view module and fails on such a message.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOWN = re.compile(r"""f["'][^"']*\{(?:error|exc|e|err)\.code\}""")


def _screen_modules():
    for app in ("claims", "core", "members", "pharmacies", "supervision", "gateway"):
        for path in (ROOT / app).rglob("*.py"):
            name = path.name
            if "migrations" in path.parts:
                continue
            if name.startswith(("admin", "portal", "views", "forms")) or "admin" in path.parts:
                yield path


def test_no_screen_message_shows_an_error_code():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _screen_modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SHOWN.search(line)
    ]
    assert offenders == [], "error codes shown to people:\n" + "\n".join(offenders)


def test_the_check_finds_a_code_in_a_message():
    assert SHOWN.search('raise ValidationError(f"{error.message} ({error.code})")')
    assert not SHOWN.search("raise ValidationError(error.message, code=error.code)")
