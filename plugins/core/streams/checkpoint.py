"""One transaction per page: the rows, the checkpoint that describes them, the HTTP validators.

:class:`Checkpointer` is the only writer of a partition's checkpoint during a run. It
enforces the framework's rules in one place:

* the rows, the checkpoint advance and the validators (ETag / Last-Modified of the request
  that proves "nothing changed" next time) commit together or not at all;
* the checkpoint write is a compare-and-set on the token this run loaded or last wrote
  (``save_checkpoint(..., expected=token)``): a checkpoint moved by another run raises
  ``ConflictError`` and the page rolls back with it;
* a bounded run (``since``/``until``: params or an Airflow backfill) writes rows only,
  never a checkpoint or a validator;
* cursors never move back (:class:`StreamCursors` keeps the newer of old and new).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import Connection

from core.collectors.progress import report_progress
from core.operations.http import HttpResponse
from core.protocols import IncrementalState
from core.store import Store, load_checkpoint, save_checkpoint, save_validators

__all__ = ["Checkpointer", "CursorState", "StreamCursors", "save_response_validators"]


class CursorState(IncrementalState, Protocol):
    """A checkpoint holding one cursor per stream (what the stream runner reads and advances)."""

    def cursor(self, stream: str) -> dt.datetime | None: ...

    def with_cursor(self, stream: str, value: dt.datetime | None) -> Self: ...


S = TypeVar("S", bound=IncrementalState)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class StreamCursors:
    """The default :class:`CursorState`: ``{stream: newest cursor stored}`` (ISO-8601 UTC).

    ``checkpoint_token`` is the cursors as compact JSON, so any advance changes it (the
    compare-and-set needs that); ``extras`` round-trips through ``from_state``.
    """

    cursors: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def checkpoint_token(self) -> str | None:
        return json.dumps(dict(sorted(self.cursors.items())), separators=(",", ":")) if self.cursors else None

    @property
    def human_readable_marker(self) -> str | None:
        if not self.cursors:
            return None
        return "; ".join(f"{name} up to {value}" for name, value in sorted(self.cursors.items()))

    @property
    def extras(self) -> Mapping[str, Any]:
        return {"cursors": dict(self.cursors)}

    @classmethod
    def from_state(cls, state: IncrementalState | None) -> StreamCursors:
        cursors = (state.extras or {}).get("cursors") if state is not None else None
        return cls(dict(cursors) if isinstance(cursors, Mapping) else {})

    def cursor(self, stream: str) -> dt.datetime | None:
        value = self.cursors.get(stream)
        return _parse(value) if value else None

    def with_cursor(self, stream: str, value: dt.datetime | None) -> StreamCursors:
        """The newer of the stored cursor and ``value`` (a cursor never moves back)."""
        current = self.cursor(stream)
        if value is None or (current is not None and current >= value):
            return self
        return StreamCursors({**self.cursors, stream: _iso(value)})


def save_response_validators(conn: Connection, response: HttpResponse) -> bool:
    """Store a response's ETag/Last-Modified in ``conn``'s transaction (the one that stores
    the data they describe); ``False`` when it has none or no cache key."""
    if not (response.cache_scope and response.cache_key):
        return False
    if response.etag is None and response.last_modified is None:
        return False
    save_validators(conn, response.cache_scope, response.cache_key, response.etag, response.last_modified)
    return True


class Checkpointer(Generic[S]):
    """Commits pages for one (collector, partition); see the module doc.

    ``initial`` is the state to start from (the stored one, or an empty one on a full
    refresh); ``expected`` the token actually stored when the run began (defaults to the
    stored checkpoint's). ``counts`` receives ``transactions`` and ``store_ms``.
    """

    def __init__(
        self,
        store: Store,
        collector: str,
        partition: str = "",
        *,
        initial: S,
        expected: str | object | None = dataclasses.MISSING,
        bounded: bool = False,
        counts: collections.Counter[str] | None = None,
    ) -> None:
        self.store = store
        self.collector = collector
        self.partition = partition
        self.state = initial
        if expected is dataclasses.MISSING:
            with store.engine.connect() as conn:
                stored = load_checkpoint(conn, collector, partition)
            expected = stored.checkpoint_token if stored else None
        self.expected_token: str | None = expected  # type: ignore[assignment]
        self.bounded = bounded
        self.counts = counts if counts is not None else collections.Counter()

    @classmethod
    def load(
        cls,
        store: Store,
        collector: str,
        partition: str,
        build: Callable[[IncrementalState | None], S],
        *,
        full_refresh: bool = False,
        bounded: bool = False,
        counts: collections.Counter[str] | None = None,
    ) -> Checkpointer[S]:
        """Read the stored checkpoint once: it is the CAS token, and (unless ``full_refresh``)
        ``build(stored)`` is the starting state."""
        with store.engine.connect() as conn:
            stored = load_checkpoint(conn, collector, partition)
        return cls(
            store,
            collector,
            partition,
            initial=build(None if full_refresh else stored),
            expected=stored.checkpoint_token if stored else None,
            bounded=bounded,
            counts=counts,
        )

    def commit(
        self,
        work: Callable[[Connection], object],
        new_state: S | None = None,
        remember: Sequence[HttpResponse | None] = (),
    ) -> None:
        """One transaction: ``work(conn)``, the checkpoint (if it changed), the validators."""
        if self.bounded:
            new_state, remember = None, ()
        started = time.monotonic()
        with self.store.transaction() as conn:
            work(conn)
            if new_state is not None and new_state != self.state:
                save_checkpoint(conn, self.collector, new_state, self.partition, expected=self.expected_token)
                self.expected_token = new_state.checkpoint_token
            for response in remember:
                if response is not None:
                    save_response_validators(conn, response)
        self.counts["store_ms"] += round((time.monotonic() - started) * 1000)
        self.counts["transactions"] += 1
        if new_state is not None:
            self.state = new_state
        report_progress(self.counts, self.partition)
