"""How API resources become rows, and the few reads the walk needs (all inside one transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Connection, select, update

from core.identity import Profile, upsert_profiles
from core.store import upsert_rows
from youtube_activity_tracker.api_schemas import Channel, PlaylistItem, Video, iso_duration_seconds
from youtube_activity_tracker.captions import speakers_from_title
from youtube_activity_tracker.tables import yt_channels, yt_playlist_items, yt_video_stats, yt_videos

__all__ = [
    "known_playlist_items",
    "known_videos",
    "mark_unavailable",
    "write_channel",
    "write_playlist_items",
    "write_videos",
]

# A change in one of these rebuilds the video's document; anything else is left alone.
_CONTENT = ["title", "description", "duration_s", "tags", "live_broadcast_content", "privacy_status",
            "unavailable_at", "channel_title"]  # fmt: skip


def write_channel(conn: Connection, channel: Channel, now: dt.datetime) -> None:
    row = {
        "channel_id": channel.id,
        "title": channel.snippet.title,
        "handle": channel.snippet.custom_url,
        "uploads_playlist_id": channel.content_details.related_playlists.uploads,
        "subscriber_count": channel.statistics.subscriber_count,
        "video_count": channel.statistics.video_count,
        "updated_at": now,
    }
    upsert_rows(conn, yt_channels, [row], ["channel_id"])
    profile = Profile(
        channel.id,
        seen_at=now,
        username=channel.snippet.custom_url,
        display_name=channel.snippet.title,
        profile_url=f"https://www.youtube.com/channel/{channel.id}",
    )
    upsert_profiles(conn, "youtube", [profile])


def write_videos(
    conn: Connection, videos: Sequence[Video], now: dt.datetime, *, search_term: str | None = None
) -> None:
    """Upsert videos (a document is rebuilt only when its content changed) and their statistics."""
    rows = []
    for v in videos:
        row = {
            "video_id": v.id,
            "channel_id": v.snippet.channel_id,
            "channel_title": v.snippet.channel_title,
            "title": v.snippet.title,
            "description": v.snippet.description,
            "published_at": v.snippet.published_at,
            "duration_s": iso_duration_seconds(v.content_details.duration),
            "tags": list(v.snippet.tags),
            "category_id": v.snippet.category_id,
            "default_language": v.snippet.default_language,
            "default_audio_language": v.snippet.default_audio_language,
            "live_broadcast_content": v.snippet.live_broadcast_content,
            "privacy_status": v.status.privacy_status,
            "unavailable_at": None,
            "updated_at": now,
        }
        rows.append({**row, "search_term": search_term} if search_term else row)
    if rows:
        upsert_rows(conn, yt_videos, rows, ["video_id"], only_if_changed=_CONTENT)
    stats = [
        {"video_id": v.id, "view_count": v.statistics.view_count, "like_count": v.statistics.like_count,
         "comment_count": v.statistics.comment_count, "stats_at": now}
        for v in videos
    ]  # fmt: skip
    if stats:
        upsert_rows(conn, yt_video_stats, stats, ["video_id"])
    _speaker_profiles(conn, videos)


def _speaker_profiles(conn: Connection, videos: Sequence[Video]) -> None:
    """Speakers guessed from talk titles, as low-confidence profiles keyed by the lower-cased name
    (a speaker has no id): the identity job may link them, never automatically."""
    profiles = [
        Profile(
            name.casefold(),
            seen_at=v.snippet.published_at,
            display_name=name,
            attrs={"confidence": "low", "evidence": "title", "video_id": v.id},
        )
        for v in videos
        for name in speakers_from_title(v.snippet.title, v.snippet.channel_title)
    ]
    if profiles:
        upsert_profiles(conn, "youtube_speaker", profiles)


def mark_unavailable(conn: Connection, video_ids: Collection[str], now: dt.datetime) -> int:
    """Stored videos the API no longer returns (deleted or private): their documents are removed."""
    if not video_ids:
        return 0
    result = conn.execute(
        update(yt_videos)
        .where(yt_videos.c.video_id.in_(sorted(video_ids)), yt_videos.c.unavailable_at.is_(None))
        .values(unavailable_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)


def write_playlist_items(
    conn: Connection, playlist_id: str, items: Iterable[PlaylistItem], now: dt.datetime
) -> None:
    rows = [
        {"playlist_id": playlist_id, "video_id": i.video_id, "position": i.snippet.position, "seen_at": now}
        for i in items
        if i.video_id
    ]
    if rows:
        upsert_rows(conn, yt_playlist_items, rows, ["playlist_id", "video_id"])


def known_playlist_items(conn: Connection, playlist_id: str, video_ids: Collection[str]) -> set[str]:
    query = select(yt_playlist_items.c.video_id).where(
        yt_playlist_items.c.playlist_id == playlist_id, yt_playlist_items.c.video_id.in_(sorted(video_ids))
    )
    return set(conn.execute(query).scalars())


def known_videos(conn: Connection, video_ids: Collection[str]) -> set[str]:
    query = select(yt_videos.c.video_id).where(yt_videos.c.video_id.in_(sorted(video_ids)))
    return set(conn.execute(query).scalars())
