"""The transcript step: due videos, one transaction per video, back-off per video, and a
circuit breaker that ends the run as ``rate_limit`` after consecutive blocks.

Back-off: ``none``/``disabled`` are asked again after 7 then 30 days, ``error`` after 1 then 7
days, until ``max_attempts``; ``blocked`` (about this host, not the video) after
``blocked_retry_hours`` without spending an attempt; ``unavailable`` never again.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable

import orjson
from sqlalchemy import Connection, and_, or_, select

from core.errors import RateLimitError
from core.store import Store, upsert_rows
from youtube_activity_tracker.config import YouTubeConfig
from youtube_activity_tracker.tables import yt_transcript_status as status_table
from youtube_activity_tracker.tables import yt_transcripts, yt_videos
from youtube_activity_tracker.transcript_source import Transcript, TranscriptMissing, TranscriptSource

__all__ = ["RETRY_DAYS", "TranscriptRun", "due_videos"]

RETRY_DAYS = {"none": (7, 30), "disabled": (7, 30), "error": (1, 7)}
RETRYABLE = ("none", "disabled", "blocked", "error")


def due_videos(store: Store, settings: YouTubeConfig, now: dt.datetime) -> list[tuple[str, int]]:
    """(video id, attempts so far) of available, finished videos long enough, never asked or due again;
    newest first."""
    query = (
        select(yt_videos.c.video_id, status_table.c.attempts)
        .outerjoin(status_table, status_table.c.video_id == yt_videos.c.video_id)
        .where(
            yt_videos.c.unavailable_at.is_(None),
            yt_videos.c.live_broadcast_content == "none",
            yt_videos.c.duration_s >= settings.min_duration_seconds,
            or_(
                status_table.c.video_id.is_(None),
                and_(status_table.c.status.in_(RETRYABLE), status_table.c.next_attempt_at <= now),
            ),
        )
        .order_by(yt_videos.c.published_at.desc(), yt_videos.c.video_id)
        .limit(settings.max_videos_per_run)
    )
    with store.engine.connect() as conn:
        return [(row.video_id, int(row.attempts or 0)) for row in conn.execute(query)]


@dataclasses.dataclass
class TranscriptRun:
    store: Store
    source: TranscriptSource
    settings: YouTubeConfig
    now: Callable[[], dt.datetime]
    counts: collections.Counter[str]

    def run(self) -> None:
        blocked_in_a_row = 0
        for video_id, attempts in due_videos(self.store, self.settings, self.now()):
            try:
                transcript = self.source.fetch(video_id, self.settings.languages)
            except TranscriptMissing as missing:
                self._missing(video_id, attempts, missing)
                blocked_in_a_row = blocked_in_a_row + 1 if missing.status == "blocked" else 0
                if blocked_in_a_row >= self.settings.max_blocked_per_run:
                    retry_at = self.now() + dt.timedelta(hours=self.settings.blocked_retry_hours)
                    raise RateLimitError(
                        f"YouTube blocked {blocked_in_a_row} transcript requests in a row ({missing}); "
                        f"stopping to avoid a longer ban, retry after {retry_at:%Y-%m-%d %H:%M} UTC "
                        "(configure a proxy: docs/youtube.md)",
                        retry_at=retry_at,
                    ) from None
                continue
            blocked_in_a_row = 0
            self._stored(video_id, transcript)

    def _stored(self, video_id: str, transcript: Transcript) -> None:
        now = self.now()
        segments = [[round(s, 3), round(d, 3), text] for s, d, text in transcript.segments]
        text = "\n".join(str(s[2]) for s in segments)
        row = {
            "video_id": video_id, "language_code": transcript.language_code, "kind": transcript.kind,
            "source": "ytt-api", "text": text, "segments": segments,
            "content_hash": hashlib.sha256(orjson.dumps(segments)).hexdigest(), "fetched_at": now,
        }  # fmt: skip
        with self.store.transaction() as conn:
            upsert_rows(
                conn,
                yt_transcripts,
                [row],
                ["video_id"],
                only_if_changed=["content_hash", "kind", "language_code"],
            )
            self._status(conn, video_id, "ok", 0, None, None, now)
        self.counts["transcripts"] += 1
        self.counts[f"transcripts_{transcript.kind}"] += 1

    def _missing(self, video_id: str, attempts: int, missing: TranscriptMissing) -> None:
        now = self.now()
        if missing.status == "blocked":
            next_at: dt.datetime | None = now + dt.timedelta(hours=self.settings.blocked_retry_hours)
        elif missing.status == "unavailable":
            attempts, next_at = attempts + 1, None
        else:
            attempts += 1
            delays = RETRY_DAYS[missing.status]
            next_at = (
                None
                if attempts >= self.settings.max_attempts
                else now + dt.timedelta(days=delays[min(attempts, len(delays)) - 1])
            )
        with self.store.transaction() as conn:
            self._status(conn, video_id, missing.status, attempts, next_at, str(missing), now)
        self.counts[f"transcripts_{missing.status}"] += 1

    @staticmethod
    def _status(
        conn: Connection,
        video_id: str,
        status: str,
        attempts: int,
        next_at: dt.datetime | None,
        error: str | None,
        now: dt.datetime,
    ) -> None:
        row = {"video_id": video_id, "status": status, "attempts": attempts, "next_attempt_at": next_at,
               "last_error": error, "updated_at": now}  # fmt: skip
        upsert_rows(conn, status_table, [row], ["video_id"])
