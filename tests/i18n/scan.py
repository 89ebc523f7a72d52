"""Find codes where words belong in a rendered page: what a person reads (text nodes, titles,
option labels), never markup, scripts or form values."""

import re
from html.parser import HTMLParser

# snake_case identifiers (level_3, frequent_visits, monthly_credit), dotted actions
# (auth.login, claim.settle), raw durations (0:00:00.009675), Python's None, the history
# page's untranslated headings, and region keys.
CODE_PATTERNS = [
    ("identifier", re.compile(r"(?<![\w./:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./-])")),
    ("dotted code", re.compile(r"(?<![\w./@-])[a-z]+\.[a-z_]+(?![\w./-])")),
    ("raw duration", re.compile(r"\b\d+:\d\d:\d\d\.\d{3,}\b")),
    ("None", re.compile(r"(?<![\w-])None(?![\w-])")),
    ("English heading", re.compile(r"\b(CHANGES|Changes|Date/time|Action)\b")),
    ("region key", re.compile(r"\b(zaozhuang|ziyang|henan|yangzhou|jinan)\b")),
]

SKIP_TAGS = {"script", "style", "textarea", "code", "pre", "template"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self._skip += 1
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])
        if attrs.get("title"):
            self.parts.append(attrs["title"])

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def codes_in(html: str, allowed=()) -> list[tuple[str, str]]:
    found = []
    for text in visible_text(html):
        if text.startswith(("{", "[")):
            continue  # structured parameters (policy JSON, evidence) are shown as data
        for kind, pattern in CODE_PATTERNS:
            for match in pattern.finditer(text):
                if match.group(0) not in allowed:
                    found.append((kind, text[:120]))
    return found
