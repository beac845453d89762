"""The vector-sync ledger: per destination, what reached the sink and where each source left off.

One row per (source, destination, namespace, document): the content hash and every chunk id
that may exist in the sink. A sync records its intent (status ``pending``, with the union of
the old and new chunk ids) BEFORE it writes to the sink, so a run killed between the sink
write and the ledger write leaves ids the next run knows to delete. The state row holds the
change horizon (:mod:`core.store.changes`) the last complete sync started from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    TextualSelect,
    inspect,
    or_,
    select,
    text,
)

from core.store.migrations import Migration, create_tables
from core.store.pg_copy import NULL, CopyRows, copy_json, copy_supported, copy_text
from core.store.pg_json import json_rows, json_upsert_head
from core.store.upsert import upsert_rows

__all__ = [
    "STATUS_FAILED",
    "STATUS_PENDING",
    "STATUS_SYNCED",
    "VECTOR_MIGRATIONS",
    "LedgerEntry",
    "LedgerScope",
    "load_entries",
    "load_horizon",
    "vector_ledger_documents",
    "vector_ledger_state",
    "vector_local_records",
]

vector_metadata = MetaData()

vector_ledger_state = Table(
    "vector_ledger_state",
    vector_metadata,
    Column("source", String(200), primary_key=True),
    Column("destination", String(300), primary_key=True),
    Column("namespace", String(200), primary_key=True),
    Column("horizon", BigInteger, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

vector_ledger_documents = Table(
    "vector_ledger_documents",
    vector_metadata,
    Column("source", String(200), primary_key=True),
    Column("destination", String(300), primary_key=True),
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

# Version 1's tables, keyed without a destination; read once by :func:`adopt_legacy`.
_legacy_documents = Table(
    "vector_sync_documents",
    MetaData(),
    Column("source", String(200), primary_key=True),
    Column("namespace", String(200), primary_key=True),
    Column("doc_id", String(500), primary_key=True),
    Column("chunk_ids", JSON, nullable=False),
)

_LEGACY_V1 = (
    Table(
        "vector_sync_state",
        MetaData(),
        Column("source", String(200), primary_key=True),
        Column("namespace", String(200), primary_key=True),
        Column("watermark", DateTime(timezone=True), nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ),
    Table(
        "vector_sync_documents",
        MetaData(),
        Column("source", String(200), primary_key=True),
        Column("namespace", String(200), primary_key=True),
        Column("doc_id", String(500), primary_key=True),
        Column("content_hash", String(64), nullable=True),
        Column("chunk_ids", JSON, nullable=False, default=list),
        Column("status", String(20), nullable=False),
        Column("error", Text, nullable=True),
        Column("synced_at", DateTime(timezone=True), nullable=False),
    ),
)


def _room_for_updates(conn: Connection) -> None:
    """Every sync rewrites its documents' entries (a full refresh twice: reset, then outcome).
    With room left on each page PostgreSQL updates an entry on its own page without a new
    primary-key entry (a HOT update), and prunes the old version on its own, vacuum or not.
    Only pages written from now on get the room: a ledger filled before keeps its full pages
    until they are rewritten (``VACUUM FULL``)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {vector_ledger_documents.name} SET (fillfactor = 50)")


VECTOR_MIGRATIONS = (
    Migration(
        1,
        "vector sync ledger and local sink records",
        create_tables(*_LEGACY_V1, vector_local_records),
    ),
    Migration(
        2,
        "ledger per destination, change horizon, pending (intent) entries",
        create_tables(vector_ledger_state, vector_ledger_documents),
    ),
    Migration(3, "ledger entries updated in place (PostgreSQL fillfactor 50)", _room_for_updates),
)


STATUS_SYNCED = "synced"
STATUS_FAILED = "failed"
STATUS_PENDING = "pending"  # intent recorded, the sink write has not been confirmed


@dataclasses.dataclass(frozen=True)
class LedgerScope:
    source: str
    destination: str
    namespace: str

    def where(self, table: Table) -> tuple[ColumnElement[bool], ...]:
        """The rows of ``table`` (a ledger table) that belong to this scope."""
        return tuple(table.c[column] == value for column, value in self.key().items())

    def where_state(self) -> tuple[ColumnElement[bool], ...]:
        return self.where(vector_ledger_state)

    def where_documents(self) -> tuple[ColumnElement[bool], ...]:
        return self.where(vector_ledger_documents)

    def key(self) -> dict[str, str]:
        return {"source": self.source, "destination": self.destination, "namespace": self.namespace}


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    doc_id: str
    content_hash: str | None
    chunk_ids: tuple[str, ...]
    status: str


