"""Per (collector, partition) incremental state, written in the same transaction as the data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from core.protocols import Checkpoint, IncrementalState, require_incremental_state
from core.store.schema import collector_checkpoints
from core.store.upsert import upsert_rows

__all__ = ["delete_checkpoints", "load_checkpoint", "save_checkpoint"]


def load_checkpoint(conn: Connection, collector: str, partition: str = "") -> Checkpoint | None:
    row = (
        conn.execute(
            select(collector_checkpoints).where(
                collector_checkpoints.c.collector == collector,
                collector_checkpoints.c.partition == partition,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Checkpoint(
        checkpoint_token=row["checkpoint_token"],
        human_readable_marker=row["marker"],
        extras=dict(row["extras"] or {}),
    )


def save_checkpoint(conn: Connection, collector: str, state: IncrementalState, partition: str = "") -> None:
    """Store ``state``; call inside the transaction that wrote the data it describes."""
    require_incremental_state(state)
    upsert_rows(
        conn,
        collector_checkpoints,
        [
            {
                "collector": collector,
                "partition": partition,
                "checkpoint_token": state.checkpoint_token,
                "marker": state.human_readable_marker,
                "extras": dict(state.extras),
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
        ["collector", "partition"],
    )


def delete_checkpoints(conn: Connection, collector: str) -> int:
    """Forget every checkpoint of ``collector`` (``full_refresh``)."""
    result = conn.execute(
        collector_checkpoints.delete().where(collector_checkpoints.c.collector == collector)
    )
    return result.rowcount or 0
