"""Turn an Airflow run (params, run type, data interval) into the collector's run options."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from core.collectors.context import parse_instant
from core.config import COMMON_PARAMS
from core.errors import ConfigError

__all__ = ["KNOWN_PARAMS", "RunOptions", "run_options"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    since: dt.datetime | None
    until: dt.datetime | None
    partitions: Sequence[str] | None
    dry_run: bool
    full_refresh: bool
    is_backfill: bool
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the entry's own params


#: The params a collector DAG declares (``dag_factory._params``); any other key is a typo.
KNOWN_PARAMS = COMMON_PARAMS


def _reject_unknown(params: Mapping[str, Any], known: Sequence[str]) -> None:
    """Airflow accepts extra keys in a run's conf (a DAG's params have no ``additionalProperties``)."""
    unknown = sorted(str(key) for key in params if key not in known)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigError(f"unknown param {', '.join(hints)}; known params: {', '.join(known)}")


def run_options(
    params: Mapping[str, Any],
    run_type: str | None,
    interval: tuple[Any, Any],
    entry_params: Sequence[str] = (),
) -> RunOptions:
    """Window precedence: explicit ``since``/``until`` params, then a backfill's data interval.
    ``entry_params``: the names the collector's entry declares itself (passed on in ``extra``)."""
    _reject_unknown(params, (*KNOWN_PARAMS, *entry_params))
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
        extra={name: params[name] for name in entry_params if name in params},
    )
