"""A partition's checkpoint as a plain mapping, written compare-and-set with the rows it describes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from core.protocols import Checkpoint
from core.store import Store, load_checkpoint, save_checkpoint

__all__ = ["PartitionState"]


class PartitionState:
    """``extras`` of ``(collector, partition)``; :meth:`save` inside the page's transaction
    raises ``ConflictError`` (and rolls the page back) when another run moved it meanwhile."""

    def __init__(self, store: Store, collector: str, partition: str, *, fresh: bool = False) -> None:
        self.collector, self.partition = collector, partition
        with store.engine.connect() as conn:
            loaded = load_checkpoint(conn, collector, partition)
        self.token: str | None = loaded.checkpoint_token if loaded else None
        self.extras: dict[str, Any] = {} if fresh or loaded is None else dict(loaded.extras)

    def save(self, conn: Connection, extras: Mapping[str, Any], marker: str | None = None) -> None:
        token = uuid.uuid4().hex
        state = Checkpoint(checkpoint_token=token, human_readable_marker=marker, extras=dict(extras))
        save_checkpoint(conn, self.collector, state, self.partition, expected=self.token)
        self.token, self.extras = token, dict(extras)
