"""Rows of ``wg21_documents`` from an index entry or a mailing-table row."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from wg21_paper_tracker.api_schemas import IndexEntry
from wg21_paper_tracker.fields import DocId, parse_date, parse_doc_id, split_authors, subgroups_of
from wg21_paper_tracker.mailing_pages import MailingRow

__all__ = ["INDEX_COLUMNS", "MAILING_COLUMNS", "index_row", "mailing_row"]

INDEX_COLUMNS = (
    "type", "title", "authors", "document_date", "date_raw", "subgroups", "subgroup_raw",
    "link", "long_link", "github_url", "index_hash", "updated_at",
)  # fmt: skip
MAILING_COLUMNS = (
    "mailing_id", "mailing_title", "mailing_authors", "mailing_date", "mailing_subgroup",
    "previous_version", "disposition", "file_urls", "mailing_hash", "updated_at",
)  # fmt: skip


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _identity(doc: DocId) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "paper": doc.paper, "prefix": doc.prefix, "revision": doc.revision}


def index_row(doc: DocId, entry: IndexEntry, now: dt.datetime) -> dict[str, Any]:
    return {
        **_identity(doc),
        "type": entry.type,
        "title": entry.title,
        "authors": split_authors(entry.author),
        "document_date": parse_date(entry.date),
        "date_raw": (entry.date or "")[:64] or None,
        "subgroups": subgroups_of(entry.subgroup),
        "subgroup_raw": entry.subgroup,
        "link": entry.link,
        "long_link": entry.long_link,
        "github_url": entry.github_url,
        "index_hash": _hash(entry.model_dump()),
        "first_seen_at": now,
        "updated_at": now,
    }


def mailing_row(row: MailingRow, mailing_id: str, now: dt.datetime) -> dict[str, Any]:
    previous = parse_doc_id(row.previous)
    values: dict[str, Any] = {
        "mailing_id": mailing_id,
        "mailing_title": row.title or None,
        "mailing_authors": split_authors(row.author),
        "mailing_date": parse_date(row.date),
        "mailing_subgroup": row.subgroup or None,
        "previous_version": previous.doc_id if previous is not None else None,
        "disposition": row.disposition or None,
        "file_urls": list(row.files),
    }
    return {
        **_identity(row.doc),
        **values,
        "mailing_hash": _hash(values),
        "first_seen_at": now,
        "updated_at": now,
    }
