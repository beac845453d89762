"""ETag/Last-Modified validators written INSIDE the transaction that stores the data they describe.

:class:`core.store.StoreEtagCache` (what the client reads validators from) commits each
``put`` on its own; the tracker instead writes them with ``core.store.save_validators`` in
the page's transaction, so a crash can never leave a remembered ETag without its data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from core.operations.github_ops import GitHubResponse, request_key
from core.store import save_validators

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
    save_validators(conn, response.cache_scope, response.cache_key, response.etag, response.last_modified)
    return True
