"""``include/collectors.yaml`` -> one DAG per collector (``collect_<name>``)."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param
from airflow.sdk.definitions.param import ParamsDict

from airflow_collectors.alerts.notifier import CollectorAlertNotifier
from airflow_collectors.assets import assets_for
from airflow_collectors.compat import tolerate_encoded_deadline_alerts
from airflow_collectors.deadlines import collector_deadline
from airflow_collectors.task_group import collector_tasks
from core.config import COMMON_PARAMS, CollectorEntry, CollectorsFile, load_collectors_file, project_root
from core.errors import ConfigError

__all__ = ["CONFIG_ENV", "PARAM_DIALECT", "FrozenSchema", "build_dag", "build_dags", "collectors_file_path"]

CONFIG_ENV = "COLLECTORS_CONFIG"


def collectors_file_path() -> Path:
    configured = os.environ.get(CONFIG_ENV)
    return Path(configured) if configured else project_root() / "include" / "collectors.yaml"


# Airflow checks every Param's schema against its meta-schema at parse time; with no
# ``$schema`` that is draft 2020-12's (vocabularies, dynamic refs): ~3x the cost of draft 7,
# which says everything these schemas say.
PARAM_DIALECT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}
INSTANT_PATTERN = r"^$|^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class FrozenSchema(dict[str, Any]):
    """A Param's JSON schema that cannot change, so that copying it is sharing it.

    Airflow deep-copies the DAG's params for every task it builds, once per class in the
    operator's hierarchy (``get_merged_defaults``): with mutable schemas most of a DAG's build
    time went into copying the same dicts. It is a ``dict`` to everything that reads it
    (Airflow's serializer, ``json``, ``jsonschema``); anything that tries to change it gets a
    ``TypeError``. Nested objects and arrays are frozen too.
    """

    __slots__ = ()

    def __init__(self, schema: Mapping[str, Any]) -> None:
        super().__init__({key: _frozen(value) for key, value in dict(schema).items()})

    def _read_only(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("a collector DAG's param schema is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # pyright: ignore[reportAssignmentType]

    def __copy__(self) -> FrozenSchema:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenSchema:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenSchema, (dict(self),))


class _FrozenList(list[Any]):
    """An array inside a :class:`FrozenSchema` (``type: [null, string]``, ``enum``)."""

    __slots__ = ()

    def _read_only(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("a collector DAG's param schema is read-only")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only  # pyright: ignore[reportAssignmentType]
    append = clear = extend = insert = pop = remove = reverse = sort = _read_only  # pyright: ignore[reportAssignmentType]

    def __copy__(self) -> _FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenList, (list(self),))


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenSchema(cast("Mapping[str, Any]", value))
    if isinstance(value, list):
        return _FrozenList(_frozen(item) for item in cast("list[Any]", value))
    return value


# ``format`` alone is not checked unless rfc3339-validator is installed: ``pattern`` is what
# makes the API refuse ``"yesterday"`` at trigger time (empty = no bound).
_INSTANT = {**PARAM_DIALECT, "type": ["null", "string"], "format": "date-time", "pattern": INSTANT_PATTERN}

#: The params every collector DAG declares: (default, description, schema), the schemas built once.
_COMMON_PARAMS: dict[str, tuple[Any, str, FrozenSchema]] = {
    "since": (
        None,
        "Collect activity from this instant (ISO-8601). Bounded runs never move checkpoints back.",
        FrozenSchema({**_INSTANT, "title": "Since"}),
    ),
    "until": (
        None,
        "Collect activity up to this instant (ISO-8601).",
        FrozenSchema({**_INSTANT, "title": "Until"}),
    ),
    "partitions": (
        None,
        "Only these partitions (repos, channels).",
        FrozenSchema(
            {**PARAM_DIALECT, "title": "Partitions", "type": ["null", "array"], "items": {"type": "string"}}
        ),
    ),
    "dry_run": (
        False,
        "Collect and preprocess, but vectors go to the local dry-run sink only.",
        FrozenSchema({**PARAM_DIALECT, "title": "Dry run", "type": "boolean"}),
    ),
    "full_refresh": (
        False,
        "Ignore checkpoints and the vector ledger: re-read and re-sync everything.",
        FrozenSchema({**PARAM_DIALECT, "title": "Full refresh", "type": "boolean"}),
    ),
}


def _params() -> dict[str, Param]:
    # New Param objects for each DAG (a Param holds its resolved value), sharing the schemas.
    return {
        name: Param(default, description, schema=schema)
        for name, (default, description, schema) in _COMMON_PARAMS.items()
    }


def _entry_params(entry: CollectorEntry) -> dict[str, Param]:
    """The entry's own params (``params:``): each a JSON schema, ``default`` its default."""
    params: dict[str, Param] = {}
    for name, spec in entry.params.items():
        schema = {k: v for k, v in spec.items() if k not in ("default", "description")}
        params[name] = Param(
            spec.get("default"),
            spec.get("description"),
            schema=FrozenSchema({**PARAM_DIALECT, "title": name.replace("_", " ").capitalize(), **schema}),
        )
    return params


def _doc_md(name: str, entry: CollectorEntry, source: Path) -> str:
    on_assets = entry.asset_schedule
    if on_assets is not None:
        listed = ", ".join(f"`{uri}`" for uri in on_assets.uris)
        schedule = f"* schedule: on assets {listed} (a run once each has a new event)\n"
    else:
        schedule = f"* schedule: `{entry.schedule}` (data intervals; backfills bound the collected window)\n"
    emits = ", ".join(f"`{uri}`" for uri in entry.emits)
    return (
        f"### Collector `{name}`\n\n{entry.description}\n\n"
        f"* implementation: `{entry.collector}`\n"
        f"{schedule}"
        + (f"* emits {emits} when collect reports news (task `emit_assets`)\n" if emits else "")
        + (
            f"* publishes Markdown to `{entry.publish.target}@{entry.publish.branch}` (task `publish`)\n"
            if entry.publish
            else ""
        )
        + f"* configured in `{source.name}`; steps: validate -> collect -> sync_pinecone\n"
        f"* params: {', '.join(f'`{p}`' for p in (*COMMON_PARAMS, *entry.params))}\n"
        "* alerts, lateness deadline, backfills: see docs/operations.md\n"
    )


def build_dag(name: str, entry: CollectorEntry, settings: CollectorsFile, source: Path) -> DAG:
    defaults = settings.defaults
    schedule: CronDataIntervalTimetable | list[Asset] | None = None
    if entry.asset_schedule is not None:
        schedule = assets_for(entry.asset_schedule.uris, source=source, where=f"collectors.{name}.schedule")
    elif entry.cron_schedule is not None:
        problem = _cron_problem(str(entry.cron_expression), defaults.timezone)
        if problem is not None:
            raise ConfigError(
                f"{source}: collectors.{name}.schedule: invalid cron {entry.schedule!r} ({problem})"
            )
        schedule = CronDataIntervalTimetable(str(entry.cron_expression), timezone=defaults.timezone)
    start = entry.start_date
    deadline_minutes = entry.deadline_minutes
    dag = DAG(
        dag_id=f"collect_{name}",
        description=entry.description or f"Collect {name} activity",
        schedule=schedule,
        start_date=dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=sorted({"collector", name, *entry.tags}),
        params=ParamsDict({**_params(), **_entry_params(entry)}),
        doc_md=_doc_md(name, entry, source),
        default_args={"owner": defaults.owner},
        # Not native: native rendering turns every digit-only string of the config (Discord ids,
        # partitions) into an int, as it does a mapped task's label.
        render_template_as_native_obj=False,
        deadline=(
            collector_deadline(
                collector=name,
                minutes=deadline_minutes,
                routing=settings.alerts,
                store_conn_id=defaults.store_conn_id,
            )
            if deadline_minutes
            else None
        ),
    )
    with dag:
        collector_tasks(
            name=name,
            collector=entry.collector,
            config=entry.config,
            partitioned=entry.partitioned,
            pool=entry.pool,
            sync_pool=_sync_pool(entry),
            store_conn_id=defaults.store_conn_id,
            connection_ids=entry.connections,
            retries=entry.retries,
            retry_delay=dt.timedelta(seconds=defaults.retry_delay_seconds),
            max_retry_delay=dt.timedelta(seconds=defaults.max_retry_delay_seconds),
            execution_timeout=(
                dt.timedelta(minutes=entry.execution_timeout_minutes)
                if entry.execution_timeout_minutes
                else None
            ),
            on_failure_callback=CollectorAlertNotifier(
                kind="failure", routing=settings.alerts, store_conn_id=defaults.store_conn_id
            ),
            on_retry_callback=CollectorAlertNotifier(
                kind="retry", routing=settings.alerts, store_conn_id=defaults.store_conn_id
            ),
            group_id=None,
            emits=assets_for(entry.emits, source=source, where=f"collectors.{name}.emits"),
            publish=entry.publish.model_dump() if entry.publish else None,
            entry_params=list(entry.params),
        )
    return dag


@functools.lru_cache(maxsize=256)
def _cron_problem(expression: str, timezone: str) -> str | None:
    """Why Airflow refuses this cron schedule, or None; asked once per expression, as most
    collectors share a handful of them."""
    try:
        CronDataIntervalTimetable(expression, timezone=timezone).validate()
    except Exception as exc:  # noqa: BLE001 - reported with the entry's name
        return str(exc)
    return None


def _sync_pool(entry: CollectorEntry) -> str | None:
    """The ``sync_pinecone`` task queues in the ``pinecone`` pool when it talks to Pinecone."""
    vectors = entry.vector_settings
    return "pinecone" if vectors.enabled and vectors.sink == "pinecone" else None


def build_dags(path: Path | None = None) -> dict[str, DAG]:
    """Every enabled collector's DAG, keyed by dag_id. Bad config raises ``ConfigError`` naming the entry."""
    source = path or collectors_file_path()
    settings = load_collectors_file(source)
    tolerate_encoded_deadline_alerts()
    return {
        f"collect_{name}": build_dag(name, entry, settings, source)
        for name, entry in settings.collectors.items()
        if entry.enabled
    }
