"""What one collect run shares between its steps: counts, errors, failures, the checkpoint
state, and the one place that stores documents and enqueues their dispatches together."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select

from core.errors import (
    CollectorFailureCategory,
    DataValidationError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    worst_category,
)
from core.operations.http import HttpResponse
from core.protocols import Checkpoint
from core.store import Store, upsert_rows
from core.store.checkpoints import save_checkpoint
from core.store.http_cache import save_validators
from core.store.outbox import enqueue
from wg21_paper_tracker.config import Wg21Config
from wg21_paper_tracker.dispatch import OUTBOX_KIND
from wg21_paper_tracker.fields import PAPER_PREFIXES
from wg21_paper_tracker.protocol_impl import Wg21CollectResult
from wg21_paper_tracker.tables import wg21_documents

__all__ = ["Wg21Run"]

_KEYS_PER_QUERY = 900
_ERRORS_KEPT = 50
_NEWS_KEPT = 50
_NOTIFIED_PREFIXES = frozenset(PAPER_PREFIXES) - {"D"}  # D numbers are unpublished drafts


def _chunks(values: Sequence[str], size: int = _KEYS_PER_QUERY) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclasses.dataclass
class Wg21Run:
    store: Store
    collector: str
    settings: Wg21Config
    clock: Callable[[], float]
    conditional: bool  # send and keep HTTP validators (not on full refresh or bounded runs)
    keep_checkpoint: bool  # False on bounded runs: rows only
    notify: bool  # enqueue a dispatch for every new paper
    state: dict[str, Any]
    secrets: list[str]
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    errors: list[str] = dataclasses.field(default_factory=list)
    failures: list[BaseException] = dataclasses.field(default_factory=list)
    new_papers: list[str] = dataclasses.field(default_factory=list)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # ---------------------------------------------------------------- inside a step's transaction

    def store_documents(
        self, conn: Connection, rows: Sequence[dict[str, Any]], columns: Sequence[str], hash_column: str
    ) -> None:
        """Upsert ``rows`` (only ``columns`` on existing ones, only when ``hash_column`` differs)
        and, in the same transaction, an outbox item for every paper stored for the first time."""
        existing = self._existing(conn, [r["doc_id"] for r in rows])
        upsert_rows(
            conn, wg21_documents, rows, ["doc_id"], update_columns=columns, only_if_changed=[hash_column]
        )
        for row in rows:
            if row["doc_id"] in existing:
                continue
            existing.add(row["doc_id"])
            self.counts["new_documents"] += 1
            if row["prefix"] not in _NOTIFIED_PREFIXES:
                continue
            self.new_papers.append(row["doc_id"])
            self.counts["new_papers"] += 1
            if self.notify:
                self._enqueue(conn, row)

    def _enqueue(self, conn: Connection, row: dict[str, Any]) -> None:
        url = row.get("long_link") or next(iter(row.get("file_urls") or []), None) or row.get("link") or ""
        payload = {"doc_id": row["doc_id"], "url": url, "mailing": row.get("mailing_id") or ""}
        if enqueue(conn, OUTBOX_KIND, f"wg21:{row['doc_id']}", payload, now=self.now()):
            self.counts["dispatch_enqueued"] += 1

    def _existing(self, conn: Connection, doc_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        column = wg21_documents.c.doc_id
        for chunk in _chunks(sorted(set(doc_ids))):
            found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
        return found

    def remember(self, conn: Connection, response: HttpResponse) -> None:
        """The response's validators, with the data read from it (a 304 then means "stored")."""
        if self.conditional and response.cache_scope and response.cache_key:
            save_validators(
                conn, response.cache_scope, response.cache_key, response.etag, response.last_modified
            )

    def save_state(self, conn: Connection, **changes: Any) -> None:
        if not self.keep_checkpoint:
            return
        self.state.update(changes)
        entries, newest = self.state.get("index_entries", 0), self.state.get("newest_mailing") or "-"
        checkpoint = Checkpoint(
            checkpoint_token=str(self.state.get("index_etag") or ""),
            human_readable_marker=f"index {entries} entries, newest mailing {newest}",
            extras=self.state,
        )
        save_checkpoint(conn, self.collector, checkpoint)

    # ---------------------------------------------------------------- outcome

    def fail(self, where: str, exc: BaseException) -> None:
        """A failure that must fail the run, after the other steps (and the dispatches) ran."""
        self.failures.append(exc)
        self.errors.append(f"{where}: {sanitize_exception_message(exc, self.secrets)}")

    def result(self) -> Wg21CollectResult:
        if self.failures:
            raise self._combined_failure()
        return Wg21CollectResult(
            success=True,
            counts=dict(self.counts),
            errors=tuple(self.errors[:_ERRORS_KEPT]),
            news={"papers": self.new_papers[:_NEWS_KEPT]} if self.new_papers else None,
        )

    def _combined_failure(self) -> BaseException:
        """One error of the worst category; several are summed up in its message."""
        category = worst_category(classify_failure(f) for f in self.failures)
        first = next(f for f in self.failures if classify_failure(f) is category)
        if len(self.failures) == 1:
            return first
        summary = f"{len(self.failures)} failures: " + "; ".join(
            sanitize_exception_message(f, self.secrets) for f in self.failures[:5]
        )
        if isinstance(first, RateLimitError):
            return RateLimitError(summary, retry_at=first.retry_at)
        if category is CollectorFailureCategory.VALIDATION:
            return DataValidationError(summary)
        try:
            return type(first)(summary)
        except TypeError:  # an error class with another signature: the first one keeps the category
            return first
