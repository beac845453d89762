"""A collector whose Airflow pool does not exist fails ``validate``, naming the pool.

The scheduler never queues a task whose pool does not exist: it stays ``scheduled`` for ever,
with only a warning in the scheduler's log. Tasks cannot read pools themselves (Airflow 3
blocks the metadata DB in task processes, and the Execution API has no pool route), so the
project's Airflow plugin (:mod:`airflow_collectors.plugin`) adds one read-only route to the
API server, ``GET /collectors/pools/{name}``, and ``validate`` (which runs in
``default_pool``, always present) asks it about the pools the next tasks use. Without an API
server (``airflow dags test``) or without the plugin the check is skipped and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from core.errors import ConfigError

__all__ = ["DEFAULT_POOL", "POOL_ROUTE_PREFIX", "check_pools", "pool_api_url"]

log = logging.getLogger(__name__)

DEFAULT_POOL = "default_pool"
POOL_ROUTE_PREFIX = "/collectors"
_TIMEOUT_SECONDS = 5.0


def pool_api_url(name: str) -> str | None:
    """The plugin's URL for ``name`` on the API server the worker reports to."""
    from airflow.configuration import conf

    execution = (conf.get("core", "execution_api_server_url", fallback="") or "").strip()
    if execution:
        base = execution.rstrip("/").removesuffix("/execution")
    else:  # Airflow's own default: ``{[api] base_url}/execution/``
        base = (conf.get("api", "base_url", fallback="") or "http://localhost:8080").strip().rstrip("/")
    return f"{base}{POOL_ROUTE_PREFIX}/pools/{quote(name, safe='')}"


def _ask(url: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(url, timeout=_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.info("Pool check skipped: the API server did not answer at %s (%s)", url, type(exc).__name__)
        return None
    if response.status_code != 200:
        log.info(
            "Pool check skipped: %s answered HTTP %d (is the collectors plugin loaded?)",
            url,
            response.status_code,
        )
        return None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "exists" not in data:
        log.info("Pool check skipped: %s is not the collectors plugin's route (is the plugin loaded?)", url)
        return None
    return data


def check_pools(pools: Iterable[str], *, collector: str) -> list[str]:
    """Raise ``ConfigError`` naming a pool that does not exist or has no slot; the pools checked."""
    checked: list[str] = []
    for name in dict.fromkeys(p for p in pools if p and p != DEFAULT_POOL):
        url = pool_api_url(name)
        answer = _ask(url) if url else None
        if answer is None:
            continue
        if not answer.get("exists"):
            raise ConfigError(
                f"collectors.{collector}.pool: Airflow pool {name!r} does not exist, so the collector's "
                f"tasks would wait in 'scheduled' for ever. Create it (airflow pools set {name} <slots> "
                "'<description>', the UI, or scripts/apply_airflow_settings.py with airflow_settings.yaml)"
            )
        if (answer.get("slots") or 0) == 0:
            raise ConfigError(
                f"collectors.{collector}.pool: Airflow pool {name!r} has 0 slots, so the collector's tasks "
                "would wait in 'scheduled' for ever. Give it at least one slot"
            )
        checked.append(name)
    if checked:
        log.info("Pools ready: %s", ", ".join(checked))
    return checked
