"""A playlist walked newest first (a channel's uploads, or a configured playlist).

The walk stops after ``stop_after_known`` consecutive entries already stored for the playlist.
Each page commits its videos, its playlist entries and the checkpoint together; while a walk is
unfinished the checkpoint keeps the next page's token, so a run cut short (quota, crash) resumes
there instead of stopping at the first page it already stored: no video is skipped.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from core.errors import DataValidationError, json_location
from core.store import Store
from youtube_activity_tracker.api import YouTubeApi
from youtube_activity_tracker.api_schemas import PlaylistItem, Video
from youtube_activity_tracker.rows import (
    known_playlist_items,
    known_videos,
    mark_unavailable,
    write_playlist_items,
    write_videos,
)
from youtube_activity_tracker.state import PartitionState
from youtube_activity_tracker.tables import yt_playlist_items, yt_video_stats

__all__ = ["PlaylistWalk", "fetch_videos", "parse_items"]

T = TypeVar("T")

_ITEMS = TypeAdapter(list[PlaylistItem])
_VIDEOS = TypeAdapter(list[Video])


def parse_items(adapter: TypeAdapter[list[T]], data: object, endpoint: str) -> list[T]:
    """A page's ``items`` validated whole: a bad one names the endpoint and its field."""
    try:
        return adapter.validate_python(data or [])
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataValidationError(
            f"{first['msg']}", source=endpoint, location=json_location(first["loc"])
        ) from None


def fetch_videos(api: YouTubeApi, ids: list[str]) -> list[Video]:
    videos: list[Video] = []
    for start in range(0, len(ids), 50):
        videos += parse_items(_VIDEOS, api.videos(ids[start : start + 50]), "/videos")
    return videos


@dataclasses.dataclass
class PlaylistWalk:
    api: YouTubeApi
    store: Store
    state: PartitionState
    playlist_id: str
    page_size: int
    stop_after_known: int
    now: Callable[[], dt.datetime]
    counts: collections.Counter[str]
    full: bool = False  # a full refresh: every page, every video's details read again

    def run(self) -> None:
        resume = self.state.extras.get("resume_token")
        if resume:  # an earlier walk stopped before its end: finish it first
            self.counts["walks_resumed"] += 1
            self._walk(str(resume))
        self._walk(None)

    def _walk(self, page_token: str | None) -> None:
        streak = 0
        stop_after = 10**9 if self.full else self.stop_after_known
        seen_tokens: set[str] = set()
        while True:
            page = self.api.playlist_page(self.playlist_id, page_token, self.page_size)
            items: list[PlaylistItem] = parse_items(_ITEMS, page.get("items"), "/playlistItems")
            self.counts["playlist_pages"] += 1
            ids = [i.video_id for i in items if i.video_id]
            with self.store.engine.connect() as conn:
                known_here = known_playlist_items(conn, self.playlist_id, ids) if ids else set()
                stored = known_videos(conn, ids) if ids else set()
            kept: list[PlaylistItem] = []
            for item in items:
                streak = streak + 1 if item.video_id in known_here else 0
                kept.append(item)
                if streak >= stop_after:
                    break
            placeholders = {i.video_id for i in kept if i.video_id and i.is_placeholder}
            wanted = [
                i.video_id
                for i in kept
                if i.video_id and (self.full or i.video_id not in stored) and i.video_id not in placeholders
            ]
            videos = fetch_videos(self.api, wanted) if wanted else []
            missing = set(wanted) - {v.id for v in videos}
            next_token = page.get("nextPageToken") if streak < stop_after else None
            now = self.now()
            with self.store.transaction() as conn:
                write_videos(conn, videos, now)
                self.counts["videos_new"] += sum(1 for v in videos if v.id not in stored)
                write_playlist_items(conn, self.playlist_id, kept, now)
                self.counts["videos_unavailable"] += mark_unavailable(conn, placeholders, now)
                extras = {**self.state.extras, "resume_token": next_token}
                if videos and page_token is None:  # the head page: the newest upload
                    newest = max(videos, key=lambda v: v.snippet.published_at)
                    extras["newest_video_id"] = newest.id
                    extras["newest_published_at"] = newest.snippet.published_at.isoformat()
                self.state.save(conn, extras, marker=extras.get("newest_published_at"))
            self.counts["videos_skipped_unavailable"] += len(missing)
            if not next_token:
                return
            if str(next_token) in seen_tokens:
                raise DataValidationError(
                    f"playlist {self.playlist_id} pages loop back (nextPageToken repeated)",
                    source="/playlistItems",
                )
            page_token = str(next_token)
            seen_tokens.add(page_token)

    def refresh_stats(self, every: dt.timedelta) -> None:
        """Re-read every video of the playlist (50 per unit) when the last refresh is ``every`` old:
        statistics updated, content edits applied, videos gone marked unavailable."""
        last = self.state.extras.get("stats_refreshed_at")
        now = self.now()
        if last is None or self.full:  # the walk has just read every video: refresh from now on
            with self.store.transaction() as conn:
                self.state.save(conn, {**self.state.extras, "stats_refreshed_at": now.isoformat()})
            return
        if now - dt.datetime.fromisoformat(str(last)) < every:
            return
        with self.store.engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(yt_playlist_items.c.video_id)
                    .join(yt_video_stats, yt_video_stats.c.video_id == yt_playlist_items.c.video_id)
                    .where(yt_playlist_items.c.playlist_id == self.playlist_id)
                    .order_by(yt_playlist_items.c.video_id)
                ).scalars()
            )
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            videos = fetch_videos(self.api, chunk)
            with self.store.transaction() as conn:
                write_videos(conn, videos, now)
                self.counts["videos_unavailable"] += mark_unavailable(
                    conn, set(chunk) - {v.id for v in videos}, now
                )
            self.counts["stats_refreshed"] += len(videos)
        with self.store.transaction() as conn:
            self.state.save(conn, {**self.state.extras, "stats_refreshed_at": now.isoformat()},
                            marker=self.state.extras.get("newest_published_at"))  # fmt: skip
