"""The sync ledger on both dialects, through the real local sink."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from core.errors import CollectorFailureCategory, NetworkError, classify_failure
from core.store import Store
from core.vectors.chunking import Chunker, ChunkingConfig
from core.vectors.documents import Document, VectorRecord
from core.vectors.ledger import vector_ledger_documents, vector_local_records
from core.vectors.local_sink import LocalSink, search_local_records
from core.vectors.sync import VectorSyncer, VectorSyncError

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PARAGRAPH = "Boost.Asio strands serialize handlers without explicit locking in the application. "


class RefusingSink(LocalSink):
    """The local sink, except that it refuses records of chosen documents (as a 5xx would)."""

    name = "refusing"

    def __init__(self, store: Store, refuse_docs: set[str]) -> None:
        super().__init__(store)
        self.refuse_docs = refuse_docs
        self._errors: list[BaseException] = []

    @property
    def last_errors(self) -> Sequence[BaseException]:
        return self._errors

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        refused = [r.id for r in records if r.metadata.get("doc_id") in self.refuse_docs]
        if refused:
            self._errors.append(NetworkError("503 Service Unavailable from the index"))
        super().upsert(namespace, [r for r in records if r.id not in refused])
        return refused


def doc(doc_id: str, paragraphs: int, version: str = "") -> Document:
    text = "\n\n".join(f"{version}{PARAGRAPH * 3} part {n}." for n in range(paragraphs))
    return Document(source="demo", doc_id=doc_id, text=text, updated_at=NOW, metadata={"channel": "general"})


def syncer(store: Store, sink=None) -> VectorSyncer:
    chunker = Chunker(ChunkingConfig(chunk_size=300, chunk_overlap=0, min_chunk_chars=20))
    return VectorSyncer(store, sink or LocalSink(store), source="demo", namespace="demo", chunker=chunker)


def records(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(vector_local_records.c.record_id, vector_local_records.c.text)).all())


def test_unchanged_documents_cost_nothing_on_the_second_sync(store: Store):
    first = syncer(store)
    first.prepare()
    first.sync([doc("a", 3), doc("b", 1)])
    assert first.counts["records_upserted"] == len(records(store)) > 2
    second = syncer(store)
    second.prepare()
    second.sync([doc("a", 3), doc("b", 1)])
    assert second.counts["records_upserted"] == 0
    assert second.counts["documents_unchanged"] == 2


def test_edited_document_reupserts_only_its_own_chunks(store: Store):
    first = syncer(store)
    first.prepare()
    first.sync([doc("a", 2), doc("b", 2)])
    edit = syncer(store)
    edit.prepare()
    edit.sync([doc("a", 2, version="EDITED "), doc("b", 2)])
    assert edit.counts["documents_unchanged"] == 1
    assert 0 < edit.counts["records_upserted"] <= first.counts["records_upserted"] // 2 + 1
    assert all("EDITED" in text for rid, text in records(store).items() if rid.startswith("demo:a:"))


def test_shortened_document_deletes_its_tail_chunks(store: Store):
    first = syncer(store)
    first.prepare()
    first.sync([doc("a", 6)])
    before = sorted(records(store))
    short = syncer(store)
    short.prepare()
    short.sync([doc("a", 1)])
    after = sorted(records(store))
    assert len(after) < len(before)
    assert short.counts["records_deleted"] == len(before) - len(after)
    assert set(after) <= set(before)


def test_removed_documents_lose_all_records(store: Store):
    first = syncer(store)
    first.prepare()
    first.sync([doc("a", 2), doc("b", 2)])
    gone = syncer(store)
    gone.prepare()
    gone.sync([], removed_doc_ids=["a"])
    assert all(not rid.startswith("demo:a:") for rid in records(store))
    assert gone.counts["documents_removed"] == 1


def test_failed_batch_is_kept_retried_next_run_then_cleared(store: Store):
    failing = syncer(store, RefusingSink(store, {"b"}))
    failing.prepare()
    failing.sync([doc("a", 1), doc("b", 1)])
    assert failing.counts["documents_failed"] == 1
    with pytest.raises(VectorSyncError) as caught:
        failing.raise_for_failures()
    assert classify_failure(caught.value) is CollectorFailureCategory.NETWORK
    retry = syncer(store)
    _, failed_ids = retry.prepare()
    assert failed_ids == ["b"]
    retry.sync([doc("b", 1)])
    assert retry.counts["records_upserted"] >= 1
    with store.engine.connect() as conn:
        statuses = set(conn.execute(select(vector_ledger_documents.c.status)).scalars())
    assert statuses == {"synced"}


def test_full_refresh_forgets_the_ledger(store: Store):
    run = syncer(store)
    run.prepare()
    run.sync([doc("a", 1)])
    again = syncer(store)
    again.prepare(full_refresh=True)
    again.sync([doc("a", 1)])
    assert again.counts["documents_unchanged"] == 0 and again.counts["records_upserted"] >= 1


def test_local_search_finds_records_by_keyword(store: Store):
    run = syncer(store)
    run.prepare()
    run.sync([doc("a", 1)])
    assert search_local_records(store, "strands ASIO", namespace="demo")
    assert search_local_records(store, "nonexistentword") == []
