"""Safe file names for published repositories (and the people who clone them on any OS).

One component (a title becoming a file name) and one whole path are made safe separately:

* :func:`safe_component`: Unicode NFC (a title typed on macOS and one typed on Linux give the
  same bytes), control characters and ``\\ / : * ? " < > |`` replaced by a space, runs of
  whitespace folded, leading/trailing dots and spaces dropped (Windows cannot keep them),
  reserved device names (``CON``, ``NUL``, ``COM1`` ...) suffixed, then capped to
  ``max_chars`` characters *and* ``max_bytes`` UTF-8 bytes without splitting a character.
* :func:`check_path`: a repository path of such components: relative, no empty, ``.`` or
  ``..`` part, no component over 255 bytes (every common file system's limit), the whole
  path within ``max_path_bytes`` (Windows clones without long-path support fail at 260).

Case-only renames (``Foo.md`` -> ``foo.md``) are ordinary renames here: the publish ledger
deletes the old path and adds the new one in one tree.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import DataValidationError

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "check_path",
    "join_path",
    "safe_component",
    "truncate_utf8",
]

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 240  # below Windows' 260 with room for a clone folder such as C:\src\repo\
_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?$", re.IGNORECASE)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits ``max_bytes`` (whole characters)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_component(
    text: str, *, max_chars: int = 100, max_bytes: int = 200, fallback: str = "untitled"
) -> str:
    """``text`` as one file-name component (see the module docstring); ``fallback`` when empty."""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = "".join(" " if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} else c for c in cleaned)
    cleaned = _FORBIDDEN.sub(" ", cleaned)
    cleaned = " ".join(cleaned.split()).strip(". ")
    cleaned = truncate_utf8(cleaned[:max_chars], max_bytes).rstrip(". ")
    if not cleaned:
        return fallback
    if _RESERVED.match(cleaned):
        cleaned = f"{cleaned}_"
    return cleaned


def join_path(*parts: str) -> str:
    """``/``-joined parts, empty ones and stray slashes dropped (``prefix`` may be empty)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def check_path(path: str, *, max_path_bytes: int = MAX_PATH_BYTES) -> str:
    """``path`` in NFC if it is a publishable repository path; ``DataValidationError`` naming it otherwise."""
    normalized = unicodedata.normalize("NFC", path)
    problem = None
    parts = normalized.split("/")
    if not normalized or normalized.startswith("/"):
        problem = "must be a relative path"
    elif any(part in {"", ".", ".."} for part in parts):
        problem = "has an empty, '.' or '..' component"
    elif any(_FORBIDDEN.search(part) for part in parts):
        problem = "has a control or forbidden character"
    elif any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        problem = f"has a component over {MAX_COMPONENT_BYTES} bytes"
    elif len(normalized.encode("utf-8")) > max_path_bytes:
        problem = f"is over {max_path_bytes} bytes"
    if problem:
        raise DataValidationError(
            f"path {normalized[:120]!r} {problem}", source="publish", location=path[:120]
        )
    return normalized
