"""Airflow connections read without Airflow, for console runs: ``$AIRFLOW_CONN_<ID>`` in either
of Airflow's forms (JSON, or a URI whose query holds the extras), and a connection's ``extra``
as a mapping whatever form it arrived in. Inside Airflow the adapter resolves connections
itself and hands the fields to the collector (``RunContext.connections``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from core.errors import ConfigError

__all__ = ["connection_extra", "connection_from_env"]


def connection_from_env(conn_id: str) -> dict[str, Any] | None:
    """The fields of ``$AIRFLOW_CONN_<ID>`` (``None`` when unset); ``extra`` is always a mapping."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"${name} is not valid JSON") from None
        if not isinstance(data, dict):
            raise ConfigError(f"${name} must be a JSON object")
        return {**data, "extra": connection_extra(data, conn_id)}
    parts = urlsplit(raw)
    return {
        "conn_type": parts.scheme,
        "host": parts.hostname or "",
        "port": parts.port,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": unquote(parts.path.lstrip("/")) or None,
        "extra": dict(parse_qsl(parts.query)),
    }


def connection_extra(fields: Mapping[str, Any] | None, conn_id: str) -> dict[str, Any]:
    """``fields["extra"]`` as a dict: Airflow hands it over as JSON text or as a mapping."""
    extra = (fields or {}).get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except json.JSONDecodeError:
            raise ConfigError(f"connection {conn_id}: extra is not valid JSON") from None
    if not isinstance(extra, Mapping):
        raise ConfigError(f"connection {conn_id}: extra must be a JSON object")
    return dict(extra)
