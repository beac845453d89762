"""Airflow connections -> plain mappings the (Airflow-free) collectors understand."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy.engine import make_url

from core.errors import ConfigError

__all__ = [
    "EMBEDDED_ENV",
    "connection_fields",
    "embedded_mode",
    "resolve_connections",
    "secret_values",
    "store_url",
]

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


#: Environment switch for the embedded store (a SQLite file under ``$COLLECTOR_STATE_DIR``):
#: set by ``scripts/env.sh`` (the local demo and test environment), never by the image.
EMBEDDED_ENV = "COLLECTOR_EMBEDDED"


def embedded_mode() -> bool:
    """Whether ``$COLLECTOR_EMBEDDED`` explicitly allows the embedded SQLite store."""
    return os.environ.get(EMBEDDED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def store_url(conn_id: str) -> str | None:
    """URL of the collector store; ``None`` (embedded SQLite) only in the embedded mode.

    A missing connection outside the embedded mode is a ``validation`` failure naming the
    connection: on a cluster each worker would otherwise write its own SQLite file.
    """
    fields = connection_fields(conn_id)
    if fields is None:
        if embedded_mode():
            log.info(
                "Connection %r is not defined: using the embedded SQLite store (%s=1)", conn_id, EMBEDDED_ENV
            )
            return None
        raise ConfigError(
            f"connection {conn_id!r} (the collector store) is not defined: define it "
            f"(AIRFLOW_CONN_{conn_id.upper()}, the UI, or a secrets backend), or set {EMBEDDED_ENV}=1 "
            "to use the embedded SQLite store of this machine (demo and local runs only)"
        )
    if fields["conn_type"] in {"sqlite"}:
        return f"sqlite:///{fields['host']}"
    uri = str(fields["uri"])
    extra = fields.get("extra") or {}
    if not extra:
        return uri
    # Airflow renders non-string extras as one ``__extra__`` JSON blob that libpq refuses:
    # every scalar extra (``connect_timeout``, ``statement_timeout``, ``sslmode``...) becomes
    # a query parameter of its own.
    url = make_url(uri)
    query = {key: value for key, value in url.query.items() if key != "__extra__"}
    for key, value in extra.items():
        if isinstance(value, bool):
            query[key] = "1" if value else "0"
        elif isinstance(value, (str, int, float)):
            query[key] = str(value)
    return url.set(query=query).render_as_string(hide_password=False)


# Extra keys whose values are credentials: a key containing any of these (case-insensitive,
# after turning non-word characters into ``_``). Covers Airflow's own sensitive field names
# (``DEFAULT_SENSITIVE_FIELDS``: api_key, private_key, passphrase, authorization, dsn, ...).
_SECRET_EXTRA_KEYS = (
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "webhook",
    "auth",
    "bearer",
    "credential",
    "connection_string",
    "dsn",
    "proxy",
    "proxies",
    "service_account",
)


def _is_secret_key(key: object) -> bool:
    normalized = re.sub(r"\W+", "_", str(key).strip().lower())
    return any(marker in normalized for marker in _SECRET_EXTRA_KEYS)


def _string_leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _string_leaves(item)


def _secret_leaves(extra: Any) -> Iterable[str]:
    """String values under secret-named keys, at any depth of a connection's extra."""
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            if _is_secret_key(key):
                yield from _string_leaves(value)
            else:
                yield from _secret_leaves(value)
    elif isinstance(extra, (list, tuple)):
        for item in extra:
            yield from _secret_leaves(item)


def secret_values(connections: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Literal credential values held by ``connections``, for redaction.

    The password (also in its URL-encoded form, as it appears in the connection URI) and
    every value under a secret-named key of the extra, nested or not. Redaction hides these
    and any echoed prefix of 8+ characters of them (:func:`core.errors.sanitize_text`).
    """
    values: list[str] = []
    for fields in connections.values():
        password = fields.get("password")
        if password:
            values.append(str(password))
            encoded = quote(str(password), safe="")
            if encoded != str(password):
                values.append(encoded)
        values.extend(_secret_leaves(fields.get("extra") or {}))
    return list(dict.fromkeys(v for v in values if v))