def state_exists(conn: Connection, scope: LedgerScope) -> bool:
    return conn.execute(select(vector_ledger_state.c.source).where(*scope.where_state())).first() is not None


def load_horizon(conn: Connection, scope: LedgerScope) -> int | None:
    row = conn.execute(select(vector_ledger_state.c.horizon).where(*scope.where_state())).first()
    return None if row is None or row[0] is None else int(row[0])


def save_horizon(conn: Connection, scope: LedgerScope, horizon: int | None) -> None:
    """Record where the next sync starts; an existing horizon never moves backwards."""
    stored = load_horizon(conn, scope)
    if horizon is not None and stored is not None and stored > horizon:
        horizon = stored
    upsert_rows(
        conn,
        vector_ledger_state,
        [{**scope.key(), "horizon": horizon, "updated_at": dt.datetime.now(dt.UTC)}],
        ["source", "destination", "namespace"],
    )


def adopt_legacy(conn: Connection, scope: LedgerScope) -> int:
    """First sync of a destination on a store that has a version-1 ledger: take over its chunk
    ids as ``pending`` entries (so shrunk documents still lose their old chunks) and re-sync
    every document once. Returns the entries adopted."""
    if state_exists(conn, scope) or not inspect(conn).has_table(_legacy_documents.name):
        return 0
    legacy = _legacy_documents
    rows = conn.execute(
        select(legacy.c.doc_id, legacy.c.chunk_ids).where(
            legacy.c.source == scope.source, legacy.c.namespace == scope.namespace
        )
    ).all()
    entries = [LedgerEntry(doc_id, None, tuple(chunks or ()), STATUS_PENDING) for doc_id, chunks in rows]
    write_entries(conn, scope, entries, {})
    save_horizon(conn, scope, None)
    return len(entries)


def load_entries(conn: Connection, scope: LedgerScope, doc_ids: Iterable[str]) -> dict[str, LedgerEntry]:
    """The ledger's entries for ``doc_ids`` (those it holds). On PostgreSQL the ids travel as
    one array parameter: one statement whose text does not depend on the batch, where an IN
    list renders a parameter per id (SQLite keeps the IN list)."""
    wanted = list(dict.fromkeys(doc_ids))
    entries: dict[str, LedgerEntry] = {}
    t = vector_ledger_documents
    if conn.dialect.name == "postgresql":
        statement, size, key = _load_by_array(), _PG_IDS_PER_STATEMENT, scope.key()
        chunks = ((statement, {**key, "ids": wanted[s : s + size]}) for s in range(0, len(wanted), size))
    else:
        columns = (t.c.doc_id, t.c.content_hash, t.c.chunk_ids, t.c.status)
        chunks = (
            (select(*columns).where(*scope.where_documents(), t.c.doc_id.in_(wanted[s : s + 500])), {})
            for s in range(0, len(wanted), 500)
        )
    for statement, parameters in chunks:
        for doc_id, digest, chunk_ids, status in conn.execute(statement, parameters):
            entries[doc_id] = LedgerEntry(doc_id, digest, tuple(chunk_ids or ()), status)
    return entries


_PG_IDS_PER_STATEMENT = 10_000


@functools.cache
def _load_by_array() -> TextualSelect:
    """One index probe per id. ``doc_id = ANY(:ids)`` lets the planner, on a ledger never
    analysed (a first sync, autovacuum off or not yet run), filter every entry of the scope
    instead: seconds per batch at 200,000 entries, growing with the ledger."""
    t = vector_ledger_documents
    return text(
        "SELECT found.doc_id, found.content_hash, found.chunk_ids, found.status"
        " FROM unnest(CAST(:ids AS text[])) AS wanted(doc_id)"
        " CROSS JOIN LATERAL (SELECT doc_id, content_hash, chunk_ids, status"
        f" FROM {t.name} WHERE source = :source AND destination = :destination"
        " AND namespace = :namespace AND doc_id = wanted.doc_id OFFSET 0) AS found"
    ).columns(t.c.doc_id, t.c.content_hash, t.c.chunk_ids, t.c.status)


def unfinished_doc_ids(conn: Connection, scope: LedgerScope) -> list[str]:
    """Documents whose last sync failed or was cut off: they are synced again."""
    t = vector_ledger_documents
    return list(
        conn.execute(
            select(t.c.doc_id).where(*scope.where_documents(), t.c.status.in_((STATUS_FAILED, STATUS_PENDING)))
        ).scalars()
    )


