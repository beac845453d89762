"""``RedditCollector``: subreddits (the partitions) read through app-only OAuth.

Per subreddit and run: the ``/new`` and ``/comments`` listings walked down to the checkpoint
(one transaction per page), then the refresh window re-read by ``/api/info`` and the comment
trees of submissions whose comment count grew. Keyword-mode subreddits skip the ``/comments``
listing: matched submissions are stored with their whole tree. A backfill (``since``/
``until``) writes rows only and is refused when deeper than Reddit's listings go.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from core.collectors import AbstractCollector
from core.errors import (
    CollectorError,
    CollectorFailureCategory,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    worst_category,
)
from core.identity import ensure_identity
from core.operations.http import OAuth2ClientCredentials
from core.streams import Checkpointer, Window
from core.vectors.documents import Document
from reddit_activity_tracker.client import RedditClient
from reddit_activity_tracker.config import (
    RedditConfig,
    RedditCredentials,
    SubredditConfig,
    base_urls,
    resolve_connection,
)
from reddit_activity_tracker.listings import COMMENTS, SUBMISSIONS, walk, walk_window
from reddit_activity_tracker.preprocess import documents, removed_submission_ids
from reddit_activity_tracker.protocol_impl import RedditCollectResult
from reddit_activity_tracker.refresh import read_missing_submissions, read_tree, refresh
from reddit_activity_tracker.rows import write_comments, write_submissions
from reddit_activity_tracker.state import RedditState
from reddit_activity_tracker.tables import MIGRATIONS

__all__ = ["RedditCollector", "SubredditsFailedError"]

log = logging.getLogger("reddit_activity_tracker")


class SubredditsFailedError(CollectorError):
    """Several subreddits failed: ``category`` is the worst of theirs; each is named."""

    def __init__(
        self, message: str, *, category: CollectorFailureCategory, retry_at: dt.datetime | None
    ) -> None:
        super().__init__(message)
        self.category = category
        self.retry_at = retry_at


class RedditCollector(AbstractCollector):
    name = "reddit"
    vector_source = "reddit"
    migrations = MIGRATIONS

    settings: RedditConfig
    credentials: RedditCredentials
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    _auth: OAuth2ClientCredentials | None = None

    def validate_config(self) -> None:
        self.settings = RedditConfig.parse(self.raw_config)
        self.credentials = resolve_connection(
            self.context.connection(self.settings.connection_id), self.settings
        )
        self.api_url, self.token_url = base_urls(self.settings)
        if self.context.partition is not None:
            self.settings.subreddit(self.context.partition)

    def secrets(self) -> list[str]:
        found = [self.credentials.client_secret] if hasattr(self, "credentials") else []
        return found + (self._auth.secrets() if self._auth is not None else [])

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles, written with every page
        return super().migrate()

    def list_partitions(self) -> list[str]:
        return [sub.name for sub in self.settings.subreddits]

    def client(self) -> RedditClient:
        creds = self.credentials
        self._auth = OAuth2ClientCredentials(
            self.token_url,
            creds.client_id,
            creds.client_secret,
            user_agent=creds.user_agent,
            clock=self.clock,
        )
        return RedditClient(
            self.api_url,
            self._auth,
            user_agent=creds.user_agent,
            queries_per_minute=self.settings.queries_per_minute,
            min_remaining=self.settings.min_remaining,
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
            clock=self.clock,
            sleep=self.sleep,
        )

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def preflight(self) -> None:
        """The credentials mint a token and every subreddit is readable (not private or banned)."""
        with self.client() as client:
            for sub in self.settings.subreddits:
                client.get(f"/r/{sub.name}/about", {"raw_json": 1})

    def collect(self) -> RedditCollectResult:
        names = [self.context.partition] if self.context.partition else self.list_partitions()
        subs = [self.settings.subreddit(name) for name in names]
        counts: collections.Counter[str] = collections.Counter()
        errors: list[str] = []
        failures: list[tuple[str, Exception]] = []
        client = self.client()
        with client:
            for sub in subs:
                try:
                    self._collect_subreddit(client, sub, counts, errors)
                except Exception as exc:  # noqa: BLE001 - one subreddit failing never stops (or moves) another
                    log.error("r/%s failed [%s]: %s", sub.name, classify_failure(exc).value,
                              sanitize_exception_message(exc, self.secrets()))  # fmt: skip
                    failures.append((sub.name, exc))
            counts.update(client.stats.counts("http_"))
            counts["http_paced_ms"] = round(client.paced.paced_seconds * 1000)
            counts["token_mints"] = self._auth.mints if self._auth is not None else 0
        if failures:
            raise failures[0][1] if len(failures) == 1 else self._worst(failures)
        for error in errors:
            log.warning("%s", error)
        return RedditCollectResult(success=True, counts=dict(counts), errors=errors)

    def _collect_subreddit(
        self, client: RedditClient, sub: SubredditConfig, counts: collections.Counter[str], errors: list[str]
    ) -> None:
        ctx, settings, now = self.context, self.settings, self.now()
        checkpoint = Checkpointer.load(
            self.store, self.name, sub.name, RedditState.from_state,
            full_refresh=ctx.full_refresh, bounded=ctx.bounded, counts=counts,
        )  # fmt: skip
        streams = (SUBMISSIONS,) if sub.mode == "keyword" else (SUBMISSIONS, COMMENTS)

        def keep(item: Any) -> bool:  # keyword mode keeps matched submissions only
            return sub.mode == "full" or bool(sub.matches(item.title, item.selftext))

        new_posts: list[Any] = []
        for stream in streams:
            if ctx.bounded:
                window = Window(ctx.since, ctx.until)
                found = walk_window(client, stream, sub, checkpoint, page_size=settings.page_size, window=window,
                                    now=now, counts=counts, keep=keep)  # fmt: skip
            else:
                found = walk(
                    client, stream, sub, checkpoint, page_size=settings.page_size, now=now, counts=counts,
                    first_floor=now - dt.timedelta(days=settings.lookback_days),
                    overlap=dt.timedelta(minutes=settings.overlap_minutes), keep=keep,
                )  # fmt: skip
            if stream is SUBMISSIONS:
                new_posts = found
            elif found:
                read_missing_submissions(
                    client, sub, checkpoint, found, now=now, counts=counts, errors=errors
                )
        trees = [p.id for p in new_posts if p.num_comments > 0] if sub.mode == "keyword" else []
        if not ctx.bounded and settings.refresh_days > 0:
            last = checkpoint.state.refreshed
            if last is None:  # everything was just read: the first refresh is due one interval later
                checkpoint.commit(lambda _conn: None, checkpoint.state.with_refreshed(now.timestamp()))
            elif now.timestamp() - last >= settings.refresh_interval_minutes * 60:
                since = now - dt.timedelta(days=settings.refresh_days)
                trees += refresh(client, sub, checkpoint, since=since, now=now, counts=counts, errors=errors)
                checkpoint.commit(lambda _conn: None, checkpoint.state.with_refreshed(now.timestamp()))
        for post_id in dict.fromkeys(trees):
            post, comments = read_tree(
                client, post_id, max_requests=settings.max_tree_requests, counts=counts
            )

            def work(conn: Any, post: Any = post, comments: Any = comments) -> None:
                if post is not None:
                    write_submissions(conn, [post], sub, now)
                if comments:
                    write_comments(conn, comments, sub, now)

            checkpoint.commit(work)
            counts["tree_comments"] += len(comments)

    def _worst(self, failures: list[tuple[str, Exception]]) -> SubredditsFailedError:
        categories = [classify_failure(exc) for _name, exc in failures]
        worst = worst_category(categories)
        parts = [f"r/{name} [{category.value}]: {sanitize_exception_message(exc, self.secrets())[:300]}"
                 for (name, exc), category in zip(failures, categories, strict=True)]  # fmt: skip
        retry_ats = [exc.retry_at for _n, exc in failures if isinstance(exc, RateLimitError) and exc.retry_at]
        error = SubredditsFailedError(
            f"{len(failures)} subreddits failed (worst: {worst.value}): " + " | ".join(parts),
            category=worst,
            retry_at=max(retry_ats) if retry_ats and worst is CollectorFailureCategory.RATE_LIMIT else None,
        )
        error.__cause__ = next(exc for (_n, exc), c in zip(failures, categories, strict=True) if c is worst)
        return error

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, self.settings.document, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_submission_ids(self.store.engine, self.settings.document, changed_since)
