"""Limits on import files (core.imports.pipeline), read from the environment and validated.

An agency's largest routine import is its member register: the benchmark imports 100,000
members from about 10 MB of CSV. The defaults leave room for twice that and refuse anything
that would exhaust a web worker's memory (a multi-gigabyte upload, a decompression bomb
disguised as .xlsx) before it is read.
"""

import re
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000
# The longest cell: a name, an address or a note is far shorter; a cell of megabytes (a few KB
# of .xlsx) is an attack on the worker's memory, refused while the file streams.
DEFAULT_MAX_CELL_CHARS = 10_000

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"^(\d+)\s*([kmg]?)i?b?$")


def _size(environ: Mapping[str, str], name: str, default: int) -> int:
    """Bytes, optionally with a binary unit: `52428800`, `50MB`, `50M`, `512KiB`."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw.lower())
    if not match:
        raise ImproperlyConfigured(f"{name} must be a number of bytes such as 52428800 or 50MB, not {raw!r}.")
    value = int(match.group(1)) * _UNITS[match.group(2)]
    if value < 1024:
        raise ImproperlyConfigured(f"{name} must be at least 1KB, not {raw!r}.")
    return value


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.")
    value = int(raw)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1, not {value}.")
    return value


def import_limits(environ: Mapping[str, str]) -> tuple[int, int]:
    """(IMPORT_MAX_BYTES, IMPORT_MAX_ROWS)."""
    return (_size(environ, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES),
            _count(environ, "IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def import_max_cell_chars(environ: Mapping[str, str]) -> int:
    """IMPORT_MAX_CELL_CHARS."""
    return _count(environ, "IMPORT_MAX_CELL_CHARS", DEFAULT_MAX_CELL_CHARS)
