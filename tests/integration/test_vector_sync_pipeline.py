"""The vector sync builds and chunks the next batch in a worker thread while the sink takes
the current one: a failure on either side stops both, leaves the ledger right and no thread."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select

from core.errors import AuthenticationError
from core.store import Store
from core.vectors.chunking import Chunker, ChunkingConfig
from core.vectors.documents import Document, VectorRecord
from core.vectors.ledger import vector_ledger_documents, vector_local_records
from core.vectors.local_sink import LocalSink
from core.vectors.prefetch import Prefetch
from core.vectors.sync import VectorSyncer

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PARAGRAPH = "Boost.Asio strands serialize handlers without explicit locking in the application. "


def doc(doc_id: str, paragraphs: int = 1) -> Document:
    text = "\n\n".join(f"{PARAGRAPH * 3} part {n}." for n in range(paragraphs))
    return Document(source="demo", doc_id=doc_id, text=text, updated_at=NOW)


class Source:
    """Documents one at a time, counting how many were pulled and whether it was closed."""

    def __init__(self, documents: Sequence[Document], fail_at: int | None = None) -> None:
        self.documents = documents
        self.fail_at = fail_at
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[Document]:
        try:
            for number, document in enumerate(self.documents):
                if number == self.fail_at:
                    raise RuntimeError("the store went away")
                self.pulled += 1
                yield document
        finally:
            self.closed = True


class FailingSink(LocalSink):
    """The local sink, raising (as for a revoked key) on upsert number ``fail_on``."""

    def __init__(self, store: Store, fail_on: int) -> None:
        super().__init__(store)
        self.fail_on = fail_on
        self.calls = 0

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise AuthenticationError("401 from the index")
        return super().upsert(namespace, records)


def syncer(store: Store, sink: LocalSink | None = None, batch: int = 1) -> VectorSyncer:
    chunker = Chunker(ChunkingConfig(chunk_size=300, chunk_overlap=0, min_chunk_chars=20))
    return VectorSyncer(
        store, sink or LocalSink(store), source="demo", namespace="demo", chunker=chunker, batch_documents=batch
    )


def ledger_rows(store: Store) -> dict[str, str]:
    t = vector_ledger_documents
    with store.engine.connect() as conn:
        return dict(conn.execute(select(t.c.doc_id, t.c.status)).all())


def record_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(vector_local_records.c.record_id)).scalars())


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vector-sync-")]


def test_sink_error_stops_the_worker_and_leaves_the_ledger_right(store: Store) -> None:
    source = Source([doc(f"d{n:02}") for n in range(40)])
    run = syncer(store, FailingSink(store, fail_on=2))
    run.prepare()
    with pytest.raises(AuthenticationError):
        run.sync(source)
    assert workers() == []
    assert source.closed and source.pulled < 10  # the worker stopped, it did not drain the store
    # d00 reached the sink and is recorded as synced; d01 was announced (pending) and is retried.
    assert ledger_rows(store) == {"d00": "synced", "d01": "pending"}
    assert {r.split(":")[1] for r in record_ids(store)} == {"d00"}
    again = syncer(store)
    _, retry = again.prepare()
    assert retry == ["d01"]
    again.sync(Source([doc(f"d{n:02}") for n in range(40)]))
    assert set(ledger_rows(store).values()) == {"synced"} and len(ledger_rows(store)) == 40
    assert again.counts["documents_unchanged"] == 1


def test_builder_error_reaches_the_caller_after_what_was_sent_is_recorded(store: Store) -> None:
    source = Source([doc(f"d{n}") for n in range(5)], fail_at=3)
    run = syncer(store)
    run.prepare()
    with pytest.raises(RuntimeError, match="the store went away"):
        run.sync(source)
    assert workers() == [] and source.closed
    assert ledger_rows(store) == {"d0": "synced", "d1": "synced", "d2": "synced"}


def test_a_document_in_two_batches_is_planned_from_the_first_ones_outcome(store: Store) -> None:
    run = syncer(store)
    run.prepare()
    run.sync(Source([doc("a", 6), doc("a", 6), doc("b"), doc("a", 1)]))
    assert run.counts["documents_unchanged"] == 1  # the second "a" is the first, just sent
    assert {r for r in record_ids(store) if r.startswith("demo:a:")} == {"demo:a:0"}
    assert ledger_rows(store) == {"a": "synced", "b": "synced"}


def test_every_batch_is_synced_in_order_with_one_ledger_write_each(store: Store) -> None:
    run = syncer(store, batch=2)
    run.prepare()
    writes: list[int] = []
    original = run._record_intent

    def counted(planned):  # type: ignore[no-untyped-def]
        writes.append(len(planned))
        original(planned)

    run._record_intent = counted  # type: ignore[method-assign]
    run.sync(Source([doc(f"d{n}") for n in range(7)]))
    assert writes == [2, 2, 2, 1]
    assert run.counts["records_upserted"] == 7
    assert ledger_rows(store) == {f"d{n}": "synced" for n in range(7)}


def test_prefetch_runs_ahead_by_its_depth_only() -> None:
    made: list[int] = []
    settle = threading.Event()

    def produce() -> Iterator[int]:
        for n in range(100):
            made.append(n)
            yield n

    with Prefetch(produce, depth=1, name="vector-sync-probe") as items:
        first = next(iter(items))
        # One item queued and one more made and waiting to be queued, no more.
        settle.wait(0.5)  # give the worker time to overrun, were it able to
        assert first == 0 and len(made) <= 3
    assert workers() == []


def test_full_refresh_cut_short_keeps_every_id_of_a_grown_document(store: Store) -> None:
    """A full refresh announces only what the ledger does not already hold as unsynced: a
    document that gained chunks still has every new id recorded before the sink sees one."""
    run = syncer(store, batch=10)
    run.prepare()
    run.sync([doc("same", 2), doc("grown", 1)])
    before = _chunk_ids(store)
    refresh = syncer(store, FailingSink(store, fail_on=1), batch=10)
    refresh.prepare(full_refresh=True)
    with pytest.raises(AuthenticationError):
        refresh.sync([doc("same", 2), doc("grown", 4)])
    after = _chunk_ids(store)
    assert after["same"] == before["same"]
    assert len(after["grown"]) == 4 and set(before["grown"]) < set(after["grown"])
    assert ledger_rows(store) == {"same": "pending", "grown": "pending"}


def _chunk_ids(store: Store) -> dict[str, list[str]]:
    t = vector_ledger_documents
    with store.engine.connect() as conn:
        return {doc_id: list(ids) for doc_id, ids in conn.execute(select(t.c.doc_id, t.c.chunk_ids))}


def test_ledger_batches_read_back_alike(store: Store) -> None:
    """60 documents with an error text that needs escaping (each PostgreSQL write path:
    tests/integration/test_vector_ledger.py)."""
    from core.vectors import ledger

    scope = ledger.LedgerScope("demo", "local", "demo")
    entries = [
        ledger.LedgerEntry(f"d\\{n}\t", None if n % 2 else f"h{n}", (f"demo:d{n}:0",), "failed") for n in range(60)
    ]
    errors = {entries[0].doc_id: "503\tfrom the index\nretry \\ later"}
    store.migrate("vectors", ledger.VECTOR_MIGRATIONS)
    newest = ledger.LedgerEntry(entries[5].doc_id, "newest", ("demo:d5:0", "demo:d5:1"), "synced")
    with store.transaction() as conn:
        ledger.write_entries(conn, scope, [*entries, newest], errors)  # a repeated document: last wins
    with store.engine.connect() as conn:
        loaded = ledger.load_entries(conn, scope, [e.doc_id for e in entries])
        error = conn.execute(
            select(vector_ledger_documents.c.error).where(vector_ledger_documents.c.doc_id == entries[0].doc_id)
        ).scalar_one()
    assert loaded == {**{e.doc_id: e for e in entries}, newest.doc_id: newest}
    assert error == errors[entries[0].doc_id]
