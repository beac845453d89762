"""The publish ledger (core component ``publishing``): which file holds which item, per target.

``publish_files`` (``target`` = ``owner/repo@branch``, ``path``): ``publisher`` (the collector
entry that owns the file), ``source_key``, ``blob_sha``, ``published_commit``, ``published_at``.
Each publisher sees only its own rows, so two entries may share a target (in separate folders)
without deleting each other's files. A retitled item keeps its key and gets a new path, so
the old path is deleted in the same commit; a key that no longer exists loses its file.
``publish_state`` (``target``, ``publisher``): the change sequence the last successful publish
started from (``horizon``) and the branch head it left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)

from core.store.migrations import Migration, create_tables
from core.store.upsert import upsert_rows

__all__ = [
    "COMPONENT",
    "PUBLISH_MIGRATIONS",
    "LedgerEntry",
    "forget_paths",
    "load_entries",
    "load_horizon",
    "publish_files",
    "publish_state",
    "record_files",
    "save_state",
]

COMPONENT = "publishing"
TS = DateTime(timezone=True)
publishing_metadata = MetaData()

publish_files = Table(
    "publish_files",
    publishing_metadata,
    Column("target", String(300), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("publisher", String(100), nullable=False),
    Column("source_key", Text, nullable=False),
    Column("blob_sha", String(40), nullable=False),
    Column("published_commit", String(40), nullable=False),
    Column("published_at", TS, nullable=False),
    Index("ix_publish_files_publisher", "target", "publisher", "source_key"),
)

publish_state = Table(
    "publish_state",
    publishing_metadata,
    Column("target", String(300), primary_key=True),
    Column("publisher", String(100), primary_key=True),
    Column("horizon", BigInteger, nullable=True),
    Column("head_commit", String(40), nullable=True),
    Column("updated_at", TS, nullable=False),
)

PUBLISH_MIGRATIONS = (
    Migration(
        1, "publish ledger: files per target, publish state", create_tables(publish_files, publish_state)
    ),
)


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    path: str
    source_key: str
    blob_sha: str


def load_entries(conn: Connection, target: str, publisher: str) -> dict[str, list[LedgerEntry]]:
    """source_key -> the publisher's ledger rows in ``target`` (normally one)."""
    rows = conn.execute(
        select(publish_files.c.path, publish_files.c.source_key, publish_files.c.blob_sha)
        .where(publish_files.c.target == target, publish_files.c.publisher == publisher)
        .order_by(publish_files.c.path)
    )
    entries: dict[str, list[LedgerEntry]] = {}
    for path, key, sha in rows:
        entries.setdefault(str(key), []).append(LedgerEntry(str(path), str(key), str(sha)))
    return entries


def load_horizon(conn: Connection, target: str, publisher: str) -> int | None:
    value = conn.execute(
        select(publish_state.c.horizon).where(
            publish_state.c.target == target, publish_state.c.publisher == publisher
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


def record_files(
    conn: Connection,
    target: str,
    publisher: str,
    files: Mapping[str, tuple[str, str]],
    commit: str,
    at: dt.datetime,
) -> None:
    """``files``: path -> (source_key, blob_sha), published in ``commit``."""
    rows = [
        {
            "target": target,
            "path": path,
            "publisher": publisher,
            "source_key": key,
            "blob_sha": sha,
            "published_commit": commit,
            "published_at": at,
        }
        for path, (key, sha) in files.items()
    ]
    if rows:
        upsert_rows(conn, publish_files, rows, ["target", "path"])


def forget_paths(conn: Connection, target: str, publisher: str, paths: Iterable[str]) -> None:
    ordered = sorted(set(paths))
    for start in range(0, len(ordered), 500):
        conn.execute(
            delete(publish_files).where(
                publish_files.c.target == target,
                publish_files.c.publisher == publisher,
                publish_files.c.path.in_(ordered[start : start + 500]),
            )
        )


def save_state(
    conn: Connection, target: str, publisher: str, horizon: int | None, head: str, at: dt.datetime
) -> None:
    upsert_rows(
        conn,
        publish_state,
        [
            {
                "target": target,
                "publisher": publisher,
                "horizon": horizon,
                "head_commit": head,
                "updated_at": at,
            }
        ],
        ["target", "publisher"],
    )
