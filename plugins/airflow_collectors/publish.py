"""``PublishOperator``: the ``publish`` task after ``sync_pinecone`` of a collector with ``publish:``.

Why a task in the collector's DAG and not a DAG scheduled on an asset: the publish reads the rows
this run just committed, so it belongs after them in the same run; ``max_active_runs=1`` then
also keeps two publishes of one collector from racing for the same branch; and the step shares
the run's retry policy, failure alerts and ``collector_runs`` history with the other steps.
A separate asset-scheduled DAG would add a second schedule to watch for no gain (an asset
event only fires when the collect step reports news, while an edit is news for the files too).

The operator reads exactly one connection, ``publish.connection_id`` (``github_publish``): the
scraping connections of the entry are never handed to the writer. ``dry_run`` (the DAG param or
``publish.dry_run``) plans and reports without writing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from sqlalchemy.engine import make_url

from airflow_collectors.connections import resolve_connections, secret_values, store_url
from airflow_collectors.failures import to_step_failure
from airflow_collectors.operator import CATEGORY_XCOM_KEY
from core.publishing.settings import PublishSettings

if TYPE_CHECKING:
    from airflow.sdk import Context

    from core.collectors import RunContext
    from core.protocols import TrackerResult

__all__ = ["PUBLISH_TASK_ID", "PublishOperator"]

PUBLISH_TASK_ID = "publish"


class PublishOperator(BaseOperator):
    """Publish the collector's rows to its ``publish.target`` (see the module docstring)."""

    template_fields: Collection[str] = ("publish",)
    template_fields_renderers = {"publish": "json"}
    ui_color = "#eef6e8"

    def __init__(
        self,
        *,
        collector_name: str,
        publish: Mapping[str, Any],
        store_conn_id: str = "collector_db",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.collector_name = collector_name
        self.publish = dict(publish)
        self.store_conn_id = store_conn_id
        self.step = "publish"
        self.partition: str | None = None
        # What the alert notifier reads to redact: this task's one connection.
        self.connection_ids = [str(self.publish.get("connection_id") or "github_publish")]

    def execute(self, context: Context) -> dict[str, Any]:
        # The writer (requests) and the store load in the task, never while the DAG file is parsed.
        from core.collectors import RunContext
        from core.protocols import RunResult, tracker_result_to_dict
        from core.publishing.connection import publish_client, publish_writer
        from core.publishing.source import load_source
        from core.publishing.step import publish_rows

        started_at = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        params = dict(context.get("params") or {})
        run_id = str(context.get("run_id") or "")
        secrets: list[str] = []
        run_context: RunContext | None = None
        try:
            settings = PublishSettings.model_validate(self.publish)
            connections = resolve_connections([settings.connection_id])
            secrets = secret_values(connections)
            url = store_url(self.store_conn_id)
            if url and make_url(url).password:
                secrets.append(str(make_url(url).password))
            run_context = RunContext(
                store_url=url,
                collector_name=self.collector_name,
                run_id=run_id,
                dry_run=bool(params.get("dry_run", False)),
                full_refresh=bool(params.get("full_refresh", False)),
                connections=connections,
            )
            client = publish_client(settings, connections.get(settings.connection_id))
            writer = publish_writer(settings, client)
            with client:
                result = publish_rows(
                    run_context.store(),
                    load_source(settings),
                    settings,
                    writer,
                    collector=self.collector_name,
                    run_id=run_id,
                    dry_run=run_context.dry_run,
                    full_refresh=run_context.full_refresh,
                )
        except Exception as exc:  # noqa: BLE001 - the task edge: categorize, sanitize, record
            failure = to_step_failure(exc, collector=self.collector_name, step=self.step, secrets=secrets)
            self.log.error("%s", failure)
            context.get("ti").xcom_push(key=CATEGORY_XCOM_KEY, value=failure.category.value)  # type: ignore[union-attr]
            failed = RunResult(
                success=False,
                counts=failure.committed,
                errors=(str(failure),),
                duration_seconds=time.monotonic() - started,
                step=self.step,
                failure_category=failure.category.value,
            )
            self._record(context, run_context, failed, started_at, "failed")
            raise failure from None
        self._record(context, run_context, result, started_at, "success")
        return tracker_result_to_dict(result)

    def _record(
        self,
        context: Context,
        run_context: RunContext | None,
        result: TrackerResult,
        started_at: dt.datetime,
        status: str,
    ) -> None:
        from airflow_collectors.run_history import record_step_run

        if run_context is None:
            return  # no store known: nothing to record in
        record_step_run(
            run_context,
            context.get("ti"),
            result,
            collector=self.collector_name,
            step=self.step,
            status=status,
            started_at=started_at,
            finished_at=dt.datetime.now(dt.UTC),
            partition=self.partition,
            log=self.log,
        )
