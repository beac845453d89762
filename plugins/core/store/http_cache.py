"""Store-backed HTTP validators (ETag / Last-Modified) for conditional requests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, select

from core.store.schema import http_validators
from core.store.upsert import upsert_rows

__all__ = ["StoreEtagCache", "save_validators"]


def save_validators(
    conn: Connection, scope: str, request_key: str, etag: str | None, last_modified: str | None
) -> None:
    """Write validators in ``conn``'s transaction: call it in the one that stores the data they
    describe, so a crash never leaves a remembered ETag without its data."""
    upsert_rows(
        conn,
        http_validators,
        [
            {
                "scope": scope,
                "request_key": request_key,
                "etag": etag,
                "last_modified": last_modified,
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
        ["scope", "request_key"],
    )


class StoreEtagCache:
    """``get``/``put`` validators per (scope, request key); survives between runs."""

    def __init__(self, engine: Engine, scope_prefix: str = "") -> None:
        self._engine = engine
        self._prefix = scope_prefix

    def get(self, scope: str, request_key: str) -> tuple[str | None, str | None] | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(http_validators.c.etag, http_validators.c.last_modified).where(
                    http_validators.c.scope == self._prefix + scope,
                    http_validators.c.request_key == request_key,
                )
            ).first()
        return None if row is None else (row[0], row[1])

    def put(self, scope: str, request_key: str, etag: str | None, last_modified: str | None) -> None:
        with self._engine.begin() as conn:
            save_validators(conn, self._prefix + scope, request_key, etag, last_modified)
