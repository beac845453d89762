"""Documents for the vector step: one per paper revision (``P2300R10``), with its text when
downloaded. Revisions of one paper are linked through ``paper`` and ``revisions`` metadata."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, select, union

from core.store import as_utc
from core.vectors.documents import Document
from wg21_paper_tracker.tables import wg21_document_files as files
from wg21_paper_tracker.tables import wg21_documents as docs

__all__ = ["SOURCE", "documents"]

SOURCE = "wg21"
_PAPER_PREFIXES = ("P", "N")
_BATCH = 500


def _date(row: Mapping[Any, Any]) -> dt.date | None:
    return row["document_date"] or row["mailing_date"]


def _document(row: Mapping[Any, Any], text: str | None, revisions: list[str]) -> Document:
    title = row["title"] or row["mailing_title"] or row["doc_id"]
    authors = list(row["authors"] or row["mailing_authors"] or [])
    subgroups = list(row["subgroups"] or [])
    date = _date(row)
    subgroup = row["subgroup_raw"] or row["mailing_subgroup"]
    url = row["long_link"] or next(iter(row["file_urls"] or []), None) or row["link"] or ""
    lines = [
        f"# {row['doc_id']}: {title}",
        f"Authors: {', '.join(authors)}" if authors else "",
        f"Date: {date.isoformat()}" if date else "",
        f"Subgroup: {subgroup}" if subgroup else "",
        f"Mailing: {row['mailing_id']}" if row["mailing_id"] else "",
        f"Previous version: {row['previous_version']}" if row["previous_version"] else "",
        f"Disposition: {row['disposition']}" if row["disposition"] else "",
        f"URL: {url}" if url else "",
        "",
        text or "",
    ]
    metadata: dict[str, Any] = {
        "doc_id": row["doc_id"],
        "paper": row["paper"],
        "number": int(str(row["paper"])[len(str(row["prefix"])) :] or 0),
        "revision": row["revision"] if row["revision"] is not None else -1,
        "revisions": revisions,
        "authors": authors,
        "subgroups": subgroups,
        "date": date.isoformat() if date else "",
        "mailing": row["mailing_id"] or "",
        "url": url,
        "github_url": row["github_url"] or "",
        "has_text": bool(text),
    }
    return Document(
        source=SOURCE,
        doc_id=row["doc_id"],
        title=str(title)[:500],
        text="\n".join(line for line in lines if line is not None).strip(),
        updated_at=as_utc(row["updated_at"]),
        metadata=metadata,
    )


def documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    """Papers whose row, or whose downloaded text, changed since the horizon (all when None), plus ``doc_ids``."""
    wanted = [d for d in doc_ids if d]
    query = select(docs).where(docs.c.prefix.in_(_PAPER_PREFIXES)).order_by(docs.c.doc_id)
    if changed_since is not None:
        changed = union(
            select(docs.c.doc_id).where(docs.c.change_seq >= changed_since),
            select(files.c.doc_id).where(files.c.change_seq >= changed_since),
        )
        query = query.where(docs.c.doc_id.in_(changed) | docs.c.doc_id.in_(wanted))
    with engine.connect() as conn:
        rows = conn.execute(query.execution_options(yield_per=_BATCH)).mappings()
        for batch in rows.partitions(_BATCH):
            papers = sorted({r["paper"] for r in batch})
            siblings: dict[str, list[str]] = collections.defaultdict(list)
            for paper, doc_id in conn.execute(
                select(docs.c.paper, docs.c.doc_id).where(docs.c.paper.in_(papers)).order_by(docs.c.revision)
            ):
                siblings[paper].append(doc_id)
            texts = dict(
                conn.execute(
                    select(files.c.doc_id, files.c.text).where(
                        files.c.doc_id.in_([r["doc_id"] for r in batch]), files.c.text.is_not(None)
                    )
                ).all()
            )
            for row in batch:
                yield _document(row, texts.get(row["doc_id"]), siblings[row["paper"]])
