"""Airflow Assets between collectors: ``emits`` (producer) and ``schedule: {asset: ...}`` (consumer).

A collect step says it found something new through its result's ``news`` (a small JSON
mapping, ``None`` when nothing is new; see :class:`core.protocols.RunResult`). The collect
task pushes that news as XCom ``news``; a dedicated ``emit_assets`` task, whose outlets are
the configured assets, turns it into asset events, or is **skipped** when no collect task
reported news. A skipped task emits no asset event (Airflow registers outlet events only
when a task succeeds), so the consumer DAGs are not triggered: the mechanism that keeps a
no-news run silent. Outlets cannot stay on the collect task itself, because a task that
succeeds always emits an event for each of its outlets.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from core.errors import ConfigError, sanitize_text

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import Context

__all__ = ["EMIT_TASK_ID", "NEWS_XCOM_KEY", "EmitAssetsOperator", "assets_for", "news_of"]

NEWS_XCOM_KEY = "news"
EMIT_TASK_ID = "emit_assets"


def assets_for(uris: Iterable[str], *, source: Path, where: str) -> list[Asset]:
    """Airflow assets for ``uris`` (deduplicated), or a ``ConfigError`` naming ``where``."""
    assets = []
    for uri in dict.fromkeys(uris):
        try:
            assets.append(Asset(uri))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: {where}: invalid asset {uri!r} ({exc})") from None
    return assets


def news_of(result: object, secrets: Iterable[str] = ()) -> dict[str, Any] | None:
    """The ``news`` a step result carries: ``None`` (nothing new) or a JSON-safe dict whose
    strings are redacted like any log text (it reaches XCom, logs and the asset event).

    Any object may carry it (duck-typed ``news`` attribute), so a tracker's own
    ``TrackerResult`` implementation can announce news too.
    """
    news = getattr(result, "news", None)
    if news is None:
        return None
    if not isinstance(news, Mapping):
        raise TypeError(f"result.news must be a mapping or None, got {type(news).__name__}")
    try:
        plain = json.loads(json.dumps({str(key): value for key, value in news.items()}))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"result.news must be JSON-serializable ({exc})") from None
    return _redacted(plain, list(secrets))


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return sanitize_text(value, secrets)
    if isinstance(value, dict):
        return {sanitize_text(key, secrets): _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, secrets) for item in value]
    return value


class EmitAssetsOperator(BaseOperator):
    """Emit the collector's ``outlets`` when its collect step reported news; skip otherwise.

    Unpartitioned, the event's extra is the news itself; partitioned, it is
    ``{"partitions": {partition: news}}`` over the partitions that reported news.
    """

    ui_color = "#fdf1d6"
    template_fields: Collection[str] = ()

    def __init__(self, *, collect_task_id: str, collector_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collect_task_id = collect_task_id
        self.collector_name = collector_name

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context.get("ti")
        outlet_events = context.get("outlet_events")
        if ti is None or outlet_events is None:
            raise RuntimeError("EmitAssetsOperator needs a task instance and outlet events in its context")
        pulled = ti.xcom_pull(task_ids=self.collect_task_id, key=NEWS_XCOM_KEY)
        found = [pulled] if isinstance(pulled, Mapping) else list(pulled or [])
        items = [
            item for item in found if isinstance(item, Mapping) and isinstance(item.get("news"), Mapping)
        ]
        if not items:
            raise AirflowSkipException(f"{self.collector_name}: collect reported no news; no asset event")
        if len(items) == 1 and items[0].get("partition") is None:
            extra: dict[str, Any] = dict(items[0]["news"])
        else:
            extra = {"partitions": {str(item["partition"]): dict(item["news"]) for item in items}}
        names = []
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra.update(extra)
                names.append(outlet.name)
        self.log.info("%s: news %s -> asset events for %s", self.collector_name, extra, ", ".join(names))
        return {"emitted": names, "extra": extra}
