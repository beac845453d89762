"""``Wg21Collector``: the wg21.link index, the open-std.org mailing pages, paper text, and a
GitHub dispatch per new paper through the framework's outbox.

One collect run: (1) the index, conditionally (a 304 costs nothing); (2) the mailings not yet
complete, one year page per year, conditionally; (3) optional paper downloads within caps;
(4) delivery of every pending dispatch. Rows and the outbox items they cause commit together,
so a crash anywhere neither loses nor doubles a dispatch (see docs/wg21.md).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from bs4 import BeautifulSoup
from sqlalchemy import Connection, and_, or_, select, update

from core.collectors import AbstractCollector
from core.errors import (
    CollectorFailureCategory,
    DataValidationError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    worst_category,
)
from core.operations.http import HttpClient, HttpClientConfig, HttpResponse, NotModified
from core.protocols import Checkpoint
from core.store import StoreEtagCache, upsert_rows
from core.store.checkpoints import load_checkpoint, save_checkpoint
from core.store.http_cache import save_validators
from core.store.outbox import deliver, enqueue
from core.vectors.documents import Document
from wg21_paper_tracker.api_schemas import parse_index
from wg21_paper_tracker.config import Wg21Config, dispatch_token, origin_of, split_url
from wg21_paper_tracker.dispatch import OUTBOX_KIND, DispatchSender
from wg21_paper_tracker.mailing_pages import MailingLink, mailing_links, mailing_section
from wg21_paper_tracker.paper_text import file_format, to_text
from wg21_paper_tracker.preprocess import documents
from wg21_paper_tracker.protocol_impl import Wg21CollectResult
from wg21_paper_tracker.rows import INDEX_COLUMNS, MAILING_COLUMNS, index_row, mailing_row
from wg21_paper_tracker.tables import MIGRATIONS, wg21_document_files, wg21_documents, wg21_mailings

__all__ = ["Wg21Collector"]

_KEYS_PER_QUERY = 900
_ERRORS_KEPT = 50
_NEWS_KEPT = 50
_CONVERTIBLE = ("html", "pdf", "txt", "md", "adoc")


def _chunks(values: Sequence[str], size: int = _KEYS_PER_QUERY) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _month_end(mailing_id: str) -> dt.datetime:
    year, month = (int(p) for p in mailing_id.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


class Wg21Collector(AbstractCollector):
    name = "wg21"
    vector_source = "wg21"
    migrations = MIGRATIONS

    settings: Wg21Config
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    # ------------------------------------------------------------------ set-up

    def validate_config(self) -> None:
        self.settings = Wg21Config.parse(self.raw_config)
        self.token = ""
        if self.settings.dispatch.enabled:
            connection = self.context.connection(self.settings.dispatch.connection_id)
            self.token = dispatch_token(connection, self.settings.dispatch)

    def secrets(self) -> list[str]:
        return [self.token] if getattr(self, "token", "") else []

    def client(self, origin: str, api_name: str) -> HttpClient:
        config = HttpClientConfig(
            base_url=origin,
            api_name=api_name,
            logger="wg21_paper_tracker",
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
        )
        return HttpClient(
            config, etag_cache=StoreEtagCache(self.store.engine), clock=self.clock, sleep=self.sleep
        )

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # ------------------------------------------------------------------ collect

    def collect(self) -> Wg21CollectResult:
        ctx = self.context
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []
        self.failures: list[BaseException] = []
        self.new_papers: list[str] = []
        self.conditional = not ctx.full_refresh and not ctx.bounded
        with self.store.engine.connect() as conn:
            stored = load_checkpoint(conn, self.name)
        self.state: dict[str, Any] = dict(stored.extras) if stored is not None else {}
        baseline = stored is not None or self.settings.notify_first_run
        self.notify = self.settings.dispatch.enabled and baseline and not ctx.bounded
        with ExitStack() as stack:
            index_origin, index_path = split_url(self.settings.index_url)
            index_client = stack.enter_context(self.client(index_origin, "wg21.link index"))
            self._index_step(index_client, index_path)
            site_origin, site_path = split_url(self.settings.site_url)
            site_client = stack.enter_context(self.client(site_origin, "open-std.org"))
            if self.settings.mailings:
                self._mailing_step(site_client, site_path)
            if self.settings.download.enabled:
                self._download_step(stack, {site_origin.lower(): site_client})
            for client in (index_client, site_client):
                self.counts.update(client.stats.counts("http_"))
        if self.settings.dispatch.enabled:
            self._dispatch_step()
        if self.failures:
            raise self._combined_failure()
        return Wg21CollectResult(
            success=True,
            counts=dict(self.counts),
            errors=tuple(self.errors[:_ERRORS_KEPT]),
            news={"papers": self.new_papers[:_NEWS_KEPT]} if self.new_papers else None,
        )

    def _combined_failure(self) -> BaseException:
        """The run's failures as one error of the worst category (all rows already committed)."""
        category = worst_category(classify_failure(f) for f in self.failures)
        first = next(f for f in self.failures if classify_failure(f) is category)
        if len(self.failures) == 1:
            return first
        others = "; ".join(sanitize_exception_message(f, self.secrets()) for f in self.failures[:5])
        if isinstance(first, RateLimitError):
            return RateLimitError(f"{len(self.failures)} failures: {others}", retry_at=first.retry_at)
        if category is CollectorFailureCategory.VALIDATION:
            return DataValidationError(f"{len(self.failures)} failures: {others}")
        try:
            return type(first)(f"{len(self.failures)} failures: {others}")
        except TypeError:  # an error class with another signature: keep the first, it has the category
            return first

    def _save_state(self, conn: Connection, **changes: Any) -> None:
        if self.context.bounded:
            return
        self.state.update(changes)
        marker = f"index {self.state.get('index_entries', 0)} entries, newest mailing {self.state.get('newest_mailing', '-')}"
        save_checkpoint(
            conn,
            self.name,
            Checkpoint(
                checkpoint_token=str(self.state.get("index_etag") or ""),
                human_readable_marker=marker,
                extras=self.state,
            ),
        )

    def _existing(self, conn: Connection, doc_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(set(doc_ids))):
            found.update(
                conn.execute(
                    select(wg21_documents.c.doc_id).where(wg21_documents.c.doc_id.in_(chunk))
                ).scalars()
            )
        return found

    def _enqueue_new(self, conn: Connection, rows: Sequence[dict[str, Any]], existing: set[str]) -> None:
        """Outbox items for papers stored for the first time, in the rows' own transaction."""
        for row in rows:
            if row["doc_id"] in existing or row["prefix"] not in ("P", "N"):
                continue
            existing.add(row["doc_id"])
            self.new_papers.append(row["doc_id"])
            self.counts["new_papers"] += 1
            if not self.notify:
                continue
            url = (
                row.get("long_link") or next(iter(row.get("file_urls") or []), None) or row.get("link") or ""
            )
            payload = {"doc_id": row["doc_id"], "url": url, "mailing": row.get("mailing_id") or ""}
            if enqueue(conn, OUTBOX_KIND, f"wg21:{row['doc_id']}", payload, now=self._now()):
                self.counts["dispatch_enqueued"] += 1

    def _remember(self, conn: Connection, response: HttpResponse) -> None:
        if self.conditional and response.cache_scope and response.cache_key:
            save_validators(
                conn, response.cache_scope, response.cache_key, response.etag, response.last_modified
            )

    # ------------------------------------------------------------------ 1. the index

    def _index_step(self, client: HttpClient, path: str) -> None:
        conditional = self.conditional
        response = client.get_if_changed(path, scope="wg21:index") if conditional else client.get(path)
        if isinstance(response, NotModified):
            self.counts["index_not_modified"] += 1
            return
        parsed = parse_index(response.data, source=response.endpoint)
        now = self._now()
        rows = [index_row(doc, entry, now) for doc, entry in parsed.entries]
        self.counts.update(
            index_entries=len(rows), index_rejected=len(parsed.rejected), index_aliases=parsed.aliases
        )
        self.errors += [f"index: {line}" for line in parsed.rejected]
        with self.store.transaction() as conn:
            existing = self._existing(conn, [r["doc_id"] for r in rows])
            self.counts["index_changed"] += upsert_rows(
                conn,
                wg21_documents,
                rows,
                ["doc_id"],
                update_columns=INDEX_COLUMNS,
                only_if_changed=["index_hash"],
            )
            self._enqueue_new(conn, rows, existing)
            if not parsed.rejected:  # a rejected entry is read again next run, not hidden behind a 304
                self._remember(conn, response)
            self._save_state(conn, index_entries=len(rows), index_etag=response.etag)

    # ------------------------------------------------------------------ 2. the mailings

    def _mailing_step(self, client: HttpClient, path: str) -> None:
        max_bytes = self.settings.max_page_bytes
        if self.conditional:
            response = client.get_if_changed(path, scope="wg21:papers", raw=True, max_bytes=max_bytes)
        else:
            response = client.get_raw(path, max_bytes=max_bytes)
        now = self._now()
        if isinstance(response, NotModified):
            self.counts["mailing_index_not_modified"] += 1
        else:
            links = [
                m
                for m in mailing_links(response.data, response.url)
                if int(m.mailing_id[:4]) >= self.settings.first_year
            ]
            self.counts["mailings_listed"] = len(links)
            with self.store.transaction() as conn:
                self._list_mailings(conn, links, now)
                self._remember(conn, response)
        with self.store.engine.connect() as conn:
            query = select(wg21_mailings).order_by(wg21_mailings.c.mailing_id)
            if not self.context.full_refresh:
                query = query.where(wg21_mailings.c.complete.is_(False))
            pending = [dict(r) for r in conn.execute(query).mappings()]
        by_page: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for mailing in pending:
            by_page[mailing["year_page_url"]].append(mailing)
        for url, mailings in sorted(by_page.items()):
            try:
                self._year_page(client, url, mailings)
            except Exception as exc:
                if classify_failure(exc) is CollectorFailureCategory.RATE_LIMIT:
                    raise
                self.failures.append(exc)  # other years go on; the run fails at the end
                self.errors.append(f"year page {url}: {sanitize_exception_message(exc)}")
                self.counts["year_pages_failed"] += 1

    def _list_mailings(self, conn: Connection, links: Sequence[MailingLink], now: dt.datetime) -> None:
        rows = [
            {"mailing_id": m.mailing_id, "title": m.title[:500], "year_page_url": m.year_page, "paper_count": 0,
             "complete": False, "first_seen_at": now, "last_parsed_at": now}
            for m in links
        ]  # fmt: skip
        upsert_rows(
            conn,
            wg21_mailings,
            rows,
            ["mailing_id"],
            update_columns=["title", "year_page_url"],
            only_if_changed=["title", "year_page_url"],
        )

    def _complete(self, mailing_id: str, paper_count: int, now: dt.datetime) -> bool:
        settle = dt.timedelta(days=self.settings.mailing_settle_days)
        return paper_count > 0 and now >= _month_end(mailing_id) + settle

    def _year_page(self, client: HttpClient, url: str, mailings: list[dict[str, Any]]) -> None:
        max_bytes = self.settings.max_page_bytes
        if self.conditional:
            response = client.get_if_changed(url, scope="wg21:year", raw=True, max_bytes=max_bytes)
        else:
            response = client.get_raw(url, max_bytes=max_bytes)
        now = self._now()
        if isinstance(response, NotModified):
            self.counts["year_pages_not_modified"] += 1
            with self.store.transaction() as conn:  # unchanged; a mailing may still have settled
                for mailing in mailings:
                    if self._complete(mailing["mailing_id"], mailing["paper_count"], now):
                        conn.execute(
                            update(wg21_mailings)
                            .where(wg21_mailings.c.mailing_id == mailing["mailing_id"])
                            .values(complete=True)
                        )
            return
        self.counts["year_pages"] += 1
        soup = BeautifulSoup(response.data, "html.parser")
        sections = {m["mailing_id"]: mailing_section(soup, response.url, m["mailing_id"]) for m in mailings}
        rows: list[dict[str, Any]] = []
        rejected: list[str] = []
        for mailing_id, section in sections.items():
            if section is None:
                continue
            rows += [mailing_row(r, mailing_id, now) for r in section.rows]
            rejected += section.rejected
        self.errors += rejected
        self.counts["mailing_rows_rejected"] += len(rejected)
        with self.store.transaction() as conn:
            existing = self._existing(conn, [r["doc_id"] for r in rows])
            self.counts["mailing_rows_changed"] += upsert_rows(
                conn,
                wg21_documents,
                rows,
                ["doc_id"],
                update_columns=MAILING_COLUMNS,
                only_if_changed=["mailing_hash"],
            )
            self._enqueue_new(conn, rows, existing)
            for mailing_id, section in sections.items():
                count = len(section.rows) if section is not None else 0
                conn.execute(
                    update(wg21_mailings)
                    .where(wg21_mailings.c.mailing_id == mailing_id)
                    .values(
                        paper_count=count, complete=self._complete(mailing_id, count, now), last_parsed_at=now
                    )
                )
                self.counts["mailings_parsed"] += section is not None
            if not rejected:
                self._remember(conn, response)
            parsed = [m for m, s in sections.items() if s is not None and s.rows]
            newest = max([*parsed, str(self.state.get("newest_mailing") or "")])
            self._save_state(conn, newest_mailing=newest or None)

    # ------------------------------------------------------------------ 3. paper files

    def _download_step(self, stack: ExitStack, clients: dict[str, HttpClient]) -> None:
        settings = self.settings.download
        allowed = {origin_of(self.settings.site_url), *settings.origins}
        docs, files = wg21_documents.c, wg21_document_files.c
        query = (
            select(docs.doc_id, docs.long_link, docs.file_urls)
            .select_from(wg21_documents.outerjoin(wg21_document_files, files.doc_id == docs.doc_id))
            .where(
                docs.prefix.in_(("P", "N")),
                or_(
                    files.doc_id.is_(None), and_(files.text.is_(None), files.attempts < settings.max_attempts)
                ),
            )
            .order_by(docs.document_date.desc().nulls_last(), docs.doc_id.desc())
            .limit(settings.max_per_run * 4)
        )
        with self.store.engine.connect() as conn:
            candidates = conn.execute(query).all()
        done = 0
        for doc_id, long_link, file_urls in candidates:
            if done >= settings.max_per_run:
                break
            urls = [*(file_urls or []), *([long_link] if long_link else [])]
            url = next((u for u in urls if origin_of(u) in allowed and file_format(u) in _CONVERTIBLE), None)
            if url is None:
                self.counts["downloads_skipped"] += 1
                continue
            done += 1
            origin = origin_of(url)
            if origin not in clients:
                clients[origin] = stack.enter_context(self.client(origin, f"paper files ({origin})"))
            try:
                self._download(clients[origin], doc_id, url)
            except RateLimitError as exc:
                self.errors.append(f"downloads stopped: {sanitize_exception_message(exc)}")
                self.counts["downloads_rate_limited"] += 1
                break
        for origin, client in clients.items():
            if origin != origin_of(self.settings.site_url):
                self.counts.update(client.stats.counts("http_"))

    def _download(self, client: HttpClient, doc_id: str, url: str) -> None:
        settings = self.settings.download
        now = self._now()
        with self.store.engine.connect() as conn:
            attempts = (
                conn.execute(
                    select(wg21_document_files.c.attempts).where(wg21_document_files.c.doc_id == doc_id)
                ).scalar()
                or 0
            )
        row: dict[str, Any] = {
            "doc_id": doc_id,
            "url": url,
            "format": file_format(url),
            "attempts": attempts + 1,
            "downloaded_at": now,
        }
        try:
            response = client.get_raw(url, max_bytes=settings.max_bytes)
            data = response.data
            fmt = file_format(url, response.headers.get("Content-Type"))
            row.update(format=fmt, http_status=response.status, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                       etag=response.etag, last_modified=response.last_modified)  # fmt: skip
            converted = to_text(
                data,
                fmt,
                max_pages=settings.max_pages,
                max_chars=settings.max_text_chars,
                source=f"{doc_id} {url}",
            )
            row.update(
                text=converted.text,
                converter=converted.converter,
                pages=converted.pages,
                error=None,
                error_category=None,
            )
            self.counts["downloads"] += 1
        except RateLimitError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others; kept on its row
            category = classify_failure(exc)
            if category in (CollectorFailureCategory.VALIDATION, CollectorFailureCategory.PERMISSION):
                row["attempts"] = settings.max_attempts  # the same file fails the same way: not retried
            row.update(text=None, error=sanitize_exception_message(exc)[:2000], error_category=category.value)
            self.counts["downloads_failed"] += 1
            self.errors.append(f"download {doc_id}: {row['error'][:300]}")
        with self.store.transaction() as conn:
            upsert_rows(conn, wg21_document_files, [row], ["doc_id"])

    # ------------------------------------------------------------------ 4. dispatches

    def _dispatch_step(self) -> None:
        settings = self.settings.dispatch
        sender = DispatchSender(settings, self.token, clock=self.clock)
        try:
            report = deliver(
                self.store,
                OUTBOX_KIND,
                sender,
                limit=settings.max_papers_per_dispatch * 10,
                batch_size=settings.max_papers_per_dispatch,
                clock=self._now,
                extra_secrets=[self.token],
            )
        finally:
            sender.close()
        self.counts.update(report.counts)
        self.counts["dispatches"] += sender.dispatches
        if report.errors:
            self.errors += list(report.errors)
            self.failures += sender.failures  # the rows are stored, the items wait in the outbox
        if report.parked_total and not report.parked_now:
            self.errors.append(
                f"{report.parked_total} dispatch(es) parked: fix the cause, then release them (docs/wg21.md)"
            )

    # ------------------------------------------------------------------ vectors

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return []  # papers are never withdrawn from the index; a revision is a new document
