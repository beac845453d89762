"""Documents for the vector step: one per available video with a transcript, or with a long
enough description. Unavailable videos (deleted, private) leave the index."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sqlalchemy import Engine, RowMapping, select, union

from core.store import as_utc
from core.vectors.documents import Document
from youtube_activity_tracker.captions import speakers_from_title, transcript_paragraphs
from youtube_activity_tracker.tables import yt_transcripts as transcripts
from youtube_activity_tracker.tables import yt_videos as videos

__all__ = ["SOURCE", "documents", "removed_video_ids", "watch_url"]

SOURCE = "youtube"
_URL = re.compile(r"https?://\S+")


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def documents(
    engine: Engine,
    changed_since: int | None,
    doc_ids: Iterable[str],
    *,
    min_duration_seconds: int,
    min_description_chars: int,
) -> Iterator[Document]:
    wanted = sorted(set(doc_ids))
    query = (
        select(
            videos,
            transcripts.c.text.label("transcript"),
            transcripts.c.segments,
            transcripts.c.kind,
            transcripts.c.language_code,
        )
        .outerjoin(transcripts, transcripts.c.video_id == videos.c.video_id)
        .where(videos.c.unavailable_at.is_(None), videos.c.live_broadcast_content == "none")
        .order_by(videos.c.video_id)
    )
    if changed_since is not None:  # the video's row or its transcript changed, or asked for again
        changed = union(
            select(videos.c.video_id).where(videos.c.change_seq >= changed_since),
            select(transcripts.c.video_id).where(transcripts.c.change_seq >= changed_since),
        )
        query = query.where(videos.c.video_id.in_(changed) | videos.c.video_id.in_(wanted))
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            if (row["duration_s"] or 0) < min_duration_seconds:
                continue  # Shorts and clips
            description = _URL.sub("", row["description"] or "").strip()
            has_transcript = row["transcript"] is not None
            if not has_transcript and len(description) < min_description_chars:
                continue
            yield _document(row, description)


def _document(row: RowMapping, description: str) -> Document:
    speakers = speakers_from_title(row["title"], row["channel_title"])
    published = as_utc(row["published_at"])
    lines = [
        f"Title: {row['title']}",
        f"Speakers: {', '.join(speakers)}" if speakers else "",
        f"Channel: {row['channel_title']}",
        f"Published: {published:%Y-%m-%d}",
        f"\nDescription:\n{description}" if description else "",
    ]
    if row["transcript"] is not None:
        lines.append("\nTranscript:\n" + transcript_paragraphs(row["segments"] or []))
    return Document(
        source=SOURCE,
        doc_id=row["video_id"],
        title=row["title"],
        text="\n".join(line for line in lines if line),
        updated_at=published,
        metadata={
            "video_id": row["video_id"],
            "url": watch_url(row["video_id"]),
            "channel": row["channel_title"],
            "channel_id": row["channel_id"],
            "published_at": published.isoformat(),
            "duration_s": int(row["duration_s"] or 0),
            "speakers": speakers,
            "transcript_kind": row["kind"] or "none",
            "language": row["language_code"] or "",
        },
    )


def removed_video_ids(engine: Engine, changed_since: int | None) -> list[str]:
    """Videos marked unavailable (since the horizon): their records leave the index."""
    query = select(videos.c.video_id).where(videos.c.unavailable_at.is_not(None))
    if changed_since is not None:
        query = query.where(videos.c.change_seq >= changed_since)
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]
