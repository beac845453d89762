"""Step 3 (optional): paper files fetched within caps and converted to text, one row each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_, select

from core.errors import CollectorFailureCategory, RateLimitError, classify_failure, sanitize_exception_message
from core.operations.http import HttpClient
from core.store import upsert_rows
from wg21_paper_tracker.config import origin_of
from wg21_paper_tracker.paper_text import file_format, to_text
from wg21_paper_tracker.run import Wg21Run
from wg21_paper_tracker.tables import wg21_document_files, wg21_documents

__all__ = ["download_papers"]

_CONVERTIBLE = ("html", "pdf", "txt", "md", "adoc")
_NOT_RETRIED = (CollectorFailureCategory.VALIDATION, CollectorFailureCategory.PERMISSION)


def _candidates(run: Wg21Run) -> list[Any]:
    """Papers without converted text whose attempts are not used up, newest first."""
    settings = run.settings.download
    docs, files = wg21_documents.c, wg21_document_files.c
    query = (
        select(docs.doc_id, docs.long_link, docs.file_urls, files.attempts)
        .select_from(wg21_documents.outerjoin(wg21_document_files, files.doc_id == docs.doc_id))
        .where(
            docs.prefix.in_(("P", "N")),
            or_(files.doc_id.is_(None), and_(files.text.is_(None), files.attempts < settings.max_attempts)),
        )
        .order_by(docs.document_date.desc().nulls_last(), docs.doc_id.desc())
        .limit(settings.max_per_run * 4)  # some are skipped (no file from an allowed origin)
    )
    with run.store.engine.connect() as conn:
        return list(conn.execute(query).all())


def download_papers(run: Wg21Run, client_for: Callable[[str], HttpClient]) -> None:
    """``client_for(origin)``: the HTTP client for an allowed origin (made once per origin)."""
    settings = run.settings.download
    allowed = {origin_of(run.settings.site_url), *settings.origins}
    fetched = 0
    for doc_id, long_link, file_urls, attempts in _candidates(run):
        if fetched >= settings.max_per_run:
            break
        urls = [*(file_urls or []), *([long_link] if long_link else [])]
        url = next((u for u in urls if origin_of(u) in allowed and file_format(u) in _CONVERTIBLE), None)
        if url is None:
            run.counts["downloads_skipped"] += 1
            continue
        fetched += 1
        try:
            _download(run, client_for(origin_of(url)), doc_id, url, attempts or 0)
        except RateLimitError as exc:  # the host asks us to stop: the rest waits for the next run
            run.errors.append(f"downloads stopped: {sanitize_exception_message(exc)}")
            run.counts["downloads_rate_limited"] += 1
            return


def _download(run: Wg21Run, client: HttpClient, doc_id: str, url: str, attempts: int) -> None:
    settings = run.settings.download
    row: dict[str, Any] = {
        "doc_id": doc_id, "url": url, "format": file_format(url), "attempts": attempts + 1,
        "downloaded_at": run.now(), "text": None, "converter": None, "pages": None,
    }  # fmt: skip
    try:
        response = client.get_raw(url, max_bytes=settings.max_bytes)
        data: bytes = response.data
        fmt = file_format(url, response.headers.get("Content-Type"))
        row.update(format=fmt, http_status=response.status, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   etag=response.etag, last_modified=response.last_modified)  # fmt: skip
        text = to_text(
            data,
            fmt,
            max_pages=settings.max_pages,
            max_chars=settings.max_text_chars,
            source=f"{doc_id} {url}",
        )
        row.update(
            text=text.text, converter=text.converter, pages=text.pages, error=None, error_category=None
        )
        run.counts["downloads"] += 1
    except RateLimitError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the others; kept on its row
        category = classify_failure(exc)
        if category in _NOT_RETRIED:
            row["attempts"] = settings.max_attempts  # the same file fails the same way again
        row.update(error=sanitize_exception_message(exc)[:2000], error_category=category.value)
        run.counts["downloads_failed"] += 1
        run.errors.append(f"download {doc_id}: {row['error'][:300]}")
    with run.store.transaction() as conn:
        upsert_rows(conn, wg21_document_files, [row], ["doc_id"])
