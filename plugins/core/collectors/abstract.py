"""``AbstractCollector``: the preferred collector contract and its lifecycle."""

from __future__ import annotations

import abc
import contextlib
import functools
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from core.collectors.context import RunContext
from core.collectors.lifecycle import LifecycleMixin
from core.collectors.progress import collect_progress
from core.protocols import IncrementalState, RunResult, TrackerResult, require_tracker_result
from core.store import Store, load_checkpoint, save_checkpoint
from core.store.locks import collect_lock_requests, hold_locks
from core.store.migrations import Migration
from core.vectors.documents import Document
from core.vectors.settings import VectorSettings, parse_vector_settings
from core.vectors.source import SyncRequest
from core.vectors.sync import check_vector_sink, run_vector_sync

__all__ = ["AbstractCollector"]

log = logging.getLogger("core.collectors")


class AbstractCollector(LifecycleMixin, abc.ABC):
    """Subclass, set ``name``, implement :meth:`validate_config` and :meth:`collect`.

    ``run()`` drives the lifecycle::

        pre_collect -> validate_config -> load_incremental_state -> collect
        -> require_tracker_result -> duration filled -> post_collect -> last_result

    Any exception calls :meth:`on_error` (whose own failure is logged, never masking the
    original) and is re-raised. Collectors that store data override ``migrations`` (their
    own tables) and may expose partitions and a vector step (:meth:`preprocess`).
    """

    name: str
    migrations: ClassVar[tuple[Migration, ...]] = ()
    vector_source: ClassVar[str | None] = None

    def __init__(self, config: Mapping[str, Any] | None = None, *, context: RunContext | None = None) -> None:
        self.raw_config: dict[str, Any] = dict(config or {})
        self.context = context or RunContext()
        # The config entry's key names this collector everywhere; the class's ``name`` is the
        # default and stays the owner of the tracker's tables (see :meth:`migrate`).
        self.name = self.context.collector_name or type(self).name
        self.incremental_state: IncrementalState | None = None
        self.outgoing_state: IncrementalState | None = None
        self.last_result: TrackerResult | None = None
        self.partitions: list[str] | None = None
        self._phase = "init"

    # ------------------------------------------------------------------ to implement

    @abc.abstractmethod
    def validate_config(self) -> None:
        """Parse and check ``raw_config``; raise ``ConfigError`` naming the field. Nothing collected."""

    @abc.abstractmethod
    def collect(self) -> TrackerResult:
        """Fetch, store (batch + checkpoint per transaction) and return counts."""

    # ------------------------------------------------------------------ optional hooks

    def pre_collect(self) -> None:
        """Runs first (open clients, migrate)."""
        self.migrate()

    def preflight(self) -> None:
        """Cheap check that the source is reachable and credentials work (validate step)."""

    def list_partitions(self) -> list[str] | None:
        """Partitions the collect step fans out over (repos, channels); ``None`` = not partitioned."""
        return None

    def checkpoint_partition(self) -> str:
        return self.context.partition or ""

    def load_incremental_state(self) -> IncrementalState | None:
        if self.context.full_refresh:
            return None
        with self.store.engine.connect() as conn:
            return load_checkpoint(conn, self.name, self.checkpoint_partition())

    def post_collect(self, result: TrackerResult) -> None:
        """Persist ``outgoing_state`` when ``collect`` left one (and the run may move it)."""
        if self.outgoing_state is not None and not self.context.dry_run:
            with self.store.transaction() as conn:
                save_checkpoint(conn, self.name, self.outgoing_state, self.checkpoint_partition())

    def on_error(self, exc: BaseException) -> None:
        """Release resources after a failure. Must not raise (if it does, it is logged)."""

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        """Documents of rows whose ``change_seq`` (:mod:`core.store.changes`) is at least
        ``changed_since`` (every document when ``None``), plus those in ``doc_ids`` (vector step)."""
        return ()

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        """Documents that no longer exist in the store (their records get deleted)."""
        return ()

    # ------------------------------------------------------------------ provided

    @property
    def store(self) -> Store:
        return self.context.store()

    def collect_lock(self) -> contextlib.AbstractContextManager[None]:
        """Serialise collects of this collector and partition (see :mod:`core.store.locks`):
        held from loading the checkpoint until the last batch is committed."""
        return hold_locks(
            self.store.engine,
            collect_lock_requests(self.name, self.context.partition),
            run_id=self.context.run_id,
            wait_seconds=self.context.lock_wait_seconds,
        )

    def migrate(self) -> list[int]:
        """The tracker's tables belong to the class, shared by every entry that uses it."""
        return self.store.migrate(type(self).name, self.migrations)

    def validate(self) -> TrackerResult:
        """The Airflow ``validate`` step: config, schema, preflight, partitions. Collects nothing."""
        started = time.monotonic()
        self._phase = "validate"
        try:
            self.validate_config()
            applied = self.migrate()
            self.preflight()
            self._check_vector_sink()
            partitions = self.list_partitions()
        except BaseException as exc:
            self.handle_error(exc, self._phase)
            self._safe_on_error(exc)
            raise
        counts = {"migrations_applied": len(applied)}
        if partitions is not None:
            counts["partitions"] = len(partitions)
        self.partitions = partitions
        self.last_result = RunResult(
            success=True, counts=counts, duration_seconds=time.monotonic() - started, step="validate"
        )
        return self.last_result

    def _check_vector_sink(self) -> None:
        if self.vector_source is None:
            return
        self._phase = "validate_vector_sink"
        sink_name = check_vector_sink(self.sync_request())
        self._phase = "validate"
        if sink_name:
            log.info("Vector sink %s is ready for %s", sink_name, self.vector_source)

    def run(self) -> TrackerResult:
        started = time.monotonic()
        try:
            self._phase = "pre_collect"
            self.pre_collect()
            self._phase = "validate"
            self.validate_config()
            self._phase = "collect_lock"
            with self.collect_lock():
                self._phase = "load_state"
                self.incremental_state = self.load_incremental_state()
                self._phase = "collect"
                with collect_progress(self.context.collector_name or self.name):
                    result = require_tracker_result(self.collect())
                if result.duration_seconds is None:
                    result = _with_duration(result, time.monotonic() - started)
                self._phase = "post_collect"
                self.post_collect(result)
        except BaseException as exc:
            self.handle_error(exc, self._phase)
            self._safe_on_error(exc)
            raise
        self.last_result = result
        return result

    @functools.cached_property
    def vector_settings(self) -> VectorSettings:
        """The ``vectors:`` section, parsed once (a ``ConfigError`` names the bad field)."""
        return parse_vector_settings(self.raw_config.get("vectors"))

    def sync_request(self) -> SyncRequest:
        """What the vector step of this run needs: where, how, for which run."""
        context = self.context
        return SyncRequest(
            source=self.vector_source or self.name,
            settings=self.vector_settings,
            store=self.store,
            dry_run=context.dry_run,
            full_refresh=context.full_refresh,
            run_id=context.run_id,
            lock_wait_seconds=context.lock_wait_seconds,
            connections=context.connections,
            sink_factory=context.vector_sink_factory,
        )

    def sync_pinecone(self) -> TrackerResult | None:
        if self.vector_source is None:
            return None
        self._phase = "sync_pinecone"
        try:
            self.validate_config()
            self.migrate()
            result = run_vector_sync(self, self.sync_request())
        except BaseException as exc:
            self.handle_error(exc, self._phase)
            self._safe_on_error(exc)
            raise
        self.last_result = result
        return result

    def _safe_on_error(self, exc: BaseException) -> None:
        try:
            self.on_error(exc)
        except Exception as hook_exc:  # noqa: BLE001 - the original failure must win
            log.warning(
                "on_error of %s failed (%s); re-raising the original %s",
                self.name,
                type(hook_exc).__name__,
                type(exc).__name__,
                extra={"collector": self.name, "collector_phase": "on_error"},
            )


def _with_duration(result: TrackerResult, seconds: float) -> TrackerResult:
    if isinstance(result, RunResult):
        return result.with_duration(seconds)
    replace = getattr(result, "with_duration", None)
    if callable(replace):
        updated = replace(seconds)
        if isinstance(updated, TrackerResult):
            return updated
    return RunResult(
        success=result.success,
        counts=dict(result.counts),
        errors=tuple(result.errors),
        duration_seconds=seconds,
        news=getattr(result, "news", None),
    )
