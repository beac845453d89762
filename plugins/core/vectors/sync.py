"""The ``sync_pinecone`` step: changed documents -> chunks -> sink, recorded in the ledger.

Unchanged documents (same content hash as the ledger) cost nothing; chunks that a document
no longer has are deleted; documents the sink refused are marked failed and retried on the
next run. Which rows changed is decided by the commit-ordered change sequence
(:mod:`core.store.changes`): the horizon is read when the run STARTS, before any row, so a
row committed while a sync runs (even one written by a batch that began earlier) is picked up
by the next one. Before anything goes to the sink its chunk ids are recorded as ``pending``,
so a run killed between the sink write and the ledger write leaves nothing the next run does
not know to delete (a document the ledger already holds as not synced with every one of its
new ids, as after a full refresh, needs no new intent). Syncs of one (source, destination,
namespace) are serialised.

A worker thread (:mod:`core.vectors.prefetch`) builds and chunks the next batch of documents
while this thread sends the current one; the ledger is written once a batch (the previous
batch's outcome with this batch's intent) and once at the end, or when a failure stops the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Sequence

from core.errors import CollectorError, CollectorFailureCategory, classify_failure, sanitize_exception_message
from core.protocols import RunResult
from core.store import Store
from core.store.changes import change_horizon
from core.store.locks import LockRequest, hold_locks
from core.vectors import ledger
from core.vectors.chunking import Chunker, ChunkingConfig
from core.vectors.documents import Document, VectorRecord, record_id
from core.vectors.prefetch import Prefetch
from core.vectors.sink import VectorSink
from core.vectors.sinks import build_sink
from core.vectors.source import SyncRequest, VectorSource

__all__ = ["VectorSyncError", "VectorSyncer", "check_vector_sink", "run_vector_sync"]

log = logging.getLogger(__name__)


class VectorSyncError(CollectorError):
    """Some records could not be written; the category is that of the sink's failure."""

    def __init__(
        self, message: str, category: CollectorFailureCategory, committed_counts: dict[str, int] | None = None
    ) -> None:
        self.category = category
        #: What the sync did get done (the adapter reports it with the failure).
        self.committed_counts = dict(committed_counts or {})
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class _Chunked:
    """A document as the worker thread hands it on: its content hash and its records."""

    document: Document
    digest: str
    records: list[VectorRecord]
    dropped: int


@dataclasses.dataclass(frozen=True)
class _Planned:
    """A document going to the sink: its new chunk ids, the ones it no longer has, and what
    the ledger knew of it before."""

    doc_id: str
    digest: str
    new_ids: tuple[str, ...]
    stale: tuple[str, ...]
    previous: ledger.LedgerEntry | None

    def every_id(self) -> tuple[str, ...]:
        """Old and new chunk ids: every record of the document the index may hold."""
        return tuple(dict.fromkeys((*(self.previous.chunk_ids if self.previous else ()), *self.new_ids)))

    def announced(self) -> bool:
        """Whether the ledger already says what an intent would: not synced, and every new id
        known (a full refresh or a retry of an unchanged document): no intent to write then."""
        previous = self.previous
        return (
            previous is not None
            and previous.status != ledger.STATUS_SYNCED
            and set(self.new_ids).issubset(previous.chunk_ids)
        )


