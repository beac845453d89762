"""The tracker's own tables and their forward-only migrations.

``yt_videos`` and ``yt_transcripts`` feed documents, so they carry ``change_seq``; view and
like counts live in ``yt_video_stats`` so the weekly refresh never rebuilds a document.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = [
    "MIGRATIONS",
    "yt_channels",
    "yt_playlist_items",
    "yt_transcript_status",
    "yt_transcripts",
    "yt_video_stats",
    "yt_videos",
]

metadata = MetaData()
# JSONB on PostgreSQL: comparable, so an unchanged re-read of a video updates nothing.
JSON_VALUE = JSON().with_variant(JSONB(), "postgresql")

yt_channels = Table(
    "yt_channels",
    metadata,
    Column("channel_id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("handle", String(200)),
    Column("uploads_playlist_id", String(64)),
    Column("subscriber_count", BigInteger),
    Column("video_count", BigInteger),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
yt_playlist_items = Table(
    "yt_playlist_items",
    metadata,
    Column("playlist_id", String(64), primary_key=True),
    Column("video_id", String(32), primary_key=True),
    Column("position", Integer),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)
yt_videos = Table(
    "yt_videos",
    metadata,
    Column("video_id", String(32), primary_key=True),
    Column("channel_id", String(64), nullable=False, index=True),
    Column("channel_title", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("duration_s", Integer),
    Column("tags", JSON_VALUE, nullable=False),
    Column("category_id", String(16)),
    Column("default_language", String(32)),
    Column("default_audio_language", String(32)),
    Column("live_broadcast_content", String(16), nullable=False),
    Column("privacy_status", String(32)),
    Column("search_term", Text),
    Column("unavailable_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    change_column(),
)
yt_video_stats = Table(
    "yt_video_stats",
    metadata,
    Column("video_id", String(32), primary_key=True),
    Column("view_count", BigInteger),
    Column("like_count", BigInteger),
    Column("comment_count", BigInteger),
    Column("stats_at", DateTime(timezone=True), nullable=False, index=True),
)
yt_transcripts = Table(
    "yt_transcripts",
    metadata,
    Column("video_id", String(32), primary_key=True),
    Column("language_code", String(32), nullable=False),
    Column("kind", String(8), nullable=False),  # manual | asr
    Column("source", String(16), nullable=False),  # ytt-api
    Column("text", Text, nullable=False),
    Column("segments", JSON, nullable=False),  # [[start, duration, text], ...]
    Column("content_hash", String(64), nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    change_column(),
)
yt_transcript_status = Table(
    "yt_transcript_status",
    metadata,
    Column("video_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # ok none disabled blocked unavailable error
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),  # NULL: never again
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS = (
    Migration(
        1,
        "channels, playlist items, videos, stats, transcripts",
        create_tables(
            yt_channels, yt_playlist_items, yt_videos, yt_video_stats, yt_transcripts, yt_transcript_status
        ),
    ),
    Migration(2, "change_seq for the vector step", track_changes(yt_videos, yt_transcripts)),
)
