"""ETag/Last-Modified validators written INSIDE the transaction that stores the data they describe.

:class:`core.store.StoreEtagCache` (what the client reads validators from) commits each
``put`` on its own; the tracker instead writes them in the page's transaction
(``core.streams.Checkpointer.commit(remember=...)``), so a crash can never leave a
remembered ETag without its data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from core.operations.github_ops import GitHubResponse, request_key
from core.streams import save_response_validators

__all__ = ["remember_in", "tracked"]


def tracked(
    response: GitHubResponse, *, scope: str, path: str, params: Mapping[str, Any] | None
) -> GitHubResponse:
    """An unconditional response, labelled with the cache key a conditional request would use."""
    return dataclasses.replace(response, cache_scope=scope, cache_key=request_key(path, params))


remember_in = save_response_validators
"""Store the response's validators in ``conn``'s transaction; ``False`` when it has none."""
