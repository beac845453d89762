"""``CollectorRunnable``: what a collector factory must return."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.errors import CollectorFailureCategory
from core.protocols import TrackerResult

__all__ = ["CollectorRunnable"]


@runtime_checkable
class CollectorRunnable(Protocol):
    @property
    def last_result(self) -> TrackerResult | None: ...

    def run(self) -> TrackerResult | None: ...

    def sync_pinecone(self) -> TrackerResult | None: ...

    def handle_error(self, exc: BaseException, phase: str = ...) -> CollectorFailureCategory: ...
