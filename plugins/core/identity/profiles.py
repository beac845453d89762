"""``upsert_profiles``: how every tracker records the people it sees.

A tracker calls :func:`upsert_profiles` inside the transaction of the batch that mentions
the people, with one :class:`Profile` per sighting (the source's user id, names, the time of
the activity it saw them in). The helper keeps, per (``source``, ``external_id``):

- ``first_seen_at``: the earliest sighting, ``last_seen_at``: the latest;
- names, URL, bot flag and ``attrs`` from the NEWEST sighting (by ``seen_at``; on a tie the
  later write wins), whatever order the sightings arrive in: a backfill of old activity
  never overwrites a newer name;
- e-mail addresses as SHA-256 of the trimmed, lower-cased address in ``profile_emails``
  (one row per address: a profile may have several, and the identity job joins on the
  hash); the plain address only with ``store_plain_emails``; ``verified`` once true stays
  true.

Rows are written in key order (no deadlock between concurrent batches) and a re-read that
changes nothing leaves ``updated_at`` alone. ``person_id`` is never touched here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, TextClause, case, or_, text
from sqlalchemy.dialects import postgresql, sqlite

from core.identity.tables import COMPONENT, IDENTITY_MIGRATIONS, person_profiles, profile_emails
from core.store.pg_copy import copy_supported, staged_insert
from core.store.pg_json import json_rows, json_upsert_head
from core.store.store import Store
from core.store.timestamps import as_utc
from core.store.upsert import COPY_THRESHOLD

__all__ = ["Profile", "ProfileEmail", "email_sha256", "ensure_identity", "upsert_profiles"]

_PG = postgresql.dialect()
_NAME_COLUMNS = ("username", "display_name", "profile_url", "is_bot", "attrs")


@dataclasses.dataclass(frozen=True)
class ProfileEmail:
    """An address a source ties to an account. ``evidence`` says how (``github_public``,
    ``commit_author``, ``slack_profile``, ``mail_from``, ...); ``verified`` that the source
    asserts the address belongs to the account."""

    address: str
    verified: bool = False
    evidence: str | None = None


@dataclasses.dataclass(frozen=True)
class Profile:
    """One sighting of an account of a source.

    ``external_id`` is the source's own stable user id (Discord snowflake, GitHub numeric id,
    ``<team>/<user>`` on Slack), never a name that can change. ``seen_at`` is the time of the
    activity the account was seen in (or of the API response that described it).
    """

    external_id: str
    seen_at: dt.datetime
    username: str | None = None
    display_name: str | None = None
    profile_url: str | None = None
    is_bot: bool = False
    attrs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    emails: Sequence[ProfileEmail] = ()


def email_sha256(address: str) -> str:
    """SHA-256 (hex) of the trimmed, lower-cased address: the form every source is matched on."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def ensure_identity(store: Store) -> list[int]:
    """Apply the ``identity`` component's migrations (trackers that write profiles call this)."""
    return store.migrate(COMPONENT, IDENTITY_MIGRATIONS)


def _insert(conn: Connection, table: Any) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"profiles are not implemented for {dialect}")


def upsert_profiles(
    conn: Connection,
    source: str,
    rows: Iterable[Profile],
    *,
    store_plain_emails: bool = False,
    now: dt.datetime | None = None,
) -> int:
    """Record sightings of ``source``'s accounts in the caller's transaction; returns the
    number of distinct profiles written."""
    if not source:
        raise ValueError("upsert_profiles needs a source name")
    stamp = as_utc(now or dt.datetime.now(dt.UTC))
    profiles: dict[str, dict[str, Any]] = {}
    emails: dict[tuple[str, str], dict[str, Any]] = {}
    for profile in rows:
        if not profile.external_id:
            raise ValueError(f"a {source} profile without external_id: {profile!r}")
        seen = as_utc(profile.seen_at)
        row = {
            "source": source,
            "external_id": str(profile.external_id),
            "username": profile.username,
            "display_name": profile.display_name,
            "profile_url": profile.profile_url,
            "is_bot": bool(profile.is_bot),
            "attrs": dict(profile.attrs),
            "first_seen_at": seen,
            "last_seen_at": seen,
            "updated_at": stamp,
        }
        _merge(profiles, row["external_id"], row)
        for email in profile.emails:
            digest = email_sha256(email.address)
            email_row = {
                "source": source,
                "external_id": row["external_id"],
                "email_sha256": digest,
                "email": email.address.strip() if store_plain_emails else None,
                "verified": bool(email.verified),
                "evidence": email.evidence,
                "first_seen_at": seen,
                "last_seen_at": seen,
            }
            _merge(emails, (row["external_id"], digest), email_row)
    if profiles:
        _execute_rows(
            conn,
            person_profiles,
            ("source", "external_id"),
            _profile_upsert,
            [profiles[key] for key in sorted(profiles)],
        )
    if emails:
        _execute_rows(
            conn,
            profile_emails,
            ("source", "external_id", "email_sha256"),
            _email_upsert,
            [emails[key] for key in sorted(emails)],
        )
    return len(profiles)


