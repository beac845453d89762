"""Stable Boost release tags (``boost-X.Y.Z``) and the order of their versions."""

from __future__ import annotations

import re

__all__ = ["FIRST_VERSION", "parse_stable_tag", "version_order", "version_tuple"]

_STABLE_TAG = re.compile(r"^boost-(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
FIRST_VERSION = (1, 16, 1)  # the oldest release tagged in the superproject's history


def parse_stable_tag(name: str) -> str | None:
    """``"1.86.0"`` for ``boost-1.86.0``; ``None`` for betas, release candidates, other tags."""
    match = _STABLE_TAG.match(name)
    if match is None:
        return None
    version = tuple(int(part) for part in match.groups())
    return ".".join(map(str, version)) if version >= FIRST_VERSION else None


def version_tuple(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"not a release version (X.Y.Z): {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def version_order(version: str) -> int:
    """A sortable integer (``1.86.0`` -> 1086000) for SQL ordering."""
    major, minor, patch = version_tuple(version)
    return major * 1_000_000 + minor * 1_000 + patch
