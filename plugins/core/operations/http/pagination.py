"""Link-header pagination and the same-origin rule for any URL the API hands us."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from core.errors import DataValidationError

__all__ = ["origin", "parse_link_header", "require_same_origin"]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";,]+)"?""", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_link_header(value: str | None) -> dict[str, str]:
    """``{rel: url}`` from an RFC 8288 ``Link`` header (``rel="next"`` etc.)."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK.finditer(value):
        url, params = match.group(1).strip(), match.group(2)
        rel_match = _REL.search(params)
        if rel_match:
            for rel in rel_match.group(1).split():
                links.setdefault(rel.lower(), url)
    return links


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` with default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def require_same_origin(url: str, base_url: str, *, endpoint: str, what: str) -> str:
    """Resolve ``url`` against ``base_url`` and refuse it unless it stays on the API's origin.

    Following a link to another origin would send the token there (or silently read data
    from a server we were not configured to trust), and retrying cannot make the response
    valid, so this is a ``validation`` failure of the API payload, not a network one.
    """
    absolute = urljoin(base_url + "/", url)
    if origin(absolute) != origin(base_url) or urlsplit(absolute).username or urlsplit(absolute).password:
        scheme, host, port = origin(absolute)
        raise DataValidationError(
            f"refusing to follow {what} to another origin ({scheme}://{host}:{port}); "
            "only the configured GitHub API origin is trusted",
            source=endpoint,
            location=what,
        )
    return absolute
