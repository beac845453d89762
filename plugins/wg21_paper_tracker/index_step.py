"""Step 1: the wg21.link index, one conditional GET, every entry upserted in one transaction."""

from __future__ import annotations

import orjson

from core.errors import DataValidationError
from core.operations.http import HttpClient, NotModified
from wg21_paper_tracker.api_schemas import parse_index
from wg21_paper_tracker.rows import INDEX_COLUMNS, index_row
from wg21_paper_tracker.run import Wg21Run

__all__ = ["read_index"]

SCOPE = "wg21:index"


def read_index(run: Wg21Run, client: HttpClient, path: str) -> None:
    max_bytes = run.settings.max_index_bytes
    if run.conditional:
        response = client.get_if_changed(path, scope=SCOPE, raw=True, max_bytes=max_bytes)
    else:
        response = client.get_raw(path, max_bytes=max_bytes)
    if isinstance(response, NotModified):
        run.counts["index_not_modified"] += 1
        return
    try:
        data = orjson.loads(response.data)
    except orjson.JSONDecodeError as exc:
        raise DataValidationError(f"the index is not JSON ({exc})", source=response.endpoint) from None
    parsed = parse_index(data, source=response.endpoint)
    del data
    now = run.now()
    rows = [index_row(doc, entry, now) for doc, entry in parsed.entries]
    run.counts.update(
        index_entries=len(rows), index_rejected=len(parsed.rejected), index_aliases=parsed.aliases
    )
    run.errors += [f"index: {line}" for line in parsed.rejected]
    with run.store.transaction() as conn:
        run.store_documents(conn, rows, INDEX_COLUMNS, "index_hash")
        if not parsed.rejected:  # a rejected entry is read again next run, not hidden behind a 304
            run.remember(conn, response)
        run.save_state(conn, index_entries=len(rows), index_etag=response.etag)
