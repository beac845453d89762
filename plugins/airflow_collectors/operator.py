"""``CollectorOperator``: one step (validate | collect | sync_pinecone) of one collector."""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_collectors.assets import NEWS_XCOM_KEY, news_of
from airflow_collectors.connections import resolve_connections, secret_values, store_url
from airflow_collectors.failures import CollectorStepFailed, to_step_failure
from core.errors import ConfigError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_collectors.kill_watch import KillWatch
    from core.collectors import AbstractCollector, RunContext
    from core.protocols import TrackerResult

# What runs the step (core.collectors and the store, sqlalchemy's schema, the vector sinks,
# the kill watch, metrics) is imported in ``execute``: the DAG file, which builds these
# operators, never needs it (docs/performance.md, "DAG parsing").

__all__ = ["STEPS", "CollectorOperator"]

Step = Literal["validate", "collect", "sync_pinecone"]
STEPS: tuple[Step, ...] = ("validate", "collect", "sync_pinecone")
PARTITIONS_XCOM_KEY = "partitions"
CATEGORY_XCOM_KEY = "failure_category"


class CollectorOperator(BaseOperator):
    """Run one step of the collector at ``collector`` (``"package.module:Class"``).

    The collector is imported and built inside :meth:`execute`, so the serialized DAG
    holds only strings and JSON. ``config`` is templated. The step's
    :class:`~core.protocols.TrackerResult` is returned (XCom ``return_value``) as JSON; on
    failure the category is pushed as XCom ``failure_category``, recorded in
    ``collector_runs`` and raised as a sanitized :class:`CollectorStepFailed`.
    """

    template_fields: Collection[str] = ("config",)
    template_fields_renderers = {"config": "json"}
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        collector: str,
        step: Step,
        collector_name: str,
        config: Mapping[str, Any] | None = None,
        store_conn_id: str = "collector_db",
        connection_ids: Sequence[str] = (),
        partition: str | None = None,
        upstream_task_id: str | None = None,
        check_pools: Sequence[str] = (),
        entry_params: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if step not in STEPS:
            raise ConfigError(f"step must be one of {', '.join(STEPS)}, got {step!r}")
        self.collector = collector
        self.step = step
        self.collector_name = collector_name
        self.config = dict(config or {})
        self.store_conn_id = store_conn_id
        self.connection_ids = list(connection_ids)
        self.partition = partition
        self.upstream_task_id = upstream_task_id
        self.check_pools = list(check_pools)
        self.entry_params = list(entry_params)

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> dict[str, Any]:
        started_at = dt.datetime.now(dt.UTC)
        supervised = _under_supervisor()
        if supervised:
            from airflow_collectors.kill_watch import die_with_parent

            # The supervisor gone, nobody can hear this task: do not keep collecting as an orphan.
            die_with_parent()
        try:
            run_context = self._run_context(context)
        except Exception as exc:  # noqa: BLE001 - bad params or no store: categorize, record when possible
            raise self._fail_before_start(exc, context, started_at) from None
        watch = self._start_kill_watch(context, run_context, started_at) if supervised else None
        try:
            return self._execute(context, run_context, started_at)
        finally:
            if watch is not None:
                watch.done()

    def _execute(self, context: Context, run_context: RunContext, started_at: dt.datetime) -> dict[str, Any]:
        from core.protocols import tracker_result_to_dict

        started = time.monotonic()
        ti = _task_instance(context)
        secrets = _run_secrets(run_context)
        try:
            collector = self._build_collector(run_context)
        except Exception as exc:  # noqa: BLE001 - the task edge: categorize, sanitize, record
            raise self._fail(exc, context, run_context, started_at, started, secrets=secrets) from None
        self._log_previous_step(run_context)
        before = _checkpoint_marks(collector) if self.step == "collect" else None
        try:
            result = self._run_step(collector)
            news = news_of(result, [*secrets, *collector.secrets()]) if self.step == "collect" else None
        except (Exception, AirflowTaskTimeout) as exc:  # noqa: BLE001 - the task edge: categorize, sanitize, record
            secrets += collector.secrets()
            moved = _moved_since(before, _checkpoint_marks(collector)) if before is not None else None
            raise self._fail(
                exc, context, run_context, started_at, started, secrets=secrets, checkpoints_moved=moved
            ) from None
        payload = tracker_result_to_dict(result)
        payload["step"] = payload.get("step") or self.step
        if self.step == "validate" and collector.partitions is not None:
            wanted = run_context.partitions
            partitions = [p for p in collector.partitions if not wanted or p in wanted]
            ti.xcom_push(key=PARTITIONS_XCOM_KEY, value=partitions)
            self.log.info("Partitions for collect: %d (%s)", len(partitions), ", ".join(partitions[:20]))
        if news is not None:  # the emit_assets task turns it into asset events (airflow_collectors.assets)
            ti.xcom_push(key=NEWS_XCOM_KEY, value={"partition": self.partition, "news": news})
            self.log.info("%s.collect reports news: %s", self.collector_name, news)
        self.log.info("%s.%s finished: %s", self.collector_name, self.step, _format_counts(result))
        self._record(context, run_context, result, started_at, status="success")
        return payload

    def _start_kill_watch(
        self, context: Context, run_context: RunContext, started_at: dt.datetime
    ) -> KillWatch | None:
        """The watch process that records and alerts if this task process vanishes."""
        from airflow_collectors.connections import connection_fields
        from airflow_collectors.kill_watch import KillWatch

        ti = _task_instance(context)
        notifiers = [
            cb
            for cb in _as_list(self.on_failure_callback)
            if hasattr(cb, "routing") and hasattr(cb, "store_conn_id")
        ]
        if not notifiers:
            return None  # nobody routes alerts for this task: nothing for a watch to say
        notifier = notifiers[0]
        routing = notifier.routing
        destinations = [routing.slack_conn_id, *routing.webhook_conn_ids, self.store_conn_id]
        connections = {conn_id: connection_fields(conn_id) for conn_id in destinations if conn_id}
        server = getattr(ti, "_ti_context_from_server", None)
        will_retry = getattr(server, "should_retry", None)
        if will_retry is None:
            will_retry = (ti.try_number or 1) <= (ti.max_tries or 0)
        try:
            log_url = ti.log_url
        except Exception:  # noqa: BLE001 - no base_url configured
            log_url = None
        spec = {
            "collector": self.collector_name,
            "step": self.step,
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "map_index": ti.map_index if ti.map_index is not None else -1,
            "partition": self.partition,
            "try_number": ti.try_number,
            "max_tries": ti.max_tries,
            "will_retry": bool(will_retry),
            "started_at": started_at.isoformat(),
            "routing": routing.model_dump(),
            "store_conn_id": self.store_conn_id,
            "connections": connections,
            "secrets": _run_secrets(run_context),
            "log_url": log_url,
        }
        return KillWatch.start(spec)

    def _run_step(self, collector: AbstractCollector) -> TrackerResult:
        from airflow_collectors.pools import check_pools
        from core.protocols import RunResult

        if self.step == "validate":
            check_pools(self.check_pools, collector=self.collector_name)
            return collector.validate()
        if self.step == "collect":
            return collector.run()
        synced = collector.sync_pinecone()
        if synced is None:
            self.log.info("%s has no vector step; nothing to sync", self.collector_name)
            return RunResult(success=True, counts={"documents": 0}, step="sync_pinecone")
        return synced

    def _run_context(self, context: Context) -> RunContext:
        from airflow_collectors.vector_sinks import vector_connection_ids
        from airflow_collectors.window import run_options
        from core.collectors import RunContext

        params = dict(context.get("params") or {})
        dag_run = context.get("dag_run")
        options = run_options(
            params,
            getattr(dag_run, "run_type", None),
            (context.get("data_interval_start"), context.get("data_interval_end")),
            self.entry_params,
        )
        if options.since or options.until:
            self.log.info(
                "Bounded run (%s): since=%s until=%s; forward checkpoints are not moved back",
                "backfill" if options.is_backfill else "params",
                options.since,
                options.until,
            )
        previous = None
        if self.upstream_task_id:
            previous = _task_instance(context).xcom_pull(task_ids=self.upstream_task_id)
        return RunContext(
            store_url=store_url(self.store_conn_id),
            collector_name=self.collector_name,
            run_id=str(context.get("run_id") or ""),
            since=options.since,
            until=options.until,
            partition=self.partition,
            partitions=options.partitions,
            dry_run=options.dry_run,
            full_refresh=options.full_refresh,
            is_backfill=options.is_backfill,
            connections=resolve_connections([*self.connection_ids, *vector_connection_ids(self.config)]),
            previous_result=previous if isinstance(previous, Mapping) else None,
            params=dict(options.extra),
        )

    def _build_collector(self, run_context: RunContext) -> AbstractCollector:
        from core.collectors import AbstractCollector

        module_name, _, attr = self.collector.partition(":")
        try:
            klass = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"collector {self.collector!r} cannot be imported: {exc}") from None
        if not (isinstance(klass, type) and issubclass(klass, AbstractCollector)):
            raise ConfigError(f"collector {self.collector!r} is not an AbstractCollector subclass")
        return klass(self.config, context=run_context)

    def _log_previous_step(self, run_context: RunContext) -> None:
        previous = run_context.previous_result
        if previous:
            self.log.info(
                "Previous step %s: success=%s counts=%s",
                previous.get("step"),
                previous.get("success"),
                previous.get("counts"),
            )

    # ------------------------------------------------------------------ outcome

    def _fail_before_start(
        self, exc: BaseException, context: Context, started_at: dt.datetime
    ) -> CollectorStepFailed:
        """A run that cannot start (bad params, no store): recorded like any failure, except
        when the store itself is unknown (recording then would create the embedded file)."""
        from core.collectors import RunContext

        try:
            bare = RunContext(
                store_url=store_url(self.store_conn_id),
                collector_name=self.collector_name,
                run_id=str(context.get("run_id") or ""),
                partition=self.partition,
            )
        except Exception:  # noqa: BLE001 - no store to record in; the alert still goes out
            failure = to_step_failure(exc, collector=self.collector_name, step=self.step, secrets=[])
            self.log.error("%s (not recorded in collector_runs: no store)", failure)
            return failure
        return self._fail(exc, context, bare, started_at, time.monotonic(), secrets=[])

    def _fail(
        self,
        exc: BaseException,
        context: Context,
        run_context: RunContext,
        started_at: dt.datetime,
        started: float,
        *,
        secrets: list[str],
        checkpoints_moved: tuple[str, ...] | None = None,
    ) -> CollectorStepFailed:
        from core.collectors.lifecycle import was_logged
        from core.protocols import RunResult

        failure = to_step_failure(
            exc,
            collector=self.collector_name,
            step=self.step,
            secrets=secrets,
            checkpoints_moved=checkpoints_moved,
        )
        if not was_logged(exc):  # the collector's handle_error logged it once, with its traceback
            self.log.error("%s", failure)
        try:
            _task_instance(context).xcom_push(key=CATEGORY_XCOM_KEY, value=failure.category.value)
        except Exception as push_exc:  # noqa: BLE001 - the original failure must win
            self.log.warning("Could not push the failure category: %s", type(push_exc).__name__)
        result = RunResult(
            success=False,
            counts=failure.committed,
            errors=(str(failure),),
            duration_seconds=time.monotonic() - started,
            step=self.step,
            failure_category=failure.category.value,
        )
        self._record(context, run_context, result, started_at, status="failed")
        return failure

    def _record(
        self,
        context: Context,
        run_context: RunContext,
        result: TrackerResult,
        started_at: dt.datetime,
        *,
        status: str,
    ) -> None:
        from airflow_collectors import metrics
        from airflow_collectors.run_history import record_step_run

        ti = _task_instance(context)
        finished_at = dt.datetime.now(dt.UTC)
        metrics.step_finished(
            self.collector_name,
            self.step,
            status=status,
            duration_seconds=(finished_at - started_at).total_seconds(),
            category=getattr(result, "failure_category", None),
            counts=result.counts,
            partition=self.partition,
        )
        record_step_run(
            run_context,
            ti,
            result,
            collector=self.collector_name,
            step=self.step,
            status=status,
            started_at=started_at,
            finished_at=finished_at,
            partition=self.partition,
            log=self.log,
        )


