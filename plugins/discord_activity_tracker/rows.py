"""Export models -> table rows (one place that knows both shapes)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from discord_activity_tracker.api_schemas import ExportHeader, Message, User

__all__ = ["author_row", "channel_row", "guild_row", "message_row"]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None


def _dump(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def guild_row(header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    return {
        "guild_id": header.guild.id,
        "name": header.guild.name,
        "icon_url": header.guild.icon_url,
        "updated_at": now,
    }


def channel_row(header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    channel = header.channel
    return {
        "channel_id": channel.id,
        "guild_id": header.guild.id,
        "name": channel.name,
        "type": channel.type,
        "category_id": channel.category_id,
        "category": channel.category,
        "topic": channel.topic,
        "updated_at": now,
    }


def author_row(user: User, now: dt.datetime) -> dict[str, Any]:
    return {
        "author_id": user.id,
        "name": user.name,
        "discriminator": user.discriminator,
        "nickname": user.nickname,
        "color": user.color,
        "is_bot": user.is_bot,
        "avatar_url": user.avatar_url,
        "roles": _dump(user.roles),
        "updated_at": now,
    }


def message_row(message: Message, header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "message_id": message.id,
        "channel_id": header.channel.id,
        "guild_id": header.guild.id,
        "author_id": message.author.id,
        "type": message.type,
        "content": message.content,
        "created_at": _utc(message.timestamp),
        "edited_at": _utc(message.timestamp_edited),
        "reply_to_message_id": message.reply_to_message_id,
        "is_pinned": message.is_pinned,
        "attachments": _dump(message.attachments),
        "embeds": list(message.embeds),
        "stickers": _dump(message.stickers),
        "reactions": _dump(message.reactions),
        "mentions": [user.id for user in message.mentions],
        "interaction": _dump(message.interaction) if message.interaction else None,
    }
    digest = hashlib.sha256(
        orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME, default=str)
    )
    row["content_hash"] = digest.hexdigest()
    row["updated_at"] = now
    return row
