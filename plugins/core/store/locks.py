"""Run locks: at most one writer per (collector, partition), however runs overlap.

Airflow does not keep a backfill from running next to a scheduled run of the same DAG, and a
console run can start any time, so the framework serialises them itself. A run takes:

- an exclusive lock on ``collect:<collector>:<partition>`` when it handles one partition,
  plus a shared lock on ``collect:<collector>`` (partitions of one collector run in parallel);
- an exclusive lock on ``collect:<collector>`` when it handles every partition at once.

PostgreSQL: session advisory locks on a dedicated connection, released by the server when
that connection ends, including when the process is killed. SQLite (the embedded default,
one machine): ``flock`` on files beside the database, released by the kernel the same way.
A run waits for the lock (logging who holds it) up to ``wait_seconds``, then fails with
:class:`~core.errors.ConflictError`, which the retry policy retries later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, select, text

from core.errors import ConflictError
from core.store.schema import collector_locks
from core.store.timestamps import as_utc
from core.store.upsert import upsert_rows

__all__ = ["DEFAULT_LOCK_WAIT_SECONDS", "LockRequest", "collect_lock_requests", "hold_locks"]

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT_SECONDS = 900.0
_POLL_SECONDS = 0.5
_LOG_EVERY_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class LockRequest:
    name: str
    shared: bool = False


def collect_lock_requests(collector: str, partition: str | None) -> list[LockRequest]:
    """What a collect of ``collector`` (one ``partition``, or all when ``None``) must hold."""
    if partition is None:
        return [LockRequest(f"collect:{collector}")]
    return [LockRequest(f"collect:{collector}", shared=True), LockRequest(f"collect:{collector}:{partition}")]


@contextlib.contextmanager
def hold_locks(
    engine: Engine,
    requests: Sequence[LockRequest],
    *,
    run_id: str | None = None,
    wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
) -> Iterator[None]:
    """Hold every lock in ``requests`` (taken in order) for the ``with`` block."""
    backend = _backend(engine)
    deadline = time.monotonic() + wait_seconds
    try:
        for request in requests:
            _acquire(backend, engine, request, deadline, wait_seconds)
            if not request.shared:
                _record_holder(engine, request.name, run_id)
        yield
    finally:
        backend.release_all()


def _acquire(
    backend: _Backend, engine: Engine, request: LockRequest, deadline: float, wait_seconds: float
) -> None:
    started = time.monotonic()
    next_log = started
    while not backend.try_acquire(request):
        now = time.monotonic()
        if now >= deadline:
            raise ConflictError(
                f"another run holds the lock {request.name!r} ({_describe_holder(engine, request.name)}); "
                f"gave up after waiting {wait_seconds:.0f} s: it is retried later"
            )
        if now >= next_log:
            log.info(
                "Waiting for the lock %r held by another run (%s); waited %.0f s of %.0f s",
                request.name,
                _describe_holder(engine, request.name),
                now - started,
                wait_seconds,
            )
            next_log = now + _LOG_EVERY_SECONDS
        time.sleep(_POLL_SECONDS)
    if time.monotonic() - started > _POLL_SECONDS:
        log.info("Got the lock %r after %.0f s", request.name, time.monotonic() - started)


def _record_holder(engine: Engine, name: str, run_id: str | None) -> None:
    try:
        with engine.begin() as conn:
            upsert_rows(
                conn,
                collector_locks,
                [
                    {
                        "lock_name": name,
                        "run_id": run_id,
                        "holder": f"{socket.gethostname()}:{os.getpid()}",
                        "acquired_at": dt.datetime.now(dt.UTC),
                    }
                ],
                ["lock_name"],
            )
    except Exception as exc:  # noqa: BLE001 - the holder record is informational only
        log.debug("Could not record the holder of %s: %s", name, type(exc).__name__)


def _describe_holder(engine: Engine, name: str) -> str:
    try:
        with engine.connect() as conn:
            row = (
                conn.execute(select(collector_locks).where(collector_locks.c.lock_name == name))
                .mappings()
                .first()
            )
    except Exception:  # noqa: BLE001 - the description is best effort
        return "holder unknown"
    if row is None:
        return "holder unknown"
    since = as_utc(row["acquired_at"])
    return f"last taken by run {row['run_id'] or '(console)'} on {row['holder']} at {since.isoformat()}"


class _Backend:
    def try_acquire(self, request: LockRequest) -> bool:
        raise NotImplementedError

    def release_all(self) -> None:
        raise NotImplementedError


class _PostgresBackend(_Backend):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._held: list[LockRequest] = []

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def try_acquire(self, request: LockRequest) -> bool:
        function = "pg_try_advisory_lock_shared" if request.shared else "pg_try_advisory_lock"
        got = bool(
            self._connection().execute(text(f"SELECT {function}(:key)"), {"key": _key(request.name)}).scalar()
        )
        if got:
            self._held.append(request)
        return got

    def release_all(self) -> None:
        if self._conn is None:
            return
        try:
            for request in reversed(self._held):
                function = "pg_advisory_unlock_shared" if request.shared else "pg_advisory_unlock"
                self._conn.execute(text(f"SELECT {function}(:key)"), {"key": _key(request.name)})
        finally:
            self._held.clear()
            self._conn.close()  # the server drops whatever is left with the session
            self._conn = None


class _FileBackend(_Backend):
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._files: list[IO[bytes]] = []

    def try_acquire(self, request: LockRequest) -> bool:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{hashlib.sha256(request.name.encode()).hexdigest()[:32]}.lock"
        handle = path.open("ab")
        mode = fcntl.LOCK_SH if request.shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._files.append(handle)
        return True

    def release_all(self) -> None:
        for handle in reversed(self._files):
            handle.close()  # closing the descriptor releases the flock
        self._files.clear()


class _NoLocks(_Backend):
    """An in-memory SQLite store lives in one process: nothing to serialise against."""

    def try_acquire(self, request: LockRequest) -> bool:
        return True

    def release_all(self) -> None:
        return None


def _backend(engine: Engine) -> _Backend:
    if engine.dialect.name == "postgresql":
        return _PostgresBackend(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return _NoLocks()
    return _FileBackend(Path(f"{database}.locks"))


def _key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
