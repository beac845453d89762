"""``NewsfeedCollector``: two declared streams read by the framework, and their documents.

What is not here is the framework's: HTTP (key, limits, retries, paging, ETag), per-page
transactions (rows + checkpoint CAS + validators), bounded runs, the collect lock, vector sync.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable

from core.collectors import AbstractCollector
from core.identity import ensure_identity
from core.operations.http import HeaderAuth, HttpClient, HttpClientConfig
from core.store import StoreEtagCache
from core.streams import Checkpointer, StreamCursors, Window, read_stream
from core.vectors.documents import Document
from newsfeed_activity_tracker.config import NewsfeedConfig, resolve_connection
from newsfeed_activity_tracker.preprocess import documents, removed_story_ids
from newsfeed_activity_tracker.protocol_impl import NewsfeedCollectResult
from newsfeed_activity_tracker.streams import STREAMS
from newsfeed_activity_tracker.tables import MIGRATIONS

__all__ = ["NewsfeedCollector"]


class NewsfeedCollector(AbstractCollector):
    name = "newsfeed"
    vector_source = "newsfeed"
    migrations = MIGRATIONS

    settings: NewsfeedConfig
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def validate_config(self) -> None:
        self.settings = NewsfeedConfig.parse(self.raw_config)
        connection = self.context.connection(self.settings.connection_id)
        self.base_url, self.api_keys = resolve_connection(connection, self.settings)

    def secrets(self) -> list[str]:
        return list(getattr(self, "api_keys", []))

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles, written with every page
        return super().migrate()

    def client(self) -> HttpClient:
        config = HttpClientConfig(
            base_url=self.base_url,
            api_name="Newsfeed API",
            logger="newsfeed_activity_tracker",
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
        )
        return HttpClient(
            config,
            tokens=self.api_keys,  # none: anonymous
            credential=functools.partial(HeaderAuth, header="X-Api-Key", prefix=""),
            etag_cache=StoreEtagCache(self.store.engine),  # ETag/304 validators live in the store
            clock=self.clock,
            sleep=self.sleep,
        )

    def preflight(self) -> None:
        with self.client() as client:
            client.get("/v1/stories", {"limit": 1})  # reachable, and the key (if any) is accepted

    def collect(self) -> NewsfeedCollectResult:
        ctx = self.context
        counts: collections.Counter[str] = collections.Counter()
        checkpoint = Checkpointer.load(
            self.store, self.name, "", StreamCursors.from_state,
            full_refresh=ctx.full_refresh, bounded=ctx.bounded, counts=counts,
        )  # fmt: skip
        window = Window(ctx.since, ctx.until) if ctx.bounded else None
        with self.client() as client:
            for stream in STREAMS:
                paged = dataclasses.replace(
                    stream, params={**stream.params, str(stream.page_size_param): self.settings.page_size}
                )
                read_stream(
                    client, paged, checkpoint, window=window, counts=counts,
                    overlap=dt.timedelta(minutes=self.settings.overlap_minutes),
                    conditional=None if ctx.full_refresh else f"{self.name}:{stream.name}",
                )  # fmt: skip
            counts.update(client.stats.counts("http_"))
        return NewsfeedCollectResult(success=True, counts=counts)

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_story_ids(self.store.engine, changed_since)
