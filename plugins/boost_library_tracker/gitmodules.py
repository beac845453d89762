"""The superproject's ``.gitmodules``: which repository each submodule path is."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit

__all__ = ["parse_gitmodules"]

_SECTION = re.compile(r'^\[submodule\s+"(?P<name>[^"]+)"\]$')
_SETTING = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9-]*)\s*=\s*(?P<value>.*)$")
_REPO_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def _repository(url: str, superproject: str) -> str | None:
    """``owner/name`` of a submodule URL: relative (``../system.git``) or a GitHub URL."""
    url = url.strip()
    if url.startswith(("./", "../")):
        owner, name = superproject.split("/")
        path = posixpath.normpath(posixpath.join(owner, name, url))
    elif url.startswith("git@"):
        path = url.split(":", 1)[-1]
    else:
        path = urlsplit(url).path
    parts = path.strip("/").removesuffix(".git").split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) and p not in {".", ".."} for p in parts):
        return None
    return "/".join(parts)


def parse_gitmodules(text: str, superproject: str) -> dict[str, str]:
    """``{submodule path: "owner/name"}``; entries without a path or a usable URL are left out."""
    sections: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if header := _SECTION.match(line):
            sections.append({"name": header.group("name")})
        elif sections and (setting := _SETTING.match(line)):
            sections[-1][setting.group("key").lower()] = setting.group("value").strip()
    found: dict[str, str] = {}
    for section in sections:
        path, url = section.get("path", "").strip("/"), section.get("url", "")
        repo = _repository(url, superproject) if url else None
        if path and repo:
            found[path] = repo
    return found
