"""Airflow connections -> plain mappings the (Airflow-free) collectors understand."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from core.connections import EMBEDDED_ENV, embedded_mode, missing_store_connection, store_url_from_connection

__all__ = [
    "EMBEDDED_ENV",
    "connection_fields",
    "embedded_mode",
    "fields_of",
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
    return fields_of(conn)


def fields_of(conn: Any) -> dict[str, Any]:
    """The plain fields of an Airflow connection object (SDK or core model)."""
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
        raise missing_store_connection(conn_id)
    return store_url_from_connection(fields, conn_id)


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
