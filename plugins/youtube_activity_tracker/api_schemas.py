"""What the YouTube Data API v3 sends: the parts of its resources the tracker reads.

Unknown fields are ignored (the API adds some); every field the API may omit is optional, so
old videos, private placeholders and live events all parse.
"""

from __future__ import annotations

import re

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "Channel",
    "PlaylistItem",
    "SearchResult",
    "Video",
    "iso_duration_seconds",
]

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def iso_duration_seconds(value: str | None) -> int | None:
    """``PT1H2M3S`` -> 3723; ``P0D`` (live, upcoming) -> 0; anything else -> ``None``."""
    if not value:
        return None
    match = _DURATION.match(value)
    if match is None:
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return int(days * 86400 + hours * 3600 + minutes * 60 + seconds)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ChannelSnippet(_Model):
    title: str = ""
    custom_url: str | None = Field(default=None, alias="customUrl")


class RelatedPlaylists(_Model):
    uploads: str | None = None


class ChannelContentDetails(_Model):
    related_playlists: RelatedPlaylists = Field(default_factory=RelatedPlaylists, alias="relatedPlaylists")


class ChannelStatistics(_Model):
    subscriber_count: int | None = Field(default=None, alias="subscriberCount")
    video_count: int | None = Field(default=None, alias="videoCount")


class Channel(_Model):
    id: str
    snippet: ChannelSnippet = Field(default_factory=ChannelSnippet)
    content_details: ChannelContentDetails = Field(
        default_factory=ChannelContentDetails, alias="contentDetails"
    )
    statistics: ChannelStatistics = Field(default_factory=ChannelStatistics)


class ResourceId(_Model):
    video_id: str | None = Field(default=None, alias="videoId")


class PlaylistItemSnippet(_Model):
    title: str = ""
    position: int | None = None
    resource_id: ResourceId = Field(default_factory=ResourceId, alias="resourceId")


class PlaylistItemContentDetails(_Model):
    video_id: str | None = Field(default=None, alias="videoId")
    video_published_at: AwareDatetime | None = Field(default=None, alias="videoPublishedAt")


class ItemStatus(_Model):
    privacy_status: str | None = Field(default=None, alias="privacyStatus")


class PlaylistItem(_Model):
    """An entry of a playlist; deleted and private videos stay as placeholders ("Deleted
    video", privacy ``privacyStatusUnspecified`` / ``private``) without ``videoPublishedAt``."""

    snippet: PlaylistItemSnippet = Field(default_factory=PlaylistItemSnippet)
    content_details: PlaylistItemContentDetails = Field(
        default_factory=PlaylistItemContentDetails, alias="contentDetails"
    )
    status: ItemStatus = Field(default_factory=ItemStatus)

    @property
    def video_id(self) -> str | None:
        return self.content_details.video_id or self.snippet.resource_id.video_id

    @property
    def is_placeholder(self) -> bool:
        return self.status.privacy_status in ("private", "privacyStatusUnspecified")


class VideoSnippet(_Model):
    published_at: AwareDatetime = Field(alias="publishedAt")
    channel_id: str = Field(alias="channelId")
    title: str = ""
    description: str = ""
    channel_title: str = Field(default="", alias="channelTitle")
    tags: list[str] = Field(default_factory=list)
    category_id: str | None = Field(default=None, alias="categoryId")
    default_language: str | None = Field(default=None, alias="defaultLanguage")
    default_audio_language: str | None = Field(default=None, alias="defaultAudioLanguage")
    live_broadcast_content: str = Field(default="none", alias="liveBroadcastContent")


class VideoContentDetails(_Model):
    duration: str | None = None
    caption: str | None = None  # "true" / "false": the channel uploaded captions


class VideoStatistics(_Model):
    view_count: int | None = Field(default=None, alias="viewCount")
    like_count: int | None = Field(default=None, alias="likeCount")
    comment_count: int | None = Field(default=None, alias="commentCount")


class Video(_Model):
    id: str
    snippet: VideoSnippet
    content_details: VideoContentDetails = Field(default_factory=VideoContentDetails, alias="contentDetails")
    statistics: VideoStatistics = Field(default_factory=VideoStatistics)
    status: ItemStatus = Field(default_factory=ItemStatus)


class SearchId(_Model):
    kind: str = ""
    video_id: str | None = Field(default=None, alias="videoId")


class SearchResult(_Model):
    id: SearchId
