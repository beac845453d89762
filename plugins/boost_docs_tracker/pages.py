"""A release's pages into the store: one transaction per batch of pages (their contents,
deduplicated by hash across releases, and their rows), then one for the release itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, select

from boost_docs_tracker.archive import DocFile
from boost_docs_tracker.extract import Page
from boost_docs_tracker.tables import boost_doc_contents as contents
from boost_docs_tracker.tables import boost_doc_pages as pages
from boost_docs_tracker.tables import boost_doc_releases as releases
from boost_docs_tracker.versions import sort_key, url_version
from core.store.upsert import upsert_rows

__all__ = ["ConvertedPage", "finish_release", "version_order", "write_pages"]

DELETE_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class ConvertedPage:
    file: DocFile
    page: Page

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.page.markdown.encode()).hexdigest()


def version_order(version: str) -> int:
    major, minor, patch = sort_key(version)
    return major * 1_000_000 + minor * 1_000 + patch


def _later(a: str, b: str) -> str:
    return a if sort_key(a) >= sort_key(b) else b


def _earlier(a: str, b: str) -> str:
    return a if sort_key(a) <= sort_key(b) else b


def write_pages(conn: Connection, version: str, batch: Sequence[ConvertedPage], docs_url: str) -> None:
    by_hash = {p.content_hash: p for p in batch}
    known = {
        row.content_hash: row
        for row in conn.execute(
            select(contents.c.content_hash, contents.c.first_version, contents.c.last_version).where(
                contents.c.content_hash.in_(list(by_hash))
            )
        )
    }
    content_rows = []
    for digest, converted in by_hash.items():
        seen = known.get(digest)
        content_rows.append(
            {
                "content_hash": digest,
                "markdown": converted.page.markdown,
                "first_version": _earlier(seen.first_version, version) if seen else version,
                "last_version": _later(seen.last_version, version) if seen else version,
            }
        )
    upsert_rows(
        conn, contents, content_rows, ["content_hash"],
        update_columns=["first_version", "last_version"], only_if_changed=["first_version", "last_version"],
    )  # fmt: skip
    page_rows = [
        {
            "version": version,
            "path": p.file.path,
            "library_key": p.file.library_key,
            "doc_id": p.file.doc_id,
            "toolchain": p.page.toolchain,
            "title": p.page.title,
            "headings": json.dumps(p.page.headings, ensure_ascii=False),
            "content_hash": p.content_hash,
            "bytes": p.file.size,
            "url": f"{docs_url.rstrip('/')}/{url_version(version)}/{p.file.path}",
        }
        for p in batch
    ]
    changed = ["library_key", "doc_id", "toolchain", "title", "headings", "content_hash", "bytes", "url"]
    upsert_rows(conn, pages, page_rows, ["version", "path"], only_if_changed=changed)


def finish_release(
    conn: Connection,
    version: str,
    seen_paths: set[str],
    *,
    archive_url: str,
    etag: str | None,
    archive_bytes: int,
    pages_failed: int,
    now: dt.datetime,
) -> int:
    """Pages of ``version`` the archive no longer has are deleted, and the release is recorded
    as indexed (the checkpoint), in the caller's transaction. Returns the pages deleted."""
    stored: Iterable[str] = conn.execute(select(pages.c.path).where(pages.c.version == version)).scalars()
    gone = [path for path in stored if path not in seen_paths]
    for start in range(0, len(gone), DELETE_CHUNK):
        chunk = gone[start : start + DELETE_CHUNK]
        conn.execute(delete(pages).where(pages.c.version == version, pages.c.path.in_(chunk)))
    row = {
        "version": version,
        "version_order": version_order(version),
        "archive_url": archive_url,
        "etag": etag,
        "archive_bytes": archive_bytes,
        "pages": len(seen_paths),
        "pages_failed": pages_failed,
        "indexed_at": now,
    }
    upsert_rows(conn, releases, [row], ["version"])
    return len(gone)
