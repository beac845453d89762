"""The ``sync_pinecone`` step: changed documents -> chunks -> sink, recorded in the ledger.

Unchanged documents (same content hash as the ledger) cost nothing; chunks that a document
no longer has are deleted; documents the sink refused are marked failed and retried on the
next run. The watermark is the time the run STARTED, so a record edited while a sync runs
is picked up by the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from core.errors import CollectorError, CollectorFailureCategory, classify_failure, sanitize_exception_message
from core.protocols import RunResult
from core.store import Store
from core.vectors import ledger
from core.vectors.chunking import Chunker, ChunkingConfig
from core.vectors.documents import Document, VectorRecord, record_id
from core.vectors.local_sink import LocalSink
from core.vectors.settings import parse_vector_settings
from core.vectors.sink import VectorSink

if TYPE_CHECKING:
    from core.collectors.abstract import AbstractCollector

__all__ = ["VectorSyncError", "VectorSyncer", "check_vector_sink", "run_vector_sync"]

log = logging.getLogger(__name__)


class VectorSyncError(CollectorError):
    """Some records could not be written; the category is that of the sink's failure."""

    def __init__(self, message: str, category: CollectorFailureCategory) -> None:
        self.category = category
        super().__init__(message)


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

    def prepare(self, full_refresh: bool = False) -> tuple[dt.datetime | None, list[str]]:
        """Migrate, check the sink, return (watermark, failed doc ids) to preprocess from."""
        self.store.migrate("vectors", ledger.VECTOR_MIGRATIONS)
        self.sink.ensure_ready([self.namespace])
        with self.store.transaction() as conn:
            if full_refresh and self.record_ledger:
                ledger.reset_source(conn, self.source, self.namespace)
            watermark = ledger.load_watermark(conn, self.source, self.namespace)
            failed = ledger.failed_doc_ids(conn, self.source, self.namespace)
        return watermark, failed

    def sync(self, documents: Iterable[Document], removed_doc_ids: Iterable[str] = ()) -> None:
        for batch in _batches(documents, self.batch_documents):
            self._sync_batch(batch)
        self._remove(list(removed_doc_ids))

    def finish(self, started_at: dt.datetime) -> None:
        if self.record_ledger:
            with self.store.transaction() as conn:
                ledger.save_watermark(conn, self.source, self.namespace, started_at)

    def _sync_batch(self, documents: Sequence[Document]) -> None:
        with self.store.engine.connect() as conn:
            known = ledger.load_entries(conn, self.source, self.namespace, (d.doc_id for d in documents))
        to_upsert: list[VectorRecord] = []
        to_delete: list[str] = []
        planned: list[tuple[Document, str, tuple[str, ...], tuple[str, ...]]] = []
        for document in documents:
            self.counts["documents"] += 1
            digest = document.content_hash()
            previous = known.get(document.doc_id)
            if previous and previous.status == ledger.STATUS_SYNCED and previous.content_hash == digest:
                self.counts["documents_unchanged"] += 1
                continue
            pieces = self.chunker.split(document.text)
            self.counts["chunks_dropped"] += pieces.dropped
            records = [
                VectorRecord(
                    id=record_id(self.source, document.doc_id, number),
                    text=chunk,
                    metadata={
                        **document.metadata,
                        "source": self.source,
                        "doc_id": document.doc_id,
                        "chunk_no": number,
                        "updated_at": document.updated_at.isoformat(),
                        **({"title": document.title} if document.title else {}),
                    },
                )
                for number, chunk in enumerate(pieces.chunks)
            ]
            new_ids = tuple(r.id for r in records)
            stale = tuple(i for i in (previous.chunk_ids if previous else ()) if i not in set(new_ids))
            to_upsert.extend(records)
            to_delete.extend(stale)
            planned.append((document, digest, new_ids, stale))
        if not planned:
            return
        failed = set(self.sink.upsert(self.namespace, to_upsert)) if to_upsert else set()
        failed_deletes = set(self.sink.delete(self.namespace, to_delete)) if to_delete else set()
        self.counts["records_upserted"] += len(to_upsert) - len(failed)
        self.counts["records_deleted"] += len(to_delete) - len(failed_deletes)
        self.counts["records_failed"] += len(failed) + len(failed_deletes)
        entries: list[ledger.LedgerEntry] = []
        errors: dict[str, str] = {}
        reason = self._failure_reason()
        for document, digest, new_ids, stale in planned:
            broken = failed.intersection(new_ids) or failed_deletes.intersection(stale)
            if broken:
                self.counts["documents_failed"] += 1
                previous = known.get(document.doc_id)
                # Keep every id that may still exist in the index so a later run can delete it.
                remembered = tuple(dict.fromkeys((*(previous.chunk_ids if previous else ()), *new_ids)))
                entries.append(ledger.LedgerEntry(document.doc_id, None, remembered, ledger.STATUS_FAILED))
                errors[document.doc_id] = reason
            else:
                entries.append(ledger.LedgerEntry(document.doc_id, digest, new_ids, ledger.STATUS_SYNCED))
        if self.record_ledger:
            with self.store.transaction() as conn:
                ledger.write_entries(conn, self.source, self.namespace, entries, errors)
        log.info(
            "Vector sync %s/%s: %d documents so far, %d records upserted, %d deleted, %d failed",
            self.source,
            self.namespace,
            self.counts["documents"],
            self.counts["records_upserted"],
            self.counts["records_deleted"],
            self.counts["records_failed"],
        )

    def _remove(self, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        with self.store.engine.connect() as conn:
            known = ledger.load_entries(conn, self.source, self.namespace, doc_ids)
        ids = [chunk for entry in known.values() for chunk in entry.chunk_ids]
        failed = set(self.sink.delete(self.namespace, ids)) if ids else set()
        self.counts["records_deleted"] += len(ids) - len(failed)
        self.counts["records_failed"] += len(failed)
        gone = [doc for doc, entry in known.items() if not failed.intersection(entry.chunk_ids)]
        self.counts["documents_removed"] += len(gone)
        if self.record_ledger:
            with self.store.transaction() as conn:
                ledger.forget_documents(conn, self.source, self.namespace, gone)

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


def _sink_for(collector: AbstractCollector) -> VectorSink:
    context = collector.context
    if context.dry_run:
        return LocalSink(collector.store, namespace_prefix="dry_run/")
    if context.vector_sink_factory is not None:
        return context.vector_sink_factory(collector.store)
    return LocalSink(collector.store)


def check_vector_sink(collector: AbstractCollector) -> str | None:
    """The validate step's preflight: the sink exists or is created, and matches the config
    (a mismatching Pinecone index is a ``ConfigError``). Returns the sink's name."""
    settings = parse_vector_settings(collector.raw_config.get("vectors"))
    if collector.vector_source is None or not settings.enabled:
        return None
    with contextlib.closing(_sink_for(collector)) as sink:
        sink.ensure_ready([settings.namespace or collector.vector_source])
        return sink.name


def run_vector_sync(collector: AbstractCollector) -> RunResult:
    """Run the vector step for ``collector`` with the sink its context provides."""
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    settings = parse_vector_settings(collector.raw_config.get("vectors"))
    source = collector.vector_source or collector.name
    if not settings.enabled:
        return RunResult(success=True, counts={"documents": 0}, step="sync_pinecone")
    context = collector.context
    with contextlib.closing(_sink_for(collector)) as sink:
        syncer = VectorSyncer(
            collector.store,
            sink,
            source=source,
            namespace=settings.namespace or source,
            chunker=Chunker(
                ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars)
            ),
            batch_documents=settings.batch_documents,
            record_ledger=not context.dry_run,
        )
        watermark, failed = syncer.prepare(full_refresh=context.full_refresh)
        log.info(
            "Vector sync %s -> %s sink, namespace %s: documents changed since %s, plus %d failed last time%s",
            source,
            sink.name,
            syncer.namespace,
            watermark.isoformat() if watermark else "the beginning",
            len(failed),
            " (dry run: nothing reaches the real sink, the ledger is untouched)" if context.dry_run else "",
        )
        syncer.sync(collector.preprocess(watermark, failed), collector.removed_document_ids(watermark))
        syncer.finish(started_at)
        result = syncer.result(started)
        collector.last_result = result
        syncer.raise_for_failures()
        return result
