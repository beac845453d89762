"""One release written in one transaction: the release, its libraries, versions, roles, people."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from boost_library_tracker.metadata import LibraryMeta, Person
from boost_library_tracker.source import ReleaseTree, Submodule
from boost_library_tracker.tables import (
    boost_libraries,
    boost_library_meta_files,
    boost_library_roles,
    boost_library_versions,
    boost_releases,
)
from boost_library_tracker.versions import version_order
from core.identity import Profile, ProfileEmail, upsert_profiles
from core.identity.profiles import email_sha256
from core.store import upsert_rows

__all__ = ["PROFILE_SOURCE", "LibraryFile", "person_id", "write_release"]

PROFILE_SOURCE = "boost_meta"
_LIBRARY_COLUMNS = ("key", "name", "repo_full_name", "first_version", "last_version", "last_content_hash")
_LIBRARY_SELECT = [boost_libraries.c[c] for c in _LIBRARY_COLUMNS]


@dataclasses.dataclass(frozen=True)
class LibraryFile:
    """A submodule's ``libraries.json`` at the release's commit, and what it held."""

    module: Submodule
    raw: str | None
    libraries: Sequence[LibraryMeta]
    fetched: bool  # read from GitHub in this run (else from the store)


def person_id(person: Person) -> str:
    """Stable id in ``person_profiles``: the address's hash when there is one, else the name."""
    return email_sha256(person.email) if person.email else f"name:{person.name.casefold()}"


def _version_rows(tree: ReleaseTree, files: Iterable[LibraryFile]) -> list[dict]:
    version = tree.tag.version
    rows = []
    for file in files:
        for meta in file.libraries:
            content = meta.content()
            rows.append(
                {
                    "key": meta.key,
                    "version": version,
                    "version_order": version_order(version),
                    **content,
                    "repo_full_name": file.module.repo,
                    "submodule_path": file.module.path,
                    "submodule_sha": file.module.sha,
                    "content_hash": meta.content_hash(),
                }
            )
    return rows


def _role_rows(version: str, libraries: Iterable[LibraryMeta]) -> list[dict]:
    rows: dict[tuple[str, str, str], dict] = {}
    for meta in libraries:
        for role, people in (("author", meta.authors), ("maintainer", meta.maintainers)):
            for person in people:
                rows[(meta.key, role, person.name)] = {
                    "key": meta.key,
                    "version": version,
                    "role": role,
                    "name": person.name[:300],
                    "email_sha256": email_sha256(person.email) if person.email else None,
                }
    return list(rows.values())


def _profiles(seen_at: dt.datetime, libraries: Iterable[LibraryMeta]) -> list[Profile]:
    profiles = []
    for meta in libraries:
        for role, people in (("author", meta.authors), ("maintainer", meta.maintainers)):
            for person in people:
                profiles.append(
                    Profile(
                        external_id=person_id(person),
                        seen_at=seen_at,
                        username=person.name,
                        display_name=person.name,
                        attrs={"library": meta.key, "role": role},
                        emails=(ProfileEmail(person.email, evidence="boost_libraries_json"),)
                        if person.email
                        else (),
                    )
                )
    return profiles


def _library_row(row: dict, *, first: str, last: str) -> dict:
    return {
        "key": row["key"],
        "name": row["name"],
        "repo_full_name": row["repo_full_name"],
        "first_version": first,
        "last_version": last,
        "last_content_hash": row["content_hash"],
    }


def _library_rows(conn: Connection, version_rows: list[dict], version: str) -> list[dict]:
    """Each library's first and last version, and the content of its latest version."""
    keys = [row["key"] for row in version_rows]
    existing = {
        row["key"]: {c: row[c] for c in _LIBRARY_COLUMNS}
        for row in conn.execute(select(*_LIBRARY_SELECT).where(boost_libraries.c.key.in_(keys))).mappings()
    }
    order = version_order(version)
    rows = []
    for row in version_rows:
        old = existing.get(row["key"])
        if old is None:
            rows.append(_library_row(row, first=version, last=version))
            continue
        first = version if order < version_order(old["first_version"]) else old["first_version"]
        if order >= version_order(old["last_version"]):  # this release is the library's latest
            rows.append(_library_row(row, first=first, last=version))
        else:  # an older release read again (a backfill): only the first version may move
            rows.append({**old, "first_version": first})
    return rows


def write_release(
    conn: Connection, tree: ReleaseTree, files: Sequence[LibraryFile], detected_at: dt.datetime
) -> int:
    """Everything of one release in the caller's transaction; returns the number of libraries."""
    version = tree.tag.version
    libraries = [meta for file in files for meta in file.libraries]
    versions = _version_rows(tree, files)
    upsert_rows(
        conn,
        boost_releases,
        [
            {
                "version": version,
                "version_order": version_order(version),
                "tag": tree.tag.tag,
                "commit_sha": tree.tag.commit_sha,
                "released_at": tree.released_at,
                "detected_at": detected_at,
                "libraries": len(versions),
            }
        ],
        ["version"],
        update_columns=["tag", "commit_sha", "released_at", "libraries"],  # detected_at: the first sighting
    )
    upsert_rows(
        conn,
        boost_library_versions,
        versions,
        ["key", "version"],
        only_if_changed=["content_hash", "submodule_sha"],
    )
    upsert_rows(
        conn,
        boost_libraries,
        _library_rows(conn, versions, version),
        ["key"],
        only_if_changed=["name", "repo_full_name", "first_version", "last_version", "last_content_hash"],
    )
    upsert_rows(conn, boost_library_roles, _role_rows(version, libraries), ["key", "version", "role", "name"])
    upsert_profiles(conn, PROFILE_SOURCE, _profiles(tree.released_at, libraries))
    fresh = [
        {
            "repo_full_name": f.module.repo,
            "submodule_sha": f.module.sha,
            "content": f.raw,
            "fetched_at": detected_at,
        }
        for f in files
        if f.fetched
    ]
    upsert_rows(conn, boost_library_meta_files, fresh, ["repo_full_name", "submodule_sha"])
    return len(versions)
