"""What the vector step needs from a collector, and nothing more.

The sync takes a :class:`VectorSource` (documents changed since a change horizon, removed
document ids) and a :class:`SyncRequest` (where, how, for which run) instead of the whole
collector, so ``core.vectors`` never imports ``core.collectors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from core.store import Store
from core.store.locks import DEFAULT_LOCK_WAIT_SECONDS
from core.vectors.documents import Document
from core.vectors.settings import VectorSettings
from core.vectors.sink import VectorSink

__all__ = ["SyncRequest", "VectorSource"]


@runtime_checkable
class VectorSource(Protocol):
    """A producer of documents (every ``AbstractCollector`` is one)."""

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        """Documents of rows whose ``change_seq`` is ``>= changed_since`` (all when ``None``),
        plus the documents ``doc_ids`` (retries); a document that no longer exists is left out."""
        ...

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        """Documents deleted from the store since ``changed_since`` (their records go too)."""
        ...


@dataclasses.dataclass(frozen=True)
class SyncRequest:
    """One run of the vector step: the source's name, its parsed ``vectors:`` settings and the
    run's options. ``sink_factory`` overrides the sink the settings choose (tests, embedding)."""

    source: str
    settings: VectorSettings
    store: Store
    dry_run: bool = False
    full_refresh: bool = False
    run_id: str | None = None
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    connections: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    sink_factory: Callable[[Store], VectorSink] | None = None

    @property
    def namespace(self) -> str:
        return self.settings.namespace or self.source
