"""Boost release versions: ``1.86.0``, their order, and where a release's files are."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.errors import ConfigError

__all__ = ["STABLE", "archive_name", "parse_version", "sort_key", "stable_versions_in", "url_version"]

STABLE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_LISTED = re.compile(r"href=\"(?:\./)?(\d+\.\d+\.\d+)/\"")


def parse_version(value: object, *, where: str = "versions") -> str:
    """A stable version (``1.86.0``); anything else (a beta, ``boost-1.86.0``, ``latest``) is a
    ``ConfigError`` naming it."""
    text = str(value).strip()
    if not STABLE.match(text):
        raise ConfigError(f"param {where!r}: {value!r} is not a stable Boost version like '1.86.0'")
    return text


def sort_key(version: str) -> tuple[int, int, int]:
    match = STABLE.match(version)
    if match is None:
        raise ValueError(f"not a stable Boost version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def url_version(version: str) -> str:
    """``1.86.0`` -> ``1_86_0`` (archive names, boost.org documentation URLs)."""
    return version.replace(".", "_")


def archive_name(version: str, archive_format: str) -> str:
    return f"boost_{url_version(version)}.{archive_format}"


def stable_versions_in(listing: str) -> list[str]:
    """Stable release directories of an archive server's index page (betas and rcs left out),
    oldest first."""
    found: Iterable[str] = set(_LISTED.findall(listing))
    return sorted(found, key=sort_key)
