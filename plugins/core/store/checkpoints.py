"""Per (collector, partition) incremental state, written in the same transaction as the data."""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError

from core.errors import ConflictError
from core.protocols import Checkpoint, IncrementalState, require_incremental_state
from core.store.schema import collector_checkpoints
from core.store.upsert import upsert_rows

__all__ = ["ANY_TOKEN", "delete_checkpoints", "load_checkpoint", "save_checkpoint"]


class _AnyToken:
    def __repr__(self) -> str:
        return "ANY_TOKEN"


ANY_TOKEN: Final = _AnyToken()


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


# The compare-and-set of save_checkpoint on PostgreSQL as one statement: the UPDATE where the
# stored token is the expected one, else (no checkpoint expected) the INSERT of the first one;
# a row another run inserted meanwhile makes the INSERT do nothing. Returns 1 when written.
_PG_CAS = text(
    """
    WITH updated AS (
        UPDATE collector_checkpoints
        SET checkpoint_token = :checkpoint_token, marker = :marker, extras = :extras, updated_at = :updated_at
        WHERE collector = :collector AND partition = :partition
            AND checkpoint_token IS NOT DISTINCT FROM CAST(:expected AS text)
        RETURNING 1
    ), inserted AS (
        INSERT INTO collector_checkpoints (collector, partition, checkpoint_token, marker, extras, updated_at)
        SELECT :collector, :partition, :checkpoint_token, :marker, :extras, :updated_at
        WHERE CAST(:expected AS text) IS NULL AND NOT EXISTS (SELECT FROM updated)
        ON CONFLICT (collector, partition) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted)
    """
).bindparams(
    bindparam("extras", type_=collector_checkpoints.c.extras.type),
    bindparam("updated_at", type_=collector_checkpoints.c.updated_at.type),
)


def save_checkpoint(
    conn: Connection,
    collector: str,
    state: IncrementalState,
    partition: str = "",
    *,
    expected: str | _AnyToken | None = ANY_TOKEN,
) -> None:
    """Store ``state``; call inside the transaction that wrote the data it describes.

    With ``expected`` (the token this run loaded or last wrote, ``None`` for no checkpoint)
    the write is a compare-and-set: when another run moved the checkpoint meanwhile, nothing
    is written and :class:`~core.errors.ConflictError` rolls the batch back with it.
    """
    require_incremental_state(state)
    values = {
        "checkpoint_token": state.checkpoint_token,
        "marker": state.human_readable_marker,
        "extras": dict(state.extras),
        "updated_at": dt.datetime.now(dt.UTC),
    }
    key = {"collector": collector, "partition": partition}
    if isinstance(expected, _AnyToken):
        upsert_rows(conn, collector_checkpoints, [{**key, **values}], ["collector", "partition"])
        return
    table = collector_checkpoints
    where = (table.c.collector == collector, table.c.partition == partition)
    if conn.dialect.name == "postgresql":
        # One round trip for the compare-and-set (the update, or the insert of a first checkpoint).
        if conn.execute(_PG_CAS, {**key, **values, "expected": expected}).scalar_one():
            return
        stored = conn.execute(select(table.c.checkpoint_token).where(*where)).first()
        found = stored[0] if stored is not None else None
        raise ConflictError(
            f"checkpoint of {collector}/{partition or '-'} was moved by another run "
            f"(expected {expected!r}, found {found!r}); this batch is rolled back"
        )
    changed = conn.execute(
        update(table).where(*where, table.c.checkpoint_token.is_not_distinct_from(expected)).values(**values)
    ).rowcount
    if changed:
        return
    stored = conn.execute(select(table.c.checkpoint_token).where(*where)).first()
    if stored is None and expected is None:
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(**key, **values))
            return
        except IntegrityError:
            stored = conn.execute(select(table.c.checkpoint_token).where(*where)).first()
    found = stored[0] if stored is not None else None
    raise ConflictError(
        f"checkpoint of {collector}/{partition or '-'} was moved by another run "
        f"(expected {expected!r}, found {found!r}); this batch is rolled back"
    )


def delete_checkpoints(conn: Connection, collector: str) -> int:
    """Forget every checkpoint of ``collector`` (``full_refresh``)."""
    result = conn.execute(
        collector_checkpoints.delete().where(collector_checkpoints.c.collector == collector)
    )
    return result.rowcount or 0
