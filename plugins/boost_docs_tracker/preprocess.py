"""Documents for the vector step: the pages of the latest indexed release only, with ids that
do not depend on the release (``<library>/<path>``), so a new release replaces the content of
its pages and the pages it no longer has are removed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, except_, select

from boost_docs_tracker.tables import boost_doc_contents as contents
from boost_docs_tracker.tables import boost_doc_pages as pages
from boost_docs_tracker.tables import boost_doc_releases as releases
from core.store import as_utc
from core.vectors.documents import Document

__all__ = ["SOURCE", "documents", "removed_doc_ids"]

SOURCE = "boost_docs"


def _latest(conn: Connection) -> tuple[str, int, object] | None:
    row = conn.execute(
        select(releases.c.version, releases.c.change_seq, releases.c.indexed_at)
        .order_by(releases.c.version_order.desc())
        .limit(1)
    ).first()
    return (row.version, row.change_seq, row.indexed_at) if row is not None else None


def documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    wanted = list(doc_ids)
    with engine.connect() as conn:
        latest = _latest(conn)
        if latest is None:
            return
        version, release_seq, indexed_at = latest
        query = (
            select(pages, contents.c.markdown)
            .join(contents, contents.c.content_hash == pages.c.content_hash)
            .where(pages.c.version == version)
            .order_by(pages.c.doc_id)
        )
        if changed_since is not None and release_seq < changed_since:  # the same latest release as before
            query = query.where((pages.c.change_seq >= changed_since) | pages.c.doc_id.in_(wanted))
        for row in conn.execute(query).mappings():
            headings = [str(h) for h in json.loads(row["headings"])]
            yield Document(
                source=SOURCE,
                doc_id=row["doc_id"],
                title=row["title"],
                text=(f"# {row['title']}\n\n" if row["title"] not in ("", *headings[:1]) else "")
                + row["markdown"],
                updated_at=as_utc(indexed_at),  # type: ignore[arg-type]
                metadata={
                    "library": row["library_key"],
                    "version": version,
                    "url": row["url"],
                    "headings": headings,
                    "toolchain": row["toolchain"],
                },
            )


def removed_doc_ids(engine: Engine, changed_since: int | None) -> list[str]:
    """Pages of earlier releases that the latest one does not have (checked when the latest
    release changed since the horizon)."""
    with engine.connect() as conn:
        latest = _latest(conn)
        if latest is None:
            return []
        version, release_seq, _ = latest
        if changed_since is not None and release_seq < changed_since:
            return []
        gone = except_(
            select(pages.c.doc_id).where(pages.c.version != version),
            select(pages.c.doc_id).where(pages.c.version == version),
        )
        return sorted(conn.execute(gone).scalars())
