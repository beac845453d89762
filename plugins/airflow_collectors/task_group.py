"""``collector_tasks``: the validate >> collect >> sync_pinecone tasks of one collector
(plus ``collect >> emit_assets`` when the collector emits assets)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, TaskGroup, TriggerRule

from airflow_collectors.assets import EMIT_TASK_ID, EmitAssetsOperator
from airflow_collectors.operator import PARTITIONS_XCOM_KEY, CollectorOperator
from airflow_collectors.publish import PUBLISH_TASK_ID, PublishOperator
from airflow_collectors.retry import CollectorRetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["STEP_DOCS", "PartitionsOperator", "collector_tasks"]

#: What each task does, shown on the task's page in the UI (``doc_md``).
STEP_DOCS = {
    "validate": (
        "**validate**: parses the collector's config, resolves its connections, checks that the "
        "collector's Airflow pools exist, migrates its tables and runs a cheap preflight (e.g. a "
        "token check); lists the partitions. Nothing is collected. Failures here are "
        "`validation`/`auth`/`permission` and are not retried."
    ),
    "collect": (
        "**collect**: fetches new activity since the stored checkpoint (or the run's "
        "`since`/`until`, or a backfill's data interval) and writes it page by page, rows and "
        "checkpoint in one transaction. Progress is logged every `$COLLECTOR_PROGRESS_SECONDS`. "
        "A retry resumes from the last committed page."
    ),
    "sync_pinecone": (
        "**sync_pinecone**: turns the rows changed since the last sync into documents and "
        "upserts (or deletes) their chunks in the vector sink, recording each in the ledger."
    ),
    "partitions": "**partitions**: the partitions `validate` found; one mapped `collect` runs per item.",
    "publish": (
        "**publish**: renders the collector's rows as Markdown files and commits the changed ones "
        "to the configured GitHub repository in one commit (docs/publishing.md)."
    ),
    "emit_assets": (
        "**emit_assets**: turns the news `collect` reported (e.g. new releases) into asset "
        "events, which schedule the DAGs that consume them; no news, no event."
    ),
}


class PartitionsOperator(BaseOperator):
    """The partitions ``validate`` found, as this task's return value (custom-key XComs cannot
    be mapped over directly).

    A plain operator rather than a ``@task`` function (which it was): cheaper to build and to
    import while the DAG file is parsed (docs/performance.md, "DAG parsing"); the task id, page,
    colour and return value are the same.
    """

    template_fields: Collection[str] = ()
    ui_color = "#ffefeb"  # the colour the ``@task`` version had

    def __init__(self, *, validate_task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validate_task_id = validate_task_id

    def execute(self, context: Context) -> list[str]:
        ti = context.get("ti")
        if ti is None:
            raise RuntimeError("PartitionsOperator needs a task instance in its context")
        found = ti.xcom_pull(task_ids=self.validate_task_id, key=PARTITIONS_XCOM_KEY)
        return [str(p) for p in found or []]


def collector_tasks(
    *,
    name: str,
    collector: str,
    config: Mapping[str, Any],
    partitioned: bool = False,
    pool: str | None = None,
    sync_pool: str | None = None,
    store_conn_id: str = "collector_db",
    connection_ids: Sequence[str] = (),
    retries: int = 3,
    retry_delay: dt.timedelta = dt.timedelta(minutes=1),
    max_retry_delay: dt.timedelta = dt.timedelta(hours=1),
    execution_timeout: dt.timedelta | None = None,
    on_failure_callback: Callable[..., Any] | Sequence[Callable[..., Any]] | None = None,
    on_retry_callback: Callable[..., Any] | Sequence[Callable[..., Any]] | None = None,
    group_id: str | None = None,
    emits: Sequence[Asset] = (),
    publish: Mapping[str, Any] | None = None,
    entry_params: Sequence[str] = (),
) -> tuple[CollectorOperator, Any, CollectorOperator]:
    """Build the three-step group. With ``partitioned``, ``collect`` is dynamically mapped
    over the partitions that ``validate`` pushes (one task instance per repo/channel).

    With ``emits``, an ``emit_assets`` task follows ``collect`` (whatever its outcome): its
    outlets are the assets, and it is skipped, emitting nothing, unless a collect task
    reported news (:mod:`airflow_collectors.assets`)."""
    policy = CollectorRetryPolicy(
        base_delay_seconds=retry_delay.total_seconds(),
        max_delay_seconds=max_retry_delay.total_seconds(),
    )
    common: dict[str, Any] = {
        "collector": collector,
        "collector_name": name,
        "config": dict(config),
        "store_conn_id": store_conn_id,
        "connection_ids": list(connection_ids),
        "retries": retries,
        "retry_delay": retry_delay,
        "max_retry_delay": max_retry_delay,
        "retry_policy": policy,
        "execution_timeout": execution_timeout,
        "entry_params": list(entry_params),
    }
    if on_failure_callback is not None:
        common["on_failure_callback"] = on_failure_callback
    if on_retry_callback is not None:
        common["on_retry_callback"] = on_retry_callback
    api_pool: dict[str, Any] = {"pool": pool} if pool else {}
    vector_pool: dict[str, Any] = {"pool": sync_pool} if sync_pool else {}
    scope = (
        TaskGroup(group_id=group_id, tooltip=f"{name}: validate, collect, sync_pinecone")
        if group_id
        else contextlib.nullcontext()
    )
    with scope:
        validate = CollectorOperator(
            task_id="validate",
            step="validate",
            doc_md=STEP_DOCS["validate"],
            # In default_pool (always there): it checks that the pools of the next tasks exist.
            check_pools=[p for p in (pool, sync_pool) if p],
            **common,
        )
        if partitioned:
            partitions = PartitionsOperator(
                task_id="partitions", doc_md=STEP_DOCS["partitions"], validate_task_id=validate.task_id
            )
            _ = validate >> partitions
            collect = CollectorOperator.partial(
                task_id="collect",
                step="collect",
                doc_md=STEP_DOCS["collect"],
                upstream_task_id=validate.task_id,
                map_index_template="{{ task.partition }}",
                **common,
                **api_pool,
            ).expand(partition=partitions.output)
        else:
            collect = CollectorOperator(
                task_id="collect",
                step="collect",
                doc_md=STEP_DOCS["collect"],
                upstream_task_id=validate.task_id,
                **common,
                **api_pool,
            )
        sync = CollectorOperator(
            task_id="sync_pinecone",
            step="sync_pinecone",
            doc_md=STEP_DOCS["sync_pinecone"],
            upstream_task_id=None if partitioned else collect.task_id,
            **common,
            **vector_pool,
        )
        _ = validate >> collect >> sync
        if publish:  # the entry's publish: section (docs/publishing.md)
            shared = ("retries", "retry_delay", "max_retry_delay", "retry_policy", "execution_timeout")
            shared += ("on_failure_callback", "on_retry_callback")
            publish_task = PublishOperator(
                task_id=PUBLISH_TASK_ID,
                doc_md=STEP_DOCS["publish"],
                collector_name=name,
                publish=publish,
                store_conn_id=store_conn_id,
                **{key: value for key, value in common.items() if key in shared},
            )
            _ = sync >> publish_task
        if emits:
            emit = EmitAssetsOperator(
                task_id=EMIT_TASK_ID,
                doc_md=STEP_DOCS["emit_assets"],
                collect_task_id=collect.task_id,
                collector_name=name,
                outlets=list(emits),
                # Partitions that succeeded announce their news even if another one failed:
                # their rows are committed, and a later run will not report them again.
                trigger_rule=TriggerRule.ALL_DONE,
                retries=0,
            )
            _ = collect >> emit
    return validate, collect, sync
