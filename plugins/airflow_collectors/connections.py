"""Airflow connections -> plain mappings the (Airflow-free) collectors understand."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

__all__ = ["connection_fields", "resolve_connections", "secret_values", "store_url"]

log = logging.getLogger(__name__)


def connection_fields(conn_id: str) -> dict[str, Any] | None:
    """Fields of ``conn_id`` (host, login, password, schema, port, extra), or ``None`` if undefined."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "host": conn.host,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "port": conn.port,
        "extra": conn.extra_dejson,
        "uri": conn.get_uri(),
    }


def resolve_connections(conn_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    resolved: dict[str, dict[str, Any]] = {}
    for conn_id in conn_ids:
        fields = connection_fields(conn_id)
        if fields is not None:
            resolved[conn_id] = fields
    return resolved


def store_url(conn_id: str) -> str | None:
    """URL of the collector store, or ``None`` (embedded SQLite default) when the connection is absent."""
    fields = connection_fields(conn_id)
    if fields is None:
        log.info("Connection %r is not defined: using the embedded SQLite store", conn_id)
        return None
    if fields["conn_type"] in {"sqlite"}:
        return f"sqlite:///{fields['host']}"
    return str(fields["uri"])


_SECRET_EXTRA_KEYS = ("token", "key", "secret", "password", "webhook")


def secret_values(connections: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Literal credential values held by ``connections``, for redaction."""
    values: list[str] = []
    for fields in connections.values():
        if fields.get("password"):
            values.append(str(fields["password"]))
        for key, value in (fields.get("extra") or {}).items():
            if any(marker in key.lower() for marker in _SECRET_EXTRA_KEYS):
                if isinstance(value, str):
                    values.append(value)
                elif isinstance(value, list):
                    values.extend(str(v) for v in value)
    return values
