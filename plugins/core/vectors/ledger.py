"""The vector-sync ledger: what reached the sink, per document, and where each source left off."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import JSON, Column, Connection, DateTime, MetaData, String, Table, Text, select

from core.store.migrations import Migration, create_tables
from core.store.timestamps import as_utc
from core.store.upsert import upsert_rows

__all__ = [
    "VECTOR_MIGRATIONS",
    "LedgerEntry",
    "load_entries",
    "load_watermark",
    "vector_local_records",
    "vector_sync_documents",
    "vector_sync_state",
]

vector_metadata = MetaData()

vector_sync_state = Table(
    "vector_sync_state",
    vector_metadata,
    Column("source", String(200), primary_key=True),
    Column("namespace", String(200), primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

vector_sync_documents = Table(
    "vector_sync_documents",
    vector_metadata,
    Column("source", String(200), primary_key=True),
    Column("namespace", String(200), primary_key=True),
    Column("doc_id", String(500), primary_key=True),
    Column("content_hash", String(64), nullable=True),
    Column("chunk_ids", JSON, nullable=False, default=list),
    Column("status", String(20), nullable=False),
    Column("error", Text, nullable=True),
    Column("synced_at", DateTime(timezone=True), nullable=False),
)

vector_local_records = Table(
    "vector_local_records",
    vector_metadata,
    Column("namespace", String(200), primary_key=True),
    Column("record_id", String(700), primary_key=True),
    Column("text", Text, nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

VECTOR_MIGRATIONS = (
    Migration(
        1,
        "vector sync ledger and local sink records",
        create_tables(vector_sync_state, vector_sync_documents, vector_local_records),
    ),
)

STATUS_SYNCED = "synced"
STATUS_FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    doc_id: str
    content_hash: str | None
    chunk_ids: tuple[str, ...]
    status: str


def load_watermark(conn: Connection, source: str, namespace: str) -> dt.datetime | None:
    row = conn.execute(
        select(vector_sync_state.c.watermark).where(
            vector_sync_state.c.source == source, vector_sync_state.c.namespace == namespace
        )
    ).first()
    return None if row is None else as_utc(row[0])


def save_watermark(conn: Connection, source: str, namespace: str, watermark: dt.datetime) -> None:
    upsert_rows(
        conn,
        vector_sync_state,
        [
            {
                "source": source,
                "namespace": namespace,
                "watermark": watermark,
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
        ["source", "namespace"],
    )


def load_entries(
    conn: Connection, source: str, namespace: str, doc_ids: Iterable[str]
) -> dict[str, LedgerEntry]:
    wanted = list(dict.fromkeys(doc_ids))
    entries: dict[str, LedgerEntry] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(vector_sync_documents).where(
                vector_sync_documents.c.source == source,
                vector_sync_documents.c.namespace == namespace,
                vector_sync_documents.c.doc_id.in_(wanted[start : start + 500]),
            )
        ).mappings()
        for row in rows:
            entries[row["doc_id"]] = LedgerEntry(
                row["doc_id"], row["content_hash"], tuple(row["chunk_ids"] or ()), row["status"]
            )
    return entries


def failed_doc_ids(conn: Connection, source: str, namespace: str) -> list[str]:
    return list(
        conn.execute(
            select(vector_sync_documents.c.doc_id).where(
                vector_sync_documents.c.source == source,
                vector_sync_documents.c.namespace == namespace,
                vector_sync_documents.c.status == STATUS_FAILED,
            )
        ).scalars()
    )


def write_entries(
    conn: Connection, source: str, namespace: str, entries: Sequence[LedgerEntry], errors: dict[str, str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    upsert_rows(
        conn,
        vector_sync_documents,
        [
            {
                "source": source,
                "namespace": namespace,
                "doc_id": entry.doc_id,
                "content_hash": entry.content_hash,
                "chunk_ids": list(entry.chunk_ids),
                "status": entry.status,
                "error": errors.get(entry.doc_id),
                "synced_at": now,
            }
            for entry in entries
        ],
        ["source", "namespace", "doc_id"],
    )


def forget_documents(conn: Connection, source: str, namespace: str, doc_ids: Sequence[str]) -> None:
    for start in range(0, len(doc_ids), 500):
        conn.execute(
            vector_sync_documents.delete().where(
                vector_sync_documents.c.source == source,
                vector_sync_documents.c.namespace == namespace,
                vector_sync_documents.c.doc_id.in_(list(doc_ids[start : start + 500])),
            )
        )


def reset_source(conn: Connection, source: str, namespace: str) -> None:
    """Forget everything synced for ``source`` (a re-sync from scratch follows)."""
    conn.execute(
        vector_sync_documents.delete().where(
            vector_sync_documents.c.source == source, vector_sync_documents.c.namespace == namespace
        )
    )
    conn.execute(
        vector_sync_state.delete().where(
            vector_sync_state.c.source == source, vector_sync_state.c.namespace == namespace
        )
    )
