"""Step 2: open-std.org's mailings. The papers index lists them; each mailing not yet complete
is read from its year page (one conditional GET per year), its rows stored in one transaction
with the mailing's state and the page's validators."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Sequence
from typing import Any

from bs4 import BeautifulSoup
from sqlalchemy import Connection, select, update

from core.errors import CollectorFailureCategory, classify_failure
from core.operations.http import HttpClient, HttpResponse, NotModified
from core.store import upsert_rows
from wg21_paper_tracker.mailing_pages import MailingLink, mailing_links, mailing_sections
from wg21_paper_tracker.rows import MAILING_COLUMNS, mailing_row
from wg21_paper_tracker.run import Wg21Run
from wg21_paper_tracker.tables import wg21_mailings

__all__ = ["is_complete", "read_mailings"]


def _month_end(mailing_id: str) -> dt.datetime:
    year, month = (int(p) for p in mailing_id.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def is_complete(mailing_id: str, paper_count: int, now: dt.datetime, settle_days: int) -> bool:
    """Has papers, and its month ended ``settle_days`` ago: late additions are no longer expected."""
    return paper_count > 0 and now >= _month_end(mailing_id) + dt.timedelta(days=settle_days)


def _get(run: Wg21Run, client: HttpClient, path: str, scope: str) -> HttpResponse | NotModified:
    max_bytes = run.settings.max_page_bytes
    if run.conditional:
        return client.get_if_changed(path, scope=scope, raw=True, max_bytes=max_bytes)
    return client.get_raw(path, max_bytes=max_bytes)


def read_mailings(run: Wg21Run, client: HttpClient, path: str) -> None:
    response = _get(run, client, path, "wg21:papers")
    if isinstance(response, NotModified):
        run.counts["mailing_index_not_modified"] += 1
    else:
        first_year = run.settings.first_year
        links = [m for m in mailing_links(response.data, response.url) if int(m.mailing_id[:4]) >= first_year]
        run.counts["mailings_listed"] = len(links)
        with run.store.transaction() as conn:
            _list(conn, links, run.now())
            run.remember(conn, response)
    query = select(wg21_mailings).order_by(wg21_mailings.c.mailing_id)
    if run.conditional:  # a full refresh reads every mailing again
        query = query.where(wg21_mailings.c.complete.is_(False))
    with run.store.engine.connect() as conn:
        pending = [dict(r) for r in conn.execute(query).mappings()]
    by_page: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for mailing in pending:
        by_page[mailing["year_page_url"]].append(mailing)
    for url, mailings in sorted(by_page.items()):
        try:
            _read_year_page(run, client, url, mailings)
        except Exception as exc:
            if classify_failure(exc) is CollectorFailureCategory.RATE_LIMIT:
                raise  # the site asks us to stop: the next years wait for the retry
            run.fail(f"year page {url}", exc)  # the other years go on; the run fails at the end
            run.counts["year_pages_failed"] += 1


def _list(conn: Connection, links: Sequence[MailingLink], now: dt.datetime) -> None:
    rows = [
        {"mailing_id": m.mailing_id, "title": m.title[:500], "year_page_url": m.year_page, "paper_count": 0,
         "complete": False, "first_seen_at": now, "last_parsed_at": now}
        for m in links
    ]  # fmt: skip
    changed = ["title", "year_page_url"]
    upsert_rows(conn, wg21_mailings, rows, ["mailing_id"], update_columns=changed, only_if_changed=changed)


def _read_year_page(run: Wg21Run, client: HttpClient, url: str, mailings: list[dict[str, Any]]) -> None:
    response = _get(run, client, url, "wg21:year")
    now = run.now()
    settle = run.settings.mailing_settle_days
    if isinstance(response, NotModified):  # unchanged; a mailing may have settled meanwhile
        run.counts["year_pages_not_modified"] += 1
        settled = [
            m["mailing_id"] for m in mailings if is_complete(m["mailing_id"], m["paper_count"], now, settle)
        ]
        if settled:
            with run.store.transaction() as conn:
                conn.execute(
                    update(wg21_mailings).where(wg21_mailings.c.mailing_id.in_(settled)).values(complete=True)
                )
        return
    run.counts["year_pages"] += 1
    soup = BeautifulSoup(response.data, "html.parser")
    sections = mailing_sections(soup, response.url, [m["mailing_id"] for m in mailings])
    rows = [mailing_row(r, s.mailing_id, now) for s in sections.values() if s is not None for r in s.rows]
    rejected = [line for s in sections.values() if s is not None for line in s.rejected]
    run.errors += rejected
    run.counts["mailing_rows"] += len(rows)
    run.counts["mailing_rows_rejected"] += len(rejected)
    with run.store.transaction() as conn:
        run.store_documents(conn, rows, MAILING_COLUMNS, "mailing_hash")
        for mailing_id, section in sections.items():
            count = len(section.rows) if section is not None else 0
            conn.execute(
                update(wg21_mailings)
                .where(wg21_mailings.c.mailing_id == mailing_id)
                .values(
                    paper_count=count,
                    complete=is_complete(mailing_id, count, now, settle),
                    last_parsed_at=now,
                )
            )
            run.counts["mailings_parsed"] += section is not None
        if not rejected:  # a rejected row is read again next run
            run.remember(conn, response)
        with_papers = [m for m, s in sections.items() if s is not None and s.rows]
        newest = max([*with_papers, str(run.state.get("newest_mailing") or "")])
        run.save_state(conn, newest_mailing=newest or None)