def _execute_rows(
    conn: Connection,
    table: Table,
    key_columns: Sequence[str],
    conflict: Callable[[Any], Any],
    rows: list[dict[str, Any]],
) -> None:
    """Write ``rows`` (unique on the key, in key order) with the upsert ``conflict(insert)``
    makes of an insert. On PostgreSQL a batch of ``COPY_THRESHOLD`` rows or more is COPYed into
    a staging table and merged by one ``INSERT ... SELECT ... ON CONFLICT`` (building a
    multi-row VALUES statement cost more than the rest of a Discord ingest); smaller ones go as
    one statement (SQLAlchemy sends an executemany of an ON CONFLICT insert row by row), on
    PostgreSQL with the rows as one JSON parameter (same SQL text for every batch)."""
    if copy_supported(conn) and len(rows) >= COPY_THRESHOLD:
        conn.execute(conflict(staged_insert(conn, table, rows, key_columns)))
        return
    if conn.dialect.name == "postgresql":
        # One statement whose text does not depend on the batch: the rows as one JSON parameter.
        columns = tuple(rows[0])
        sql = _json_upsert_sql(table, columns, tuple(key_columns))
        for start in range(0, len(rows), 2000):
            conn.execute(sql, {"rows": json_rows(table, columns, rows[start : start + 2000])})
        return
    conn.execute(conflict(_insert(conn, table)), rows)


@functools.cache
def _json_upsert_sql(table: Table, columns: tuple[str, ...], key_columns: tuple[str, ...]) -> TextClause:
    """The small-batch upsert of ``table`` with its merge rules (``core.store.pg_json``)."""
    head = json_upsert_head(table, columns, key_columns, "rows")
    return text(f"{head}DO UPDATE SET {_PG_MERGE[table.name]}")


# The merge rules of _profile_upsert and _email_upsert as PostgreSQL text (the small-batch
# path); tests/integration/test_profile_upsert_paths.py checks both forms merge alike.
_NEWER = "excluded.last_seen_at >= t.last_seen_at"
_EARLIER = "excluded.first_seen_at < t.first_seen_at"
_SEEN = (
    f"last_seen_at = CASE WHEN {_NEWER} THEN excluded.last_seen_at ELSE t.last_seen_at END, "
    f"first_seen_at = CASE WHEN {_EARLIER} THEN excluded.first_seen_at ELSE t.first_seen_at END"
)
_PG_MERGE = {
    person_profiles.name: (
        "".join(f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE t.{c} END, " for c in _NAME_COLUMNS)
        + f"{_SEEN}, updated_at = excluded.updated_at"
        + f" WHERE ({_NEWER} AND (excluded.last_seen_at > t.last_seen_at"
        + "".join(f" OR t.{c} IS DISTINCT FROM excluded.{c}" for c in _NAME_COLUMNS)
        + f")) OR {_EARLIER}"
    ),
    profile_emails.name: (
        "email = CASE WHEN excluded.email IS NULL THEN t.email ELSE excluded.email END, "
        "verified = t.verified OR excluded.verified, "
        f"evidence = CASE WHEN {_NEWER} THEN excluded.evidence ELSE t.evidence END, {_SEEN}"
    ),
}


def _merge(rows: dict[Any, dict[str, Any]], key: Any, row: dict[str, Any]) -> None:
    """Fold one sighting into the batch's row for ``key``: earliest first, newest details."""
    held = rows.get(key)
    if held is None:
        rows[key] = row
        return
    first = min(held["first_seen_at"], row["first_seen_at"])
    if row["last_seen_at"] >= held["last_seen_at"]:
        merged = dict(row)
        if "verified" in row:
            merged["verified"] = held["verified"] or row["verified"]
            merged["email"] = row["email"] or held["email"]
    else:
        merged = dict(held)
        if "verified" in row:
            merged["verified"] = held["verified"] or row["verified"]
            merged["email"] = held["email"] or row["email"]
    merged["first_seen_at"] = first
    rows[key] = merged


def _profile_upsert(insert: Any) -> Any:
    table = person_profiles
    new = insert.excluded
    newer = new.last_seen_at >= table.c.last_seen_at
    earlier = new.first_seen_at < table.c.first_seen_at
    set_: dict[str, Any] = {c: case((newer, new[c]), else_=table.c[c]) for c in _NAME_COLUMNS}
    set_["last_seen_at"] = case((newer, new.last_seen_at), else_=table.c.last_seen_at)
    set_["first_seen_at"] = case((earlier, new.first_seen_at), else_=table.c.first_seen_at)
    set_["updated_at"] = new.updated_at
    changed = or_(
        new.last_seen_at > table.c.last_seen_at,
        *(table.c[c].is_distinct_from(new[c]) for c in _NAME_COLUMNS),
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.source, table.c.external_id],
        set_=set_,
        where=or_(newer & changed, earlier),
    )


def _email_upsert(insert: Any) -> Any:
    table = profile_emails
    new = insert.excluded
    newer = new.last_seen_at >= table.c.last_seen_at
    earlier = new.first_seen_at < table.c.first_seen_at
    return insert.on_conflict_do_update(
        index_elements=[table.c.source, table.c.external_id, table.c.email_sha256],
        set_={
            "email": case((new.email.is_(None), table.c.email), else_=new.email),
            "verified": or_(table.c.verified, new.verified),
            "evidence": case((newer, new.evidence), else_=table.c.evidence),
            "last_seen_at": case((newer, new.last_seen_at), else_=table.c.last_seen_at),
            "first_seen_at": case((earlier, new.first_seen_at), else_=table.c.first_seen_at),
        },
    )
