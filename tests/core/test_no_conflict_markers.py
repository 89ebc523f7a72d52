"""No file of the project holds a merge's conflict markers (a landed one breaks every import)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^(<<<<<<< |>>>>>>> |=======$)", re.M)
SUFFIXES = {".py", ".po", ".html", ".md", ".json", ".toml", ".txt", ".sh", ".css", ".js"}
SKIP = {".venv", "var", "node_modules", ".git", "static_root"}


def test_no_file_holds_conflict_markers():
    bad = [
        str(path.relative_to(ROOT)) for path in ROOT.rglob("*")
        if path.suffix in SUFFIXES and path.is_file() and not SKIP & set(path.relative_to(ROOT).parts)
        and MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert bad == []