def _under_supervisor() -> bool:
    """True in a task process run by Airflow's supervisor (not ``dags test`` or a unit test).

    ``airflow dags test`` runs tasks in its own process with ``InProcessSupervisorComms``:
    no supervisor to outlive, and a parent-death signal there would kill the whole command.
    """
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return comms is not None and type(comms).__name__ != "InProcessSupervisorComms"


def _as_list(callbacks: object) -> list[Any]:
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def _checkpoint_marks(collector: AbstractCollector) -> dict[str, tuple[object, object]] | None:
    """Each checkpoint of the collector (partition -> token, updated_at), or None when unreadable."""
    from sqlalchemy import select

    from core.store import collector_checkpoints

    try:
        collector.store.ensure_core()
        with collector.store.engine.connect() as conn:
            rows = conn.execute(
                select(
                    collector_checkpoints.c.partition,
                    collector_checkpoints.c.checkpoint_token,
                    collector_checkpoints.c.updated_at,
                ).where(collector_checkpoints.c.collector == collector.name)
            ).all()
    except Exception:  # noqa: BLE001 - an unknown answer beats a wrong one
        return None
    return {str(row[0]): (row[1], row[2]) for row in rows}


def _moved_since(
    before: dict[str, tuple[object, object]] | None, after: dict[str, tuple[object, object]] | None
) -> tuple[str, ...] | None:
    if before is None or after is None:
        return None
    return tuple(sorted(p for p, mark in after.items() if before.get(p) != mark))


def _format_counts(result: TrackerResult) -> str:
    counts = ", ".join(f"{key}={value}" for key, value in sorted(result.counts.items()))
    return f"success={result.success} {counts} in {result.duration_seconds or 0:.2f}s"


__all__ += ["CATEGORY_XCOM_KEY", "PARTITIONS_XCOM_KEY", "CollectorStepFailed"]


def _task_instance(context: Context) -> Any:
    ti = context.get("ti")
    if ti is None:
        raise RuntimeError("CollectorOperator needs a task instance in its context")
    return ti


def _run_secrets(run_context: RunContext) -> list[str]:
    """Every secret this run holds: its connections' and the store's password."""
    secrets = secret_values(run_context.connections)
    if run_context.store_url:
        from sqlalchemy.engine import make_url

        try:
            password = make_url(run_context.store_url).password
        except Exception:  # noqa: BLE001 - an unparsable URL fails later, with its own error
            password = None
        if password:
            secrets.append(str(password))
    return secrets
