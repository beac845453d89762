"""What a collector is told about the run it is part of."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.store import Store
    from core.vectors.sink import VectorSink

__all__ = ["RunContext", "parse_instant"]


def parse_instant(name: str, value: Any) -> dt.datetime | None:
    """A window bound (``since``/``until``) from a datetime or ISO-8601 text; naive means UTC.
    Empty is no bound; anything else is a ``ConfigError`` naming the parameter."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"param {name!r}: not an ISO-8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


LOCK_WAIT_ENV = "COLLECTOR_LOCK_WAIT_SECONDS"


def _lock_wait_default() -> float:
    """How long a collect waits for another run of the same collector and partition."""
    from core.store.locks import DEFAULT_LOCK_WAIT_SECONDS

    configured = os.environ.get(LOCK_WAIT_ENV)
    if not configured:
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        value = float(configured)
    except ValueError:
        raise ConfigError(f"${LOCK_WAIT_ENV}: not a number of seconds: {configured!r}") from None
    if value < 0:
        raise ConfigError(f"${LOCK_WAIT_ENV}: must be >= 0, got {configured!r}")
    return value


@dataclasses.dataclass
class RunContext:
    """Run-scoped inputs, resolved by the caller (the Airflow adapter or the CLI).

    ``collector_name`` is the collector's key in ``collectors.yaml``: its identity in runs,
    checkpoints, locks, status and alerts (two entries of one class never share checkpoints).

    ``since``/``until`` bound the collection window (a backfill's data interval or explicit
    params); when set, the run is a bounded re-read that must not move forward checkpoints
    backwards. ``partition`` is set when one task handles one partition (mapped collect).
    ``connections`` holds resolved credentials by connection id; ``vector_sink_factory``
    builds the sink the ``sync_pinecone`` step writes to. ``lock_wait_seconds`` bounds the wait for
    another collect of the same collector and partition (``$COLLECTOR_LOCK_WAIT_SECONDS``,
    default 900). ``params`` holds the run's values of the params the entry declares itself
    (``params:`` in collectors.yaml, e.g. the Boost docs tracker's ``versions``).
    """

    store_url: str | None = None
    collector_name: str | None = None
    run_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    partition: str | None = None
    partitions: Sequence[str] | None = None
    dry_run: bool = False
    full_refresh: bool = False
    is_backfill: bool = False
    connections: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    vector_sink_factory: Callable[[Store], VectorSink] | None = None
    previous_result: Mapping[str, Any] | None = None
    lock_wait_seconds: float = dataclasses.field(default_factory=lambda: _lock_wait_default())
    #: The run's values of the params the entry declares itself (``params:`` in collectors.yaml).
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    _store: Store | None = dataclasses.field(default=None, repr=False)

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def store(self) -> Store:
        """The run's store, created on first use."""
        if self._store is None:
            from core.store import Store

            self._store = Store.from_url(self.store_url)
        return self._store

    def connection(self, conn_id: str) -> Mapping[str, Any]:
        return self.connections.get(conn_id, {})
