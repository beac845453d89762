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

__all__ = [
    "EMBEDDED_ENV",
    "STORE_URL_IGNORED_EXTRAS",
    "connection_extra",
    "connection_from_env",
    "embedded_mode",
    "missing_store_connection",
    "store_url_from_connection",
]


#: Environment switch for the embedded store (a SQLite file under ``$COLLECTOR_STATE_DIR``):
#: set by ``scripts/env.sh`` (the local demo and test environment), never by the image.
EMBEDDED_ENV = "COLLECTOR_EMBEDDED"


def embedded_mode() -> bool:
    """Whether ``$COLLECTOR_EMBEDDED`` explicitly allows the embedded SQLite store."""
    return os.environ.get(EMBEDDED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def missing_store_connection(conn_id: str) -> ConfigError:
    """The error for an undefined store connection outside the embedded mode."""
    return ConfigError(
        f"connection {conn_id!r} (the collector store) is not defined: define it "
        f"(AIRFLOW_CONN_{conn_id.upper()}, the UI, or a secrets backend), or set {EMBEDDED_ENV}=1 "
        "to use the embedded SQLite store of this machine (demo and local runs only)"
    )


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


#: Extras of a Postgres connection that are not libpq options: the Postgres provider's hook
#: reads them itself (cursor factory, IAM/Redshift/Azure token minting, its SQLAlchemy
#: scheme and query) and never hands them to the server. Passing them on as URL query
#: parameters made libpq refuse the connection (``invalid dsn: invalid connection option``).
STORE_URL_IGNORED_EXTRAS = frozenset(
    {
        "cursor",
        "iam",
        "redshift",
        "redshift-serverless",
        "cluster-identifier",
        "workgroup-name",
        "aws_conn_id",
        "azure_conn_id",
        "sqlalchemy_scheme",
        "sqlalchemy_query",
        "enable_log_db_messages",
        "__extra__",
    }
)


def store_url_from_connection(fields: Mapping[str, Any], conn_id: str) -> str:
    """SQLAlchemy URL of the collector store from a connection's fields.

    The one translation used by tasks (fields from Airflow's connection sources) and by the
    console (fields from ``$AIRFLOW_CONN_<ID>``, or Airflow's sources through
    ``python -m airflow_collectors.cli``). Built from the parts, so a password with ``@``,
    ``/`` or ``:`` is encoded once and correctly; every scalar extra that is a libpq option
    (``sslmode``, ``connect_timeout``, ``statement_timeout``, ``options``...) becomes a query
    parameter, the provider's own keys (:data:`STORE_URL_IGNORED_EXTRAS`) are dropped, and
    ``sqlalchemy_scheme`` / ``sqlalchemy_query`` are honoured as the Postgres provider does.
    """
    conn_type = str(fields.get("conn_type") or "postgres").lower()
    extra = connection_extra(fields, conn_id)
    if conn_type == "sqlite":
        return f"sqlite:///{fields.get('host') or fields.get('schema') or ''}"
    if conn_type not in {"postgres", "postgresql"}:
        raise ConfigError(
            f"connection {conn_id!r} (the collector store) has type {conn_type!r}: use postgres (or sqlite)"
        )
    scheme = str(extra.get("sqlalchemy_scheme") or "postgresql+psycopg2")
    if scheme != "postgresql" and not scheme.startswith("postgresql+"):
        raise ConfigError(
            f"connection {conn_id!r}: extra sqlalchemy_scheme must be postgresql or postgresql+<driver>"
        )
    query: dict[str, str] = {}
    for key, value in extra.items():
        if key in STORE_URL_IGNORED_EXTRAS:
            continue
        if isinstance(value, bool):
            query[key] = "1" if value else "0"
        elif isinstance(value, (str, int, float)):
            query[key] = str(value)
    sqlalchemy_query = extra.get("sqlalchemy_query") or {}
    if not isinstance(sqlalchemy_query, Mapping):
        raise ConfigError(f"connection {conn_id!r}: extra sqlalchemy_query must be a JSON object")
    query.update({str(k): str(v) for k, v in sqlalchemy_query.items()})
    port = fields.get("port")
    try:
        port_number = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise ConfigError(f"connection {conn_id!r}: port must be a number") from None
    from sqlalchemy.engine import URL  # here: reading a connection must not import SQLAlchemy

    url = URL.create(
        drivername=scheme,
        username=str(fields["login"]) if fields.get("login") else None,
        password=str(fields["password"]) if fields.get("password") else None,
        host=str(fields["host"]) if fields.get("host") else None,
        port=port_number,
        database=str(fields["schema"]) if fields.get("schema") else None,
        query=query,
    )
    return url.render_as_string(hide_password=False)
