"""Collector metrics through Airflow's own metrics client (StatsD / OpenTelemetry / Datadog).

Emitted with the task SDK's ``Stats`` so they go wherever Airflow's ``ti.*`` and
``task.duration`` metrics go (``[metrics] statsd_on``, ``statsd_host``, ``statsd_prefix``...),
under the same prefix (``airflow.`` by default). Names (``<c>`` collector, ``<s>`` step,
``<k>`` failure category):

=======================================  ========  ==============================================
``collectors.<c>.<s>.success``           counter   a step finished successfully
``collectors.<c>.<s>.failed``            counter   a step attempt failed (any category)
``collectors.<c>.failures.<k>``          counter   failed attempts of any step, by category
``collectors.<c>.<s>.duration``          timer     step duration (ms), success or failure
``collectors.<c>.<s>.items.<count>``     counter   the step's counts (``notes``, ``messages``...)
``collectors.<c>.alerts.<k>.<outcome>``  counter   alerts ``sent``/``suppressed``/``undelivered``
=======================================  ========  ==============================================

The same values also carry tags (``collector``, ``step``, ``category``, ``partition``) for
backends that keep tags (InfluxDB-style StatsD tags, Datadog, OpenTelemetry). Metrics never
raise: a broken metrics backend must not fail a collector.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from airflow.sdk.observability.stats import Stats, normalize_name_for_stats

__all__ = ["alert_outcome", "step_finished"]

log = logging.getLogger(__name__)
PREFIX = "collectors"


def _name(*parts: str) -> str:
    return ".".join(normalize_name_for_stats(part.replace(".", "_"), log_warning=False) for part in parts)


def step_finished(
    collector: str,
    step: str,
    *,
    status: str,
    duration_seconds: float | None,
    category: str | None = None,
    counts: Mapping[str, int] | None = None,
    partition: str | None = None,
) -> None:
    """Counters and timer for one step attempt (``status``: ``success`` or ``failed``)."""
    tags = {"collector": collector, "step": step}
    if partition:
        tags["partition"] = partition
    try:
        if status == "success":
            Stats.incr(_name(PREFIX, collector, step, "success"), tags=tags)
        else:
            kind = category or "unknown"
            Stats.incr(_name(PREFIX, collector, step, "failed"), tags={**tags, "category": kind})
            Stats.incr(_name(PREFIX, collector, "failures", kind), tags={**tags, "category": kind})
        if duration_seconds is not None:
            Stats.timing(
                _name(PREFIX, collector, step, "duration"),
                dt.timedelta(seconds=max(0.0, duration_seconds)),
                tags=tags,
            )
        for key, value in (counts or {}).items():
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                Stats.incr(_name(PREFIX, collector, step, "items", key), count=value, tags=tags)
    except Exception as exc:  # noqa: BLE001 - metrics never fail a collector
        log.debug("Could not emit collector metrics: %s", type(exc).__name__)


def alert_outcome(collector: str, category: str, outcome: str) -> None:
    try:
        Stats.incr(
            _name(PREFIX, collector, "alerts", category, outcome),
            tags={"collector": collector, "category": category, "outcome": outcome},
        )
    except Exception as exc:  # noqa: BLE001 - metrics never fail an alert
        log.debug("Could not emit alert metrics: %s", type(exc).__name__)
