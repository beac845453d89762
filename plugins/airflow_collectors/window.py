"""Turn an Airflow run (params, run type, data interval) into the collector's run options."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from core.collectors.context import parse_instant
from core.errors import ConfigError

__all__ = ["RunOptions", "run_options"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    since: dt.datetime | None
    until: dt.datetime | None
    partitions: Sequence[str] | None
    dry_run: bool
    full_refresh: bool
    is_backfill: bool


def run_options(params: Mapping[str, Any], run_type: str | None, interval: tuple[Any, Any]) -> RunOptions:
    """Window precedence: explicit ``since``/``until`` params, then a backfill's data interval."""
    since = parse_instant("since", params.get("since"))
    until = parse_instant("until", params.get("until"))
    is_backfill = str(getattr(run_type, "value", run_type)) == "backfill"
    if is_backfill and since is None and until is None:
        start, end = interval
        since = parse_instant("data_interval_start", start)
        until = parse_instant("data_interval_end", end)
    if since and until and since >= until:
        raise ConfigError(f"param 'since' ({since.isoformat()}) must be before 'until' ({until.isoformat()})")
    partitions = params.get("partitions") or None
    return RunOptions(
        since=since,
        until=until,
        partitions=list(partitions) if partitions else None,
        dry_run=bool(params.get("dry_run", False)),
        full_refresh=bool(params.get("full_refresh", False)),
        is_backfill=is_backfill,
    )