class VectorSyncer:
    """Syncs one (source, namespace) through one sink."""

    def __init__(
        self,
        store: Store,
        sink: VectorSink,
        *,
        source: str,
        namespace: str,
        chunker: Chunker | None = None,
        batch_documents: int = 200,
        record_ledger: bool = True,
    ) -> None:
        self.store = store
        self.sink = sink
        self.source = source
        self.namespace = namespace
        self.chunker = chunker or Chunker()
        self.batch_documents = batch_documents
        self.record_ledger = record_ledger
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "documents",
                "documents_unchanged",
                "documents_failed",
                "documents_removed",
                "records_upserted",
                "records_deleted",
                "records_failed",
                "chunks_dropped",
            ),
            0,
        )
        self.errors: list[str] = []
        self.scope = ledger.LedgerScope(source, sink.destination, namespace)
        self.start_horizon: int | None = None
        self._retry: set[str] = set()
        self._produced: set[str] = set()
        # The last batch's outcome, written with the next batch's intent (or at the end).
        self._outcome: list[ledger.LedgerEntry] = []
        self._outcome_errors: dict[str, str] = {}

    def prepare(self, full_refresh: bool = False) -> tuple[int | None, list[str]]:
        """Migrate, check the sink, read this run's start horizon; return (the previous run's
        horizon, documents to sync again) to preprocess from."""
        self.store.migrate("vectors", ledger.VECTOR_MIGRATIONS)
        self.sink.ensure_ready([self.namespace])
        with self.store.transaction() as conn:
            if self.record_ledger:
                if full_refresh:
                    ledger.reset_scope(conn, self.scope)
                adopted = ledger.adopt_legacy(conn, self.scope)
                if adopted:
                    log.info("Ledger of %s: %d documents taken over from the version-1 ledger", self.scope, adopted)
            previous = ledger.load_horizon(conn, self.scope)
            retry = ledger.unfinished_doc_ids(conn, self.scope)
        with self.store.engine.connect() as conn:
            self.start_horizon = change_horizon(conn)
        self._retry = set(retry)
        return previous, retry

    def sync(self, documents: Iterable[Document], removed_doc_ids: Iterable[str] = ()) -> None:
        """Documents are built and chunked in a worker thread, one batch ahead, while this
        thread records each batch's intent, sends it to the sink and records the outcome."""
        with Prefetch(lambda: self._chunked(documents), depth=1, name=f"vector-sync-{self.source}") as batches:
            try:
                for batch in batches:
                    self._sync_batch(batch)
            finally:
                self._flush_outcome()
        # A document to retry that the store no longer produces is gone: its records go too.
        vanished = self._retry - self._produced
        self._remove(sorted({*removed_doc_ids, *vanished}))

    def finish(self) -> None:
        if self.record_ledger:
            with self.store.transaction() as conn:
                ledger.save_horizon(conn, self.scope, self.start_horizon)

    def _chunked(self, documents: Iterable[Document]) -> Iterator[list[_Chunked]]:
        """(In the worker thread.) Batches of documents with their hash and records; touches
        neither the ledger nor the sink. Whether a document is unchanged is known only later,
        from the ledger, so an unchanged document is chunked too, then skipped."""
        iterator = iter(documents)
        try:
            for batch in _batches(iterator, self.batch_documents):
                yield [self._chunk(document) for document in batch]
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _chunk(self, document: Document) -> _Chunked:
        pieces = self.chunker.split(document.text, doc_id=document.doc_id)
        common = {
            **document.metadata,
            "source": self.source,
            "doc_id": document.doc_id,
            "updated_at": document.updated_at.isoformat(),
            **({"title": document.title} if document.title else {}),
        }
        records = [
            VectorRecord(
                id=record_id(self.source, document.doc_id, number),
                text=chunk,
                metadata={**common, "chunk_no": number},
            )
            for number, chunk in enumerate(pieces.chunks)
        ]
        return _Chunked(document, document.content_hash(), records, pieces.dropped)

    def _sync_batch(self, batch: Sequence[_Chunked]) -> None:
        self._produced.update(c.document.doc_id for c in batch)
        with self.store.engine.connect() as conn:
            known = ledger.load_entries(conn, self.scope, (c.document.doc_id for c in batch))
        # A document of the previous batch whose outcome is not written yet: that outcome is
        # what the ledger is about to hold.
        in_batch = {c.document.doc_id for c in batch}
        known.update((e.doc_id, e) for e in self._outcome if e.doc_id in in_batch)
        to_upsert: list[VectorRecord] = []
        to_delete: list[str] = []
        planned: list[_Planned] = []
        for chunked in batch:
            document = chunked.document
            self.counts["documents"] += 1
            previous = known.get(document.doc_id)
            if previous and previous.status == ledger.STATUS_SYNCED and previous.content_hash == chunked.digest:
                self.counts["documents_unchanged"] += 1
                continue
            self.counts["chunks_dropped"] += chunked.dropped
            new_ids = tuple(r.id for r in chunked.records)
            kept = set(new_ids)
            stale = tuple(i for i in (previous.chunk_ids if previous else ()) if i not in kept)
            to_upsert.extend(chunked.records)
            to_delete.extend(stale)
            planned.append(_Planned(document.doc_id, chunked.digest, new_ids, stale, previous))
        if not planned:
            return
        if self.record_ledger:
            self._record_intent(planned)
        else:
            self._outcome, self._outcome_errors = [], {}
        failed = set(self.sink.upsert(self.namespace, to_upsert)) if to_upsert else set()
        failed_deletes = set(self.sink.delete(self.namespace, to_delete)) if to_delete else set()
        self.counts["records_upserted"] += len(to_upsert) - len(failed)
        self.counts["records_deleted"] += len(to_delete) - len(failed_deletes)
        self.counts["records_failed"] += len(failed) + len(failed_deletes)
        reason = self._failure_reason()
        for plan in planned:
            if failed.intersection(plan.new_ids) or failed_deletes.intersection(plan.stale):
                self.counts["documents_failed"] += 1
                # Keep every id that may still exist in the index so a later run can delete it.
                self._outcome.append(ledger.LedgerEntry(plan.doc_id, None, plan.every_id(), ledger.STATUS_FAILED))
                self._outcome_errors[plan.doc_id] = reason
            else:
                self._outcome.append(ledger.LedgerEntry(plan.doc_id, plan.digest, plan.new_ids, ledger.STATUS_SYNCED))
        log.info(
            "Vector sync %s/%s: %d documents so far, %d records upserted, %d deleted, %d failed",
            self.source,
            self.namespace,
            self.counts["documents"],
            self.counts["records_upserted"],
            self.counts["records_deleted"],
            self.counts["records_failed"],
        )

    def _record_intent(self, planned: Sequence[_Planned]) -> None:
        """Before the sink sees a record, the ledger knows its id (and every older one). The
        previous batch's outcome is written by the same statement (one ledger write a batch);
        until then its documents are ``pending``, which a crash leaves to be synced again."""
        intent = [
            ledger.LedgerEntry(p.doc_id, None, p.every_id(), ledger.STATUS_PENDING)
            for p in planned
            if not p.announced()
        ]
        if intent or self._outcome:
            with self.store.transaction() as conn:
                # A document repeated keeps its last entry: the intent wins over an outcome.
                ledger.write_entries(conn, self.scope, [*self._outcome, *intent], self._outcome_errors)
        self._outcome, self._outcome_errors = [], {}

    def _flush_outcome(self) -> None:
        """Write what the last batch (or the batch a failure interrupted) got done."""
        outcome, errors = self._outcome, self._outcome_errors
        self._outcome, self._outcome_errors = [], {}
        if self.record_ledger and outcome:
            with self.store.transaction() as conn:
                ledger.write_entries(conn, self.scope, outcome, errors)

    def _remove(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        with self.store.engine.connect() as conn:
            known = ledger.load_entries(conn, self.scope, doc_ids)
        ids = [chunk for entry in known.values() for chunk in entry.chunk_ids]
        failed = set(self.sink.delete(self.namespace, ids)) if ids else set()
        self.counts["records_deleted"] += len(ids) - len(failed)
        self.counts["records_failed"] += len(failed)
        gone = [doc for doc, entry in known.items() if not failed.intersection(entry.chunk_ids)]
        self.counts["documents_removed"] += len(gone)
        if self.record_ledger:
            with self.store.transaction() as conn:
                ledger.forget_documents(conn, self.scope, gone)

    def _failure_reason(self) -> str:
        errors = list(self.sink.last_errors)
        return sanitize_exception_message(errors[-1]) if errors else "sink refused the records"

    def result(self, started: float) -> RunResult:
        return RunResult(
            success=self.counts["records_failed"] == 0,
            counts=self.counts,
            errors=tuple(self.errors),
            duration_seconds=time.monotonic() - started,
            step="sync_pinecone",
        )

    def raise_for_failures(self) -> None:
        if self.counts["records_failed"] == 0:
            return
        sink_errors = list(self.sink.last_errors)
        category = classify_failure(sink_errors[-1]) if sink_errors else CollectorFailureCategory.UNKNOWN
        detail = sanitize_exception_message(sink_errors[-1]) if sink_errors else "no detail from the sink"
        raise VectorSyncError(
            f"{self.counts['records_failed']} records of {self.counts['documents_failed']} documents failed "
            f"to reach the {self.sink.name} sink (kept in the ledger, retried next run): {detail}",
            category,
            committed_counts=self.counts,
        )


def _batches(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _sink_for(request: SyncRequest) -> VectorSink:
    if request.sink_factory is not None and not request.dry_run:
        return request.sink_factory(request.store)
    return build_sink(request.store, request.settings, request.connections, dry_run=request.dry_run)


def check_vector_sink(request: SyncRequest) -> str | None:
    """The validate step's preflight: the sink exists or is created, and matches the config
    (a mismatching Pinecone index is a ``ConfigError``). Returns the sink's name."""
    if not request.settings.enabled:
        return None
    with contextlib.closing(_sink_for(request)) as sink:
        sink.ensure_ready([request.namespace])
        return sink.name


def run_vector_sync(source: VectorSource, request: SyncRequest) -> RunResult:
    """Sync the documents ``source`` makes to the sink ``request`` chooses."""
    started = time.monotonic()
    settings = request.settings
    if not settings.enabled:
        return RunResult(success=True, counts={"documents": 0}, step="sync_pinecone")
    namespace = request.namespace
    with contextlib.closing(_sink_for(request)) as sink:
        syncer = VectorSyncer(
            request.store,
            sink,
            source=request.source,
            namespace=namespace,
            chunker=Chunker(
                ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars)
            ),
            batch_documents=settings.batch_documents,
            record_ledger=not request.dry_run,
        )
        lock = LockRequest(f"sync:{request.source}:{sink.destination}:{namespace}")
        with hold_locks(
            request.store.engine, [lock], run_id=request.run_id, wait_seconds=request.lock_wait_seconds
        ):
            previous, retry = syncer.prepare(full_refresh=request.full_refresh)
            log.info(
                "Vector sync %s -> %s (%s), namespace %s: documents changed since %s, plus %d to retry%s",
                request.source,
                sink.name,
                sink.destination,
                namespace,
                f"change {previous}" if previous is not None else "the beginning",
                len(retry),
                " (dry run: nothing reaches the real sink, the ledger is untouched)" if request.dry_run else "",
            )
            syncer.sync(source.preprocess(previous, retry), source.removed_document_ids(previous))
            syncer.finish()
        result = syncer.result(started)
        syncer.raise_for_failures()
        return result
