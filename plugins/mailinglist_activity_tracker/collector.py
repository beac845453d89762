"""``MailingListCollector``: HyperKitty archives -> lists, threads, messages, person profiles.

One partition per list, each with its own checkpoint. Per run and list (docs/mailinglist.md):

1. **Head walk** of ``emails/`` (newest *archived* first, not ``Date:`` order): unknown messages
   and messages whose detail is still missing get ``email/<hash>/``; each page commits with the
   checkpoint. The walk stops after ``stop_after_known`` consecutive stored messages; the first
   run walks to the end. Dates are never a stop condition, so a late-archived old-dated message
   is collected and a future-dated one stalls nothing. An interrupted walk resumes where it
   stopped (``extras.walk``).
2. **Details retried**: a detail fetch that failed leaves the index row with ``content`` unset and
   the error; every later run fetches it again (and the run that failed fails, after the rest).
3. **Thread refresh**: threads active since the last refresh (minus ``overlap_hours``) whose
   message count differs from the store get ``thread/<id>/emails/``: reattached messages move.
4. **Reconcile** (every ``reconcile_every_days``, or when the archive's count falls below the
   stored one): a full index walk; stored messages the archive no longer has (confirmed by a
   404 on their detail) get ``deleted_at``, moved ones their new thread.
5. **Backfill** (first run or ``full_refresh``): monthly mbox exports when the server allows them
   (``backfill: auto|mbox``), else the REST walk. ``since``/``until`` bound it (rows only).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import gzip
import hashlib
import io
import logging
import mailbox
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, and_, exists, func, select, text, update

from core.collectors import AbstractCollector
from core.errors import (
    AuthenticationError,
    CollectorError,
    CollectorFailureCategory,
    ConfigError,
    DataValidationError,
    PermissionDeniedError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    worst_category,
)
from core.identity import Profile, ProfileEmail, ensure_identity, upsert_profiles
from core.operations.http import HttpClient, NotFoundError
from core.store import upsert_rows
from core.streams import Checkpointer
from core.vectors.documents import Document
from mailinglist_activity_tracker.api_schemas import (
    EmailDetail,
    EmailShort,
    MailingList,
    Page,
    ThreadShort,
    parse_items,
    parse_payload,
)
from mailinglist_activity_tracker.client import hyperkitty_client
from mailinglist_activity_tracker.config import MailingListConfig, parse_config
from mailinglist_activity_tracker.mail import ParsedMail, message_id_hash, parse_message
from mailinglist_activity_tracker.preprocess import removed_thread_documents, thread_documents
from mailinglist_activity_tracker.protocol_impl import MailingListResult, MailingListState
from mailinglist_activity_tracker.rows import detail_row, index_row, mbox_row
from mailinglist_activity_tracker.tables import MAILINGLIST_MIGRATIONS, ml_lists, ml_messages, ml_threads

__all__ = ["ListsFailedError", "MailingListCollector"]

log = logging.getLogger(__name__)

_m = ml_messages
# Failures that stop a list's run at once (retrying message by message cannot help).
_FATAL = (AuthenticationError, RateLimitError)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state(stored: Any) -> MailingListState:
    return MailingListState.from_dict(stored.asdict()) if stored is not None else MailingListState()


class MailingListCollector(AbstractCollector):
    """See the module doc. ``clock``/``sleep`` are the HTTP client's (tests make waits instant)."""

    name = "mailinglist"
    vector_source = "mailinglist"
    migrations = MAILINGLIST_MIGRATIONS

    settings: MailingListConfig
    clock = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    def validate_config(self) -> None:
        self.settings = parse_config(dict(self.raw_config))
        self._auth: tuple[str, str] | None = None
        conn_id = self.settings.connection_id
        if conn_id:
            fields = self.context.connection(conn_id)
            if not fields:
                raise ConfigError(
                    f"mailinglist collector: config.connection_id: connection {conn_id!r} is not defined"
                )
            if fields.get("login"):
                self._auth = (str(fields["login"]), str(fields.get("password") or ""))

    def secrets(self) -> list[str]:
        auth = getattr(self, "_auth", None)
        return [auth[1]] if auth and auth[1] else []

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # senders go to person_profiles with every batch
        return super().migrate()

    def list_partitions(self) -> list[str]:
        return list(self.settings.lists)

    def client(self) -> HttpClient:
        return hyperkitty_client(
            self.settings.base_url,
            requests_per_second=self.settings.requests_per_second,
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
            basic_auth=self._auth,
            clock=self.clock,
            sleep=self.sleep,
        )

    def collect(self) -> MailingListResult:
        lists = [self.context.partition] if self.context.partition else list(self.settings.lists)
        unknown = [name for name in lists if name not in self.settings.lists]
        if unknown:
            raise ConfigError(f"mailinglist collector: partition {unknown[0]!r} is not in config.lists")
        counts: collections.Counter[str] = collections.Counter()
        failures: list[tuple[str, Exception]] = []
        with self.client() as client:
            for fqdn in lists:
                try:
                    _ListRun(self, client, fqdn, counts).run()
                except Exception as exc:  # noqa: BLE001 - one list failing never stops (or moves) another
                    log.error(
                        "List %s failed [%s]: %s",
                        fqdn,
                        classify_failure(exc).value,
                        sanitize_exception_message(exc, self.secrets()),
                    )
                    failures.append((fqdn, exc))
            counts.update(client.stats.counts("http_"))
        if failures:
            raise failures[0][1] if len(failures) == 1 else _worst(failures, self.secrets())
        return MailingListResult(success=True, counts=dict(counts))

    # ------------------------------------------------------------------ vector step

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return thread_documents(self.store.engine, changed_since, list(doc_ids), self.settings.base_url)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_thread_documents(self.store.engine, changed_since)


