"""``YouTubeCollector`` (metadata: channels, playlists, search; DAG ``collect_youtube``) and
``YouTubeTranscriptCollector`` (transcripts; DAG ``collect_youtube_transcripts``).

Both own the same tables (component ``youtube``) and feed the same documents (vector source
``youtube``), so either sync step indexes what the other stored; transcripts being blocked
never fails the metadata collection.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable, Iterable

from pydantic import TypeAdapter

from core.collectors import AbstractCollector
from core.errors import ConfigError, DataValidationError
from core.identity import ensure_identity
from core.vectors.documents import Document
from youtube_activity_tracker.api import YouTubeApi
from youtube_activity_tracker.api_schemas import Channel
from youtube_activity_tracker.config import YouTubeConfig, resolve_api, resolve_proxy
from youtube_activity_tracker.preprocess import documents, removed_video_ids
from youtube_activity_tracker.protocol_impl import YouTubeCollectResult
from youtube_activity_tracker.rows import write_channel
from youtube_activity_tracker.search import SearchDiscovery
from youtube_activity_tracker.state import PartitionState
from youtube_activity_tracker.tables import MIGRATIONS
from youtube_activity_tracker.transcript_source import TranscriptSource, YttApiSource
from youtube_activity_tracker.transcripts import TranscriptRun
from youtube_activity_tracker.walk import PlaylistWalk, parse_items

__all__ = ["YouTubeCollector", "YouTubeTranscriptCollector"]

COMPONENT = "youtube"  # owner of the tables, whichever collector migrates first
_CHANNELS = TypeAdapter(list[Channel])
PREFLIGHT_VIDEO_ID = "jNQXAC9IVRw"


class _YouTubeBase(AbstractCollector):
    vector_source = "youtube"
    migrations = MIGRATIONS

    settings: YouTubeConfig
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def validate_config(self) -> None:
        self.settings = YouTubeConfig.parse(self.raw_config)
        if self.context.bounded:
            raise ConfigError(
                f"{self.name}: since/until are not supported (YouTube lists are walked newest first "
                "until known videos); use full_refresh to re-read everything"
            )

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles: channels and speakers, written with the videos
        return self.store.migrate(COMPONENT, self.migrations)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(
            self.store.engine, changed_since, doc_ids,
            min_duration_seconds=self.settings.min_duration_seconds,
            min_description_chars=self.settings.min_description_chars,
        )  # fmt: skip

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_video_ids(self.store.engine, changed_since)


class YouTubeCollector(_YouTubeBase):
    """Partitions ``channel:<id>``, ``playlist:<id>`` and ``search``; see docs/youtube.md."""

    name = "youtube"

    def validate_config(self) -> None:
        super().validate_config()
        if not self.settings.partitions():
            raise ConfigError("youtube config: list at least one of channels, playlists or search.queries")
        self.base_url, self.api_keys = resolve_api(
            self.context.connection(self.settings.connection_id), self.settings
        )

    def secrets(self) -> list[str]:
        return list(getattr(self, "api_keys", []))

    def api(self) -> YouTubeApi:
        return YouTubeApi(self.base_url, self.api_keys, max_rate_limit_wait=self.settings.max_rate_limit_wait,
                          clock=self.clock, sleep=self.sleep)  # fmt: skip

    def list_partitions(self) -> list[str]:
        return self.settings.partitions()

    def preflight(self) -> None:
        """One unit: the key is accepted and the API enabled for its project (any well-formed id
        answers 200, with no item when it does not exist)."""
        with self.api() as api:
            api.get("/videos", {"part": "id", "id": PREFLIGHT_VIDEO_ID})

    def collect(self) -> YouTubeCollectResult:
        known = self.settings.partitions()
        partitions = [self.context.partition] if self.context.partition else known
        unknown = [p for p in partitions if p not in known]
        if unknown:
            raise ConfigError(f"youtube collector: partition {unknown[0]!r} is not in the config")
        counts: collections.Counter[str] = collections.Counter()
        with self.api() as api:
            try:
                for partition in partitions:  # one quota for all: the first failure ends the run
                    self._collect_partition(api, str(partition), counts)
            finally:
                counts.update(api.counts())
        return YouTubeCollectResult(success=True, counts=counts)

    def _collect_partition(self, api: YouTubeApi, partition: str, counts: collections.Counter[str]) -> None:
        state = PartitionState(self.store, self.name, partition, fresh=self.context.full_refresh)
        kind, _, ident = partition.partition(":")
        if kind == "search":
            SearchDiscovery(api, self.store, state, self.settings.search, self.now, counts).run()
            return
        playlist_id = ident
        if kind == "channel":
            channels: list[Channel] = parse_items(_CHANNELS, api.channels([ident]), "/channels")
            if not channels:
                raise DataValidationError(
                    f"channel {ident} does not exist (or is not public)", source="/channels"
                )
            with self.store.transaction() as conn:
                write_channel(conn, channels[0], self.now())
            uploads = channels[0].content_details.related_playlists.uploads
            if not uploads:
                raise DataValidationError(f"channel {ident} has no uploads playlist", source="/channels")
            playlist_id = uploads
        walk = PlaylistWalk(api, self.store, state, playlist_id, self.settings.page_size,
                            self.settings.stop_after_known, self.now, counts, full=self.context.full_refresh)  # fmt: skip
        walk.run()
        walk.refresh_stats(dt.timedelta(days=self.settings.stats_refresh_days))


class YouTubeTranscriptCollector(_YouTubeBase):
    """Transcripts of stored videos (``youtube-transcript-api``), unpartitioned."""

    name = "youtube_transcripts"

    def validate_config(self) -> None:
        super().validate_config()
        conn_id = self.settings.proxy_connection_id
        self.proxy = resolve_proxy(self.context.connection(conn_id) if conn_id else None, conn_id)

    def secrets(self) -> list[str]:
        proxy = getattr(self, "proxy", None)
        return list(proxy.secrets) if proxy else []

    def source(self) -> TranscriptSource:
        return YttApiSource(
            self.proxy, origin=self.settings.transcript_base_url, max_bytes=self.settings.max_transcript_bytes
        )

    def collect(self) -> YouTubeCollectResult:
        counts: collections.Counter[str] = collections.Counter()
        TranscriptRun(self.store, self.source(), self.settings, self.now, counts).run()
        return YouTubeCollectResult(success=True, counts=counts)
