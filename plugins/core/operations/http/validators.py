"""Validators (ETag / Last-Modified) remembered between runs for conditional requests.

A cache entry is keyed by a *scope* (e.g. ``github:owner/repo``) and a *request key*
(endpoint path plus normalized query). :class:`core.store.StoreEtagCache` implements the
same protocol on the database; :class:`InMemoryEtagCache` serves tests and one-off runs.
A tracker that stores validators in the transaction of the data they describe uses
``core.store.save_validators`` with :attr:`HttpResponse.cache_scope`/``cache_key``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode

__all__ = ["EtagCache", "InMemoryEtagCache", "request_key"]


@runtime_checkable
class EtagCache(Protocol):
    def get(self, scope: str, request_key: str) -> tuple[str | None, str | None] | None:
        """``(etag, last_modified)`` stored for the request, or ``None``."""
        ...

    def put(self, scope: str, request_key: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators of a response whose data has been persisted."""
        ...


def request_key(path: str, params: Mapping[str, Any] | None = None, query: str = "") -> str:
    """``/path?k=v&...`` with parameters sorted, so equal requests share a key."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
    for key, value in (params or {}).items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs.extend((str(key), _scalar(v)) for v in values)
    pairs.sort()
    encoded = urlencode(pairs)
    return f"{path}?{encoded}" if encoded else path


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class InMemoryEtagCache:
    """Process-local :class:`EtagCache`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, request_key: str) -> tuple[str | None, str | None] | None:
        with self._lock:
            return self._entries.get((scope, request_key))

    def put(self, scope: str, request_key: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock:
            self._entries[(scope, request_key)] = (etag, last_modified)

    def __len__(self) -> int:
        return len(self._entries)