_KEY = ("source", "destination", "namespace", "doc_id")
_COPY_COLUMNS = (*_KEY, "content_hash", "chunk_ids", "status", "error")
_JSON_COLUMNS = (*_COPY_COLUMNS, "synced_at")
# On PostgreSQL a write of up to this many entries is one statement with the rows as one JSON
# parameter; a larger one goes through COPY and a staging table (three statements).
JSON_MAX_ENTRIES = 5_000


def write_entries(
    conn: Connection, scope: LedgerScope, entries: Sequence[LedgerEntry], errors: dict[str, str]
) -> None:
    """Upsert ``entries`` (a document repeated: its last entry wins). On PostgreSQL a batch of up
    to ``JSON_MAX_ENTRIES`` is one ``INSERT ... SELECT FROM json_to_recordset(:rows)`` (no
    temporary table), a larger one is encoded straight into COPY text (no row dicts)."""
    now = dt.datetime.now(dt.UTC)
    if not entries:
        return
    if conn.dialect.name == "postgresql" and len(entries) <= JSON_MAX_ENTRIES:
        rows = _entry_rows(scope, entries, errors, now)
        data = json_rows(vector_ledger_documents, _JSON_COLUMNS, rows)  # a NUL in a text column raises
        # json_to_recordset refuses the escape even inside a JSON value (a chunk id); COPY keeps it.
        if "\\u0000" not in data:
            conn.execute(_json_upsert(), {"rows": data})
            return
    if copy_supported(conn):
        copy_rows = _copy_rows(scope, entries, errors)
        if copy_rows is not None:
            upsert_rows(conn, vector_ledger_documents, copy_rows, _KEY, constants={"synced_at": now})
            return
    upsert_rows(conn, vector_ledger_documents, _entry_rows(scope, entries, errors, now), list(_KEY))


def _entry_rows(
    scope: LedgerScope, entries: Sequence[LedgerEntry], errors: dict[str, str], now: dt.datetime
) -> list[dict[str, object]]:
    """One row per document (its last entry), in the columns of ``_JSON_COLUMNS``."""
    latest = {entry.doc_id: entry for entry in entries}
    key = scope.key()
    return [
        {
            **key,
            "doc_id": entry.doc_id,
            "content_hash": entry.content_hash,
            "chunk_ids": list(entry.chunk_ids),
            "status": entry.status,
            "error": errors.get(entry.doc_id),
            "synced_at": now,
        }
        for entry in latest.values()
    ]


@functools.cache
def _json_upsert() -> TextClause:
    head = json_upsert_head(vector_ledger_documents, _JSON_COLUMNS, _KEY, "rows")
    updates = ", ".join(f"{column} = excluded.{column}" for column in _JSON_COLUMNS if column not in _KEY)
    return text(f"{head}DO UPDATE SET {updates}")


def _copy_rows(scope: LedgerScope, entries: Sequence[LedgerEntry], errors: dict[str, str]) -> CopyRows | None:
    """The entries as COPY text, unique on the document; ``None`` when a value holds a NUL
    (the general path then reports which)."""
    latest = {entry.doc_id: entry for entry in entries}
    prefix = "".join(f"{copy_text(value)}\t" for value in (scope.source, scope.destination, scope.namespace))
    lines = []
    for entry in latest.values():
        digest = NULL if entry.content_hash is None else copy_text(entry.content_hash)
        error = errors.get(entry.doc_id)
        lines.append(
            f"{prefix}{copy_text(entry.doc_id)}\t{digest}\t{copy_json(list(entry.chunk_ids))}\t"
            f"{copy_text(entry.status)}\t{NULL if error is None else copy_text(error)}"
        )
    lines.append("")
    data = "\n".join(lines).encode()
    if b"\x00" in data:
        return None
    return CopyRows(_COPY_COLUMNS, data, len(latest))


def forget_documents(conn: Connection, scope: LedgerScope, doc_ids: Sequence[str]) -> None:
    t = vector_ledger_documents
    for start in range(0, len(doc_ids), 500):
        conn.execute(
            t.delete().where(*scope.where_documents(), t.c.doc_id.in_(list(doc_ids[start : start + 500])))
        )


def reset_scope(conn: Connection, scope: LedgerScope) -> None:
    """``full_refresh``: re-sync every document from scratch. Chunk ids are kept (as pending
    entries) so records of documents that shrank or vanished are still deleted."""
    t = vector_ledger_documents
    # An entry already reset (a refresh run again after one cut short) is left as it is.
    conn.execute(
        t.update()
        .where(*scope.where_documents(), or_(t.c.content_hash.is_not(None), t.c.status != STATUS_PENDING))
        .values(content_hash=None, status=STATUS_PENDING)
    )
    conn.execute(vector_ledger_state.delete().where(*scope.where_state()))
