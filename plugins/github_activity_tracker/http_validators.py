"""ETag/Last-Modified validators written INSIDE the transaction that stores the data they describe.

:class:`core.store.StoreEtagCache` (what the client reads validators from) commits each
``put`` on its own; the tracker instead writes the same ``http_validators`` row in the
page's transaction, so a crash can never leave a remembered ETag without its data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from core.operations.github_ops import GitHubResponse, request_key
from core.store import http_validators, upsert_rows

__all__ = ["remember_in", "tracked"]


def tracked(
    response: GitHubResponse, *, scope: str, path: str, params: Mapping[str, Any] | None
) -> GitHubResponse:
    """An unconditional response, labelled with the cache key a conditional request would use."""
    return dataclasses.replace(response, cache_scope=scope, cache_key=request_key(path, params))


def remember_in(conn: Connection, response: GitHubResponse) -> bool:
    """Store the response's validators in ``conn``'s transaction; ``False`` when it has none."""
    if response.cache_scope is None or response.cache_key is None:
        return False
    if response.etag is None and response.last_modified is None:
        return False
    upsert_rows(
        conn,
        http_validators,
        [
            {
                "scope": response.cache_scope,
                "request_key": response.cache_key,
                "etag": response.etag,
                "last_modified": response.last_modified,
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
        ["scope", "request_key"],
    )
    return True
