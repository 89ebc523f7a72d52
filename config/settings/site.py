"""The site's own address (SITE_URL), read from the environment and validated.

What is sent outside a request (the e-mails telling a provider of a decision) links to the
portal with an absolute address: SITE_URL followed by the page's path. A request-less job
has no Host header to build it from, so production names it; development falls back to the
address `runserver` listens on.
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_SITE_URL = "http://127.0.0.1:8000"


def site_url(environ: Mapping[str, str]) -> str:
    """SITE_URL without its trailing slash ("" when unset): http(s) and a host (and port); no
    path (the pages' paths are the URLconf's, from the root), query, fragment or credentials."""
    raw = environ.get("SITE_URL", "").strip()
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in {"http", "https"} or not parts.hostname
            or parts.path.strip("/") or parts.query
            or parts.fragment or parts.username or parts.password):
        raise ImproperlyConfigured(
            f"SITE_URL must be the site's address such as https://gongji.example.gov.cn, not {raw!r}.")
    return raw.rstrip("/")
