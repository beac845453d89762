"""The interface every vector sink implements (local store sink, Pinecone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.vectors.documents import VectorRecord

__all__ = ["SinkBatchError", "VectorSink"]


class SinkBatchError(Exception):
    """A batch could not be written; ``record_ids`` lists what failed, ``__cause__`` says why."""

    def __init__(self, message: str, record_ids: Sequence[str]) -> None:
        self.record_ids = list(record_ids)
        super().__init__(message)


@runtime_checkable
class VectorSink(Protocol):
    """Where chunk records go. Implementations batch internally.

    ``upsert`` and ``delete`` return the ids that failed (never raise for a single bad batch:
    the sync step records failures in its ledger, then fails with a category). They raise
    only for failures that make the whole sink unusable (auth, missing index).
    """

    name: str

    @property
    def destination(self) -> str:
        """Where records land, stably named (``local``, ``pinecone:<index>``): the sync ledger
        is kept per destination, so syncing to one never marks documents synced in another."""
        ...

    def ensure_ready(self, namespaces: Sequence[str]) -> None:
        """Create or check indexes/namespaces; raise ``ConfigError`` on a mismatch."""
        ...

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        """Write records; return ids that failed."""
        ...

    def delete(self, namespace: str, ids: Sequence[str]) -> list[str]:
        """Delete records by id; return ids that failed."""
        ...

    @property
    def last_errors(self) -> Sequence[BaseException]:
        """Exceptions behind the most recent failed ids (for classification)."""
        ...

    def close(self) -> None:
        """Release connections; the sync step calls it when it is done with the sink."""
        ...