_C = CollectorFailureCategory
class ListsFailedError(CollectorError):
    """Several lists failed: ``category`` is the worst of theirs, ``lists`` names them all;
    ``retry_at`` (all rate-limited) is the latest time the source gave; ``__cause__`` is the
    first failure of the worst category."""

    def __init__(
        self,
        message: str,
        *,
        category: CollectorFailureCategory,
        lists: list[str],
        retry_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.lists = lists
        self.retry_at = retry_at


def _worst(failures: list[tuple[str, Exception]], secrets: list[str]) -> ListsFailedError:
    """One error for several failed lists: each named with its category and (sanitized) error."""
    categories = [classify_failure(exc) for _fqdn, exc in failures]
    worst = worst_category(categories)
    parts = [
        f"{fqdn} [{category.value}]: {sanitize_exception_message(exc, secrets)[:300]}"
        for (fqdn, exc), category in zip(failures, categories, strict=True)
    ]
    retry_ats = [exc.retry_at for _fqdn, exc in failures if isinstance(exc, RateLimitError) and exc.retry_at]
    error = ListsFailedError(
        f"{len(failures)} lists failed (worst: {worst.value}): " + " | ".join(parts),
        category=worst,
        lists=[fqdn for fqdn, _exc in failures],
        retry_at=max(retry_ats) if worst is _C.RATE_LIMIT and retry_ats else None,
    )
    error.__cause__ = next(exc for (_fqdn, exc), c in zip(failures, categories, strict=True) if c is worst)
    return error


class _DetailFailures(DataValidationError):
    """Some message details could not be read: stored without content, retried next run."""


class _ListRun:
    """One list's collect: see the module doc."""

    def __init__(
        self, collector: MailingListCollector, client: HttpClient, fqdn: str, counts: collections.Counter[str]
    ) -> None:
        self.c = collector
        self.settings = collector.settings
        self.client = client
        self.fqdn = fqdn
        self.counts = counts
        self.context = collector.context
        self.store = collector.store
        self.checkpoint = Checkpointer.load(
            self.store,
            collector.name,
            fqdn,
            _state,
            full_refresh=self.context.full_refresh,
            bounded=self.context.bounded,
            counts=counts,
        )
        self.detail_failures: list[tuple[str, Exception]] = []
        # Details asked this run that did not arrive (failed, 404): the retry step skips them. A
        # detail that arrived is stored with its content, so the retry step never sees it again.
        self.unfetched: set[str] = set()
        # Rows this run inserted since PostgreSQL's statistics of ml_messages last covered
        # ``analyzed_rows`` rows (None: not read yet); see _keep_statistics.
        self.inserted = 0
        self.analyzed_rows: int | None = None

    @property
    def state(self) -> MailingListState:
        return self.checkpoint.state

    def _api(self, rest: str) -> str:
        return f"/api/list/{self.fqdn}/{rest}"

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        started = _now()
        self._list_metadata()
        window = (self.context.since, self.context.until) if self.context.bounded else None
        first = not self.state.value("backfilled") or self.context.full_refresh
        mbox = (
            (first or window is not None) and self.settings.backfill != "rest" and self._mbox_backfill(window)
        )
        if window is not None:
            if not mbox:
                self._walk(to_end=True, window=window)
            self._retry_pending(window)
            self._raise_detail_failures()
            return
        count = self._walk(to_end=first and not mbox)
        self._retry_pending(None)
        self._refresh_threads(started)
        if self._reconcile_due(count):
            self._reconcile(started)
        self._raise_detail_failures()

    def _list_metadata(self) -> None:
        response = self.client.get(self._api(""))
        info = parse_payload(MailingList, response.data, response.endpoint)
        row = {
            "list_fqdn": self.fqdn,
            "display_name": info.display_name,
            "description": info.description,
            "archive_policy": info.archive_policy,
            "created_at": info.created_at,
            "updated_at": _now(),
        }
        self.checkpoint.commit(
            lambda conn: upsert_rows(
                conn,
                ml_lists,
                [row],
                ["list_fqdn"],
                only_if_changed=["display_name", "description", "archive_policy"],
            )
        )

    # ------------------------------------------------------------------ head walk

    def _page(self, offset: int) -> tuple[Page, list[EmailShort]]:
        response = self.client.get(self._api("emails/"), {"limit": self.settings.page_size, "offset": offset})
        page = parse_payload(Page, response.data, response.endpoint)
        return page, parse_items(EmailShort, page, response.endpoint)

    def _stored(self, conn: Connection, hashes: list[str]) -> dict[str, dict[str, Any]]:
        if not hashes:
            return {}
        rows = conn.execute(
            select(
                _m.c.message_id_hash,
                _m.c.thread_id,
                _m.c.previous_thread_id,
                _m.c.parent_hash,
                _m.c.detail_attempts,
                (_m.c.content.is_not(None)).label("complete"),
                _m.c.deleted_at,
            ).where(_m.c.list_fqdn == self.fqdn, _m.c.message_id_hash.in_(hashes))
        ).mappings()
        return {r["message_id_hash"]: dict(r) for r in rows}

    def _walk(self, *, to_end: bool, window: tuple[Any, Any] | None = None) -> int:
        """The head walk (module doc, step 1); returns the archive's count."""
        size = self.settings.page_size
        resume = self.state.value("walk") if window is None else None
        resume_at: int | None = None
        offset = 0
        head: str | None = None
        known_run = 0
        counts_from = 0  # after a jump: the margin page is the dead walk's own, its items do not count
        count = 0
        while True:
            page, items = self._page(offset)
            count = page.count
            if resume is not None and resume_at is None:
                # New arrivals since the interrupted walk pushed its position down; one page of
                # margin covers deletions in between (repeats are upserts).
                resume_at = max(0, int(resume["offset"]) + count - int(resume["count"]) - size)
            if offset == 0 and items:
                head = items[0].message_id_hash
            with self.store.engine.connect() as conn:
                stored = self._stored(conn, [i.message_id_hash for i in items])
            wanted = [
                i
                for i in items
                if (i.message_id_hash not in stored or not stored[i.message_id_hash]["complete"])
                and _in_window(i.sent_at, window)
            ]
            details = self._details(wanted)
            for position, item in enumerate(items, start=offset):
                seen = stored.get(item.message_id_hash)
                if position >= counts_from:
                    known_run = known_run + 1 if seen is not None and seen["complete"] else 0
            self.counts["index_pages"] += 1
            self.counts["index_items"] += len(items)
            last = page.next is None or not items
            stop = last or (not to_end and known_run >= self.settings.stop_after_known)
            jump = stop and not last and resume_at is not None and offset + size < resume_at
            if stop and not jump:
                new_state = self.state.with_extras(
                    token=head or self.state.checkpoint_token,
                    marker=f"{count} messages archived; newest archived {head}",
                    count=count,
                    walk=None,
                    backfilled=True,
                    reconciled_at=self.state.value("reconciled_at")
                    or (_now().isoformat() if to_end else None),
                )
            elif resume_at is not None and offset + size < resume_at:
                # Above an interrupted walk's position: keep that position (shifted to today's count).
                new_state = self.state.with_extras(walk={"offset": resume_at + size, "count": count})
            else:
                new_state = self.state.with_extras(walk={"offset": offset + size, "count": count})
            self.checkpoint.commit(
                functools.partial(self._write, items=items, stored=stored, details=details), new_state
            )
            self._keep_statistics()
            if jump:
                assert resume_at is not None
                log.info("%s: resuming an interrupted walk at offset %d", self.fqdn, resume_at)
                offset, counts_from, resume, resume_at, known_run = resume_at, resume_at + size, None, None, 0
                continue
            if stop:
                return count
            offset += size

    def _details(self, wanted: list[EmailShort]) -> dict[str, EmailDetail | Exception]:
        out: dict[str, EmailDetail | Exception] = {}
        for item in wanted:
            out[item.message_id_hash] = self._detail(item.message_id_hash)
        return out

    def _detail(self, digest: str) -> EmailDetail | Exception:
        """One message's detail, or the error that kept it (fatal errors are raised)."""
        try:
            response = self.client.get(self._api(f"email/{digest}/"))
            detail = parse_payload(EmailDetail, response.data, response.endpoint)
            self.counts["details"] += 1
            return detail
        except _FATAL:
            raise
        except NotFoundError as exc:
            self.unfetched.add(digest)
            return exc  # gone between the index and the detail: the reconcile marks it deleted
        except PermissionDeniedError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept with the message, retried next run
            self.unfetched.add(digest)
            self.counts["details_failed"] += 1
            self.detail_failures.append((digest, exc))
            log.warning(
                "%s: detail of %s failed, retried next run: %s",
                self.fqdn,
                digest,
                sanitize_exception_message(exc, self.c.secrets()),
            )
            return exc

    def _write(
        self,
        conn: Connection,
        items: list[EmailShort],
        stored: dict[str, dict[str, Any]],
        details: dict[str, EmailDetail | Exception],
    ) -> None:
        now = _now()
        full: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for item in items:
            digest = item.message_id_hash
            seen = stored.get(digest)
            got = details.get(digest)
            if isinstance(got, EmailDetail):
                row = detail_row(self.fqdn, got, now)
                if seen is not None:
                    row["previous_thread_id"] = _previous(seen, row["thread_id"])
                full.append(row)
            elif isinstance(got, Exception) and not isinstance(got, NotFoundError):
                if seen is None:
                    pending.append(
                        index_row(self.fqdn, item, now, sanitize_exception_message(got, self.c.secrets()))
                    )
                else:
                    conn.execute(
                        update(_m)
                        .where(_m.c.list_fqdn == self.fqdn, _m.c.message_id_hash == digest)
                        .values(
                            detail_attempts=_m.c.detail_attempts + 1,
                            detail_error=sanitize_exception_message(got, self.c.secrets())[:1000],
                        )
                    )
            elif seen is not None:
                self._place(conn, seen, item.thread_id, item.parent_hash, now)
        if full:
            self._upsert_full(conn, full)
        if pending:
            upsert_rows(conn, _m, pending, ["list_fqdn", "message_id_hash"])
            self.counts["messages_pending"] += len(pending)
            self.inserted += len(pending)
        self._profiles(conn, full + pending)

    def _keep_statistics(self) -> None:
        """PostgreSQL plans the per-page look-ups (``_stored``, thread counts, mbox parents) from
        its statistics of ml_messages; a table a backfill fills from empty has none until
        autovacuum gets to it (a minute or more later, or never where it is off), and without them
        the planner reads all of the list's rows for every page of hashes: a backfill's time
        grew with the square of the archive. So once this run's inserts reach what the statistics
        last covered (and at least 1,000 rows), ``ANALYZE ml_messages`` (a sample: its cost does
        not grow with the table), after the commit: a backfill analyzes a logarithmic number of
        times. SQLite picks the primary key for these look-ups without statistics."""
        if self.inserted < 1000 or self.store.engine.dialect.name != "postgresql":
            return
        if self.analyzed_rows is None:
            with self.store.engine.connect() as conn:
                self.analyzed_rows = max(
                    0,
                    int(
                        conn.execute(
                            text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
                            {"name": _m.name},
                        ).scalar_one()
                    ),
                )
        if self.inserted < self.analyzed_rows:
            return
        with self.store.engine.begin() as conn:
            conn.execute(text(f"ANALYZE {_m.name}"))
        self.analyzed_rows += self.inserted
        self.inserted = 0
        self.counts["statistics_refreshed"] += 1

    def _upsert_full(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row.setdefault("previous_thread_id", None)
        columns = [c for c in rows[0] if c not in ("list_fqdn", "message_id_hash", "first_seen_at")]
        new = upsert_rows(
            conn,
            _m,
            rows,
            ["list_fqdn", "message_id_hash"],
            update_columns=columns,
            only_if_changed=["content_hash", "thread_id", "parent_hash", "deleted_at", "detail_attempts"],
            count_inserted=True,
        )
        self.counts["messages_new"] += new
        self.counts["messages_updated_or_same"] += len(rows) - new
        self.inserted += new

    def _place(
        self,
        conn: Connection,
        seen: dict[str, Any],
        thread_id: str,
        parent_hash: str | None,
        now: dt.datetime,
    ) -> None:
        """A stored message's thread placement as the archive has it now (reattach, undelete)."""
        if (
            seen["thread_id"] == thread_id
            and seen["parent_hash"] == parent_hash
            and seen["deleted_at"] is None
        ):
            return
        values: dict[str, Any] = {"parent_hash": parent_hash, "deleted_at": None, "updated_at": now}
        if seen["thread_id"] != thread_id:
            values.update(thread_id=thread_id, previous_thread_id=seen["thread_id"])
            self.counts["messages_moved"] += 1
        conn.execute(
            update(_m)
            .where(_m.c.list_fqdn == self.fqdn, _m.c.message_id_hash == seen["message_id_hash"])
            .values(**values)
        )

    def _profiles(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        profiles = [
            Profile(
                external_id=hashlib.sha256(row["sender_address"].encode()).hexdigest(),
                seen_at=row["sent_at"] or row["first_seen_at"],
                display_name=row["sender_name"],
                attrs={"mailman_id": row["sender_mailman_id"]} if row.get("sender_mailman_id") else {},
                emails=[ProfileEmail(row["sender_address"], verified=False, evidence="mail_from")],
            )
            for row in rows
            if row.get("sender_address")
        ]
        if profiles:
            upsert_profiles(conn, "mailinglist", profiles)

    # ------------------------------------------------------------------ details retried

    def _retry_pending(self, window: tuple[Any, Any] | None) -> None:
        """Messages stored without their detail (a failed fetch): fetched again, oldest first."""
        with self.store.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(
                        _m.c.message_id_hash,
                        _m.c.thread_id,
                        _m.c.previous_thread_id,
                        _m.c.parent_hash,
                        _m.c.deleted_at,
                        _m.c.sent_at,
                    )
                    .where(_m.c.list_fqdn == self.fqdn, _m.c.content.is_(None), _m.c.deleted_at.is_(None))
                    .order_by(_m.c.first_seen_at, _m.c.message_id_hash)
                    .limit(self.settings.max_detail_fetches)
                )
                .mappings()
                .all()
            )
        todo = [
            dict(r)
            for r in rows
            if r["message_id_hash"] not in self.unfetched and _in_window(r["sent_at"], window)
        ]
        for start in range(0, len(todo), 50):
            chunk = todo[start : start + 50]
            got = {r["message_id_hash"]: self._detail(r["message_id_hash"]) for r in chunk}
            now = _now()

            def work(
                conn: Connection,
                chunk: list[dict[str, Any]] = chunk,
                got: dict[str, Any] = got,
                now: dt.datetime = now,
            ) -> None:
                full = []
                for seen in chunk:
                    result = got[seen["message_id_hash"]]
                    if isinstance(result, EmailDetail):
                        row = detail_row(self.fqdn, result, now)
                        row["previous_thread_id"] = _previous(seen, row["thread_id"])
                        full.append(row)
                    elif isinstance(result, NotFoundError):
                        conn.execute(
                            update(_m)
                            .where(
                                _m.c.list_fqdn == self.fqdn, _m.c.message_id_hash == seen["message_id_hash"]
                            )
                            .values(deleted_at=now, updated_at=now)
                        )
                    else:
                        conn.execute(
                            update(_m)
                            .where(
                                _m.c.list_fqdn == self.fqdn, _m.c.message_id_hash == seen["message_id_hash"]
                            )
                            .values(
                                detail_attempts=_m.c.detail_attempts + 1,
                                detail_error=sanitize_exception_message(result, self.c.secrets())[:1000],
                            )
                        )
                if full:
                    self._upsert_full(conn, full)
                    self._profiles(conn, full)
                    self.counts["details_retried"] += len(full)

            self.checkpoint.commit(work)

    def _raise_detail_failures(self) -> None:
        if not self.detail_failures:
            return
        digest, first = self.detail_failures[0]
        category = classify_failure(first)
        error: Exception = first
        if category is CollectorFailureCategory.UNKNOWN or category is CollectorFailureCategory.VALIDATION:
            error = _DetailFailures(
                f"{len(self.detail_failures)} message details could not be read (stored without content, "
                f"retried next run); first: {digest}: {sanitize_exception_message(first, self.c.secrets())}",
                source=self.fqdn,
            )
        raise error

    # ------------------------------------------------------------------ thread refresh

    def _refresh_threads(self, started: dt.datetime) -> None:
        """Threads active since the last refresh (minus the overlap) whose message count differs
        from the store: their emails are read again (reattached messages move)."""
        last = self.state.when("threads_at")
        since = last - dt.timedelta(hours=self.settings.overlap_hours) if last else None
        offset = 0
        size = self.settings.page_size
        while True:
            response = self.client.get(self._api("threads/"), {"limit": size, "offset": offset})
            page = parse_payload(Page, response.data, response.endpoint)
            threads = parse_items(ThreadShort, page, response.endpoint)
            self.counts["thread_pages"] += 1
            threads_in = [
                t for t in threads if since is None or t.date_active is None or t.date_active >= since
            ]
            ids = [t.thread_id for t in threads_in]
            with self.store.engine.connect() as conn:
                counts = (
                    dict(
                        conn.execute(
                            select(_m.c.thread_id, func.count())
                            .where(
                                _m.c.list_fqdn == self.fqdn,
                                _m.c.deleted_at.is_(None),
                                _m.c.thread_id.in_(ids),
                            )
                            .group_by(_m.c.thread_id)
                        ).all()
                    )
                    if ids
                    else {}
                )
            changed = [t for t in threads_in if counts.get(t.thread_id, 0) != t.replies_count + 1]
            members: list[EmailShort] = []
            for thread in changed:
                members.extend(self._thread_emails(thread.thread_id))
                self.counts["threads_reread"] += 1
            with self.store.engine.connect() as conn:
                stored = self._stored(conn, [e.message_id_hash for e in members])
            details = self._details([e for e in members if e.message_id_hash not in stored])
            now = _now()
            thread_rows = [
                {
                    "list_fqdn": self.fqdn,
                    "thread_id": t.thread_id,
                    "subject": t.subject,
                    "starting_hash": t.starting_hash,
                    "date_active": t.date_active,
                    "replies_count": t.replies_count,
                    "updated_at": now,
                }
                for t in threads_in
            ]

            def work(
                conn: Connection,
                thread_rows: list[dict[str, Any]] = thread_rows,
                members: list[EmailShort] = members,
                stored: dict[str, dict[str, Any]] = stored,
                details: dict[str, EmailDetail | Exception] = details,
            ) -> None:
                if thread_rows:
                    upsert_rows(
                        conn,
                        ml_threads,
                        thread_rows,
                        ["list_fqdn", "thread_id"],
                        only_if_changed=["subject", "starting_hash", "date_active", "replies_count"],
                    )
                self._write(conn, members, stored, details)

            self.checkpoint.commit(work)
            self._keep_statistics()
            if page.next is None or len(threads_in) < len(threads) or not threads:
                break
            offset += size
        self.checkpoint.commit(lambda conn: None, self.state.with_extras(threads_at=started.isoformat()))

    def _thread_emails(self, thread_id: str) -> list[EmailShort]:
        out: list[EmailShort] = []
        offset = 0
        while True:
            response = self.client.get(
                self._api(f"thread/{thread_id}/emails/"), {"limit": self.settings.page_size, "offset": offset}
            )
            page = parse_payload(Page, response.data, response.endpoint)
            out.extend(parse_items(EmailShort, page, response.endpoint))
            if page.next is None or not page.results:
                return out
            offset += self.settings.page_size

    # ------------------------------------------------------------------ reconcile

    def _reconcile_due(self, count: int) -> bool:
        last = self.state.when("reconciled_at")
        if last is None or _now() - last >= dt.timedelta(days=self.settings.reconcile_every_days):
            return True
        with self.store.engine.connect() as conn:
            live = conn.execute(
                select(func.count()).where(_m.c.list_fqdn == self.fqdn, _m.c.deleted_at.is_(None))
            ).scalar_one()
        return count < live  # the archive lost messages

    def _reconcile(self, started: dt.datetime) -> None:
        """Full index walk: moved messages take their thread, vanished ones are marked deleted
        (each confirmed by a 404 on its detail, so a shift during the walk deletes nothing).

        The hashes the walk saw go to a temporary table and the stored ones it did not see are
        found by an anti-join, read in pages in hash order: memory does not grow with the archive."""
        seen = Table(
            f"ml_reconcile_seen_{uuid.uuid4().hex[:12]}",
            MetaData(),
            Column("message_id_hash", String(64), primary_key=True),
            prefixes=["TEMPORARY"],
        )
        # One connection holds the temporary table; its transactions never overlap the page commits.
        with self.store.engine.connect() as scratch:
            seen.create(scratch)
            scratch.commit()
            try:
                self._reconcile_walk(scratch, seen)
                self._reconcile_deleted(scratch, seen)
            finally:
                try:
                    scratch.rollback()
                    seen.drop(scratch)
                    scratch.commit()
                except Exception:  # noqa: BLE001 - a broken connection: closing it drops the table
                    scratch.invalidate()
        self.checkpoint.commit(lambda conn: None, self.state.with_extras(reconciled_at=started.isoformat()))

    def _reconcile_walk(self, scratch: Connection, seen: Table) -> None:
        offset = 0
        while True:
            page, items = self._page(offset)
            self.counts["reconcile_pages"] += 1
            with self.store.engine.connect() as conn:
                stored = self._stored(conn, [i.message_id_hash for i in items])
            details = self._details([i for i in items if i.message_id_hash not in stored])
            self.checkpoint.commit(
                functools.partial(self._write, items=items, stored=stored, details=details)
            )
            self._keep_statistics()
            if items:
                hashes = [{"message_id_hash": i.message_id_hash} for i in items]
                upsert_rows(scratch, seen, hashes, ["message_id_hash"])
                scratch.commit()
            if page.next is None or not items:
                return
            offset += self.settings.page_size

    def _reconcile_deleted(self, scratch: Connection, seen: Table) -> None:
        """Stored live messages the walk did not see, 500 at a time: a 404 on the detail marks them."""
        after = ""
        while True:
            digests = list(
                scratch.execute(
                    select(_m.c.message_id_hash)
                    .where(
                        _m.c.list_fqdn == self.fqdn,
                        _m.c.deleted_at.is_(None),
                        _m.c.message_id_hash > after,
                        ~exists().where(seen.c.message_id_hash == _m.c.message_id_hash),
                    )
                    .order_by(_m.c.message_id_hash)
                    .limit(500)
                ).scalars()
            )
            scratch.commit()
            if not digests:
                return
            after = digests[-1]
            gone = []
            for digest in digests:
                try:
                    self.client.get(self._api(f"email/{digest}/"))
                except NotFoundError:
                    gone.append(digest)
            if gone:
                now = _now()
                self.checkpoint.commit(
                    lambda conn, gone=gone, now=now: conn.execute(
                        update(_m)
                        .where(and_(_m.c.list_fqdn == self.fqdn, _m.c.message_id_hash.in_(gone)))
                        .values(deleted_at=now, updated_at=now)
                    )
                )
                self.counts["messages_deleted"] += len(gone)

    # ------------------------------------------------------------------ mbox backfill

    def _mbox_backfill(self, window: tuple[Any, Any] | None) -> bool:
        """Monthly mbox exports (module doc, step 5); ``False`` when the server refuses them
        (``backfill: auto`` then walks the REST index instead)."""
        since, until = window or (None, None)
        start = max(self.settings.backfill_from, since.date() if since else self.settings.backfill_from)
        end = min(_now().date(), until.date() if until else _now().date())
        done = self.state.value("mbox_month") if window is None and not self.context.full_refresh else None
        month = dt.date(start.year, start.month, 1)
        first_request = True
        while month <= end:
            following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            label = month.strftime("%Y-%m")
            if done and label <= done:
                month = following
                continue
            name = self.fqdn.split("@", 1)[0]
            try:
                response = self.client.get_raw(
                    f"/list/{self.fqdn}/export/{name}-{label}.mbox.gz",
                    {"start": month.isoformat(), "end": following.isoformat()},
                )
            except DataValidationError as exc:
                if not first_request:
                    raise
                if self.settings.backfill == "mbox":
                    raise ConfigError(
                        f"mailinglist collector: config.backfill is 'mbox' but {self.fqdn} refuses mbox "
                        f"exports ({sanitize_exception_message(exc)})"
                    ) from None
                log.info("%s: mbox export refused (%s); backfilling through the REST API", self.fqdn, exc)
                self.counts["mbox_refused"] += 1
                return False
            first_request = False
            self.counts["mbox_months"] += 1
            self._ingest_mbox(response.data, window, last_month=label if window is None else None)
            month = following
        if window is None:
            self.checkpoint.commit(
                lambda conn: None, self.state.with_extras(backfilled=True, mbox_month=None)
            )
        return True

    def _ingest_mbox(self, data: bytes, window: tuple[Any, Any] | None, *, last_month: str | None) -> None:
        with tempfile.TemporaryDirectory(prefix="mbox-") as folder:
            path = Path(folder) / "month.mbox"
            try:
                with gzip.open(io.BytesIO(data)) as source, path.open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
            except (OSError, EOFError) as exc:
                raise DataValidationError(
                    f"mbox export is not a complete gzip file ({exc})", source=self.fqdn
                ) from None
            ingest_mbox_file(self, path, window=window, last_month=last_month)


def _from_line_date(message: mailbox.mboxMessage) -> dt.datetime | None:
    parts = (message.get_from() or "").split(None, 1)
    if len(parts) < 2:
        return None
    with contextlib.suppress(ValueError):
        return dt.datetime.strptime(parts[1].strip(), "%a %b %d %H:%M:%S %Y").replace(tzinfo=dt.UTC)
    return None


def iter_mbox(path: Path) -> Iterator[ParsedMail]:
    """Each message of an mbox file, parsed (never raises on a bad message)."""
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            try:
                message = box.get_message(key)
            except Exception as exc:  # noqa: BLE001 - keep what can be read of a broken entry
                raw = box.get_bytes(key)
                mail = parse_message(raw)
                mail.warnings.append(f"mbox entry: {type(exc).__name__}")
                yield mail
                continue
            yield parse_message(message, fallback_date=_from_line_date(message))
    finally:
        box.close()


def ingest_mbox_file(
    run: _ListRun, path: Path, *, window: tuple[Any, Any] | None = None, last_month: str | None = None
) -> None:
    """Store an mbox file's messages in batches; threads computed like HyperKitty (the parent is
    the message named by In-Reply-To, else the last References id, when it is archived in this list)."""
    batch: list[ParsedMail] = []
    threads: dict[str, str] = {}  # hash -> thread id, for this file
    size = run.settings.batch_size

    def flush(final: bool) -> None:
        if not batch and not final:
            return
        parents = {message_id_hash(m.in_reply_to) for m in batch if m.in_reply_to}
        with run.store.engine.connect() as conn:
            stored = (
                dict(
                    conn.execute(
                        select(_m.c.message_id_hash, _m.c.thread_id).where(
                            _m.c.list_fqdn == run.fqdn,
                            _m.c.message_id_hash.in_(sorted(parents - threads.keys())),
                        )
                    ).all()
                )
                if parents - threads.keys()
                else {}
            )
        now = _now()
        rows = []
        for mail in batch:
            parent = message_id_hash(mail.in_reply_to) if mail.in_reply_to else None
            thread = threads.get(parent) or stored.get(parent) if parent else None
            if thread is None:
                parent = None
                thread = mail.message_id_hash
            threads[mail.message_id_hash] = thread
            rows.append(mbox_row(run.fqdn, mail, thread, parent, now))
        run.counts["mbox_messages"] += len(rows)
        run.counts["parse_warnings"] += sum(1 for m in batch if m.warnings)
        new_state = run.state.with_extras(mbox_month=last_month) if final and last_month else None

        def work(conn: Connection) -> None:
            if rows:
                run._upsert_full(conn, rows)
                run._profiles(conn, rows)

        run.checkpoint.commit(work, new_state)
        run._keep_statistics()
        batch.clear()

    for mail in iter_mbox(path):
        if not _in_window(mail.sent_at, window):
            continue
        batch.append(mail)
        if len(batch) >= size:
            flush(False)
    flush(True)


def _previous(seen: dict[str, Any], thread_id: str) -> str | None:
    return seen["thread_id"] if seen["thread_id"] != thread_id else seen.get("previous_thread_id")


def _in_window(when: dt.datetime | None, window: tuple[Any, Any] | None) -> bool:
    if window is None:
        return True
    since, until = window
    if when is None:
        return False
    return (since is None or when >= since) and (until is None or when < until)
