"""Pydantic models of a DiscordChatExporter (DCE) JSON export.

One export file holds one channel::

    {"guild": {...}, "channel": {...}, "dateRange": {...}, "exportedAt": "...",
     "messages": [{...}, ...], "messageCount": 123}

Field names follow DCE's JSON writer (camelCase in the file, snake_case here). Models ignore
keys they do not know, so newer DCE versions still load; the fields we store are strict:
ids are snowflakes written as strings of digits, timestamps are ISO-8601 with an offset,
and a number is never accepted where a string belongs (or the other way round).
Free-form parts (embeds, components, forwarded messages) stay plain JSON objects.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.alias_generators import to_camel

__all__ = [
    "Attachment",
    "DateRange",
    "Emoji",
    "ExportChannel",
    "ExportGuild",
    "ExportHeader",
    "Interaction",
    "Message",
    "MessageReference",
    "Reaction",
    "Role",
    "Snowflake",
    "Sticker",
    "Timestamp",
    "User",
]

_SNOWFLAKE_PATTERN = r"^[0-9]{1,20}$"
_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _parse_timestamp(value: object) -> dt.datetime:
    # pydantic's own datetime parsing also takes unix numbers and digit strings; DCE writes
    # ISO-8601 text only, and anything else means the file is not what we think it is.
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 timestamp string, got {_json_type(value)}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {value[:40]!r}")
    return parsed


Snowflake = Annotated[str, Field(strict=True, pattern=_SNOWFLAKE_PATTERN)]
"""A Discord id: a 64-bit integer that DCE writes as a string of digits."""

Timestamp = Annotated[dt.datetime, BeforeValidator(_parse_timestamp)]
"""An ISO-8601 timestamp with a UTC offset, parsed to an aware ``datetime``."""

# DCE writes an empty id for standard (Unicode) emoji and the snowflake for custom ones.
EmojiId = Annotated[str, Field(strict=True, pattern=r"^([0-9]{1,20})?$")]


# Text PostgreSQL can store: JSON may carry \u0000, a PostgreSQL text value may not.
StoredText = Annotated[StrictStr, Field(pattern=r"^[^\x00]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class Role(_Model):
    id: Snowflake
    name: StrictStr
    color: StrictStr | None = None
    position: StrictInt | None = None


class User(_Model):
    """A message author, a mentioned user or a user who reacted."""

    id: Snowflake
    name: StrictStr
    discriminator: StrictStr | None = Field(default=None, max_length=10)
    nickname: StrictStr | None = None
    color: StrictStr | None = Field(default=None, max_length=16)
    is_bot: StrictBool = False
    roles: tuple[Role, ...] = ()
    avatar_url: StrictStr | None = None


class Emoji(_Model):
    id: EmojiId = ""
    name: StrictStr
    code: StrictStr | None = None
    is_animated: StrictBool = False
    image_url: StrictStr | None = None


class Attachment(_Model):
    id: Snowflake
    url: StrictStr
    file_name: StrictStr
    file_size_bytes: StrictInt = Field(ge=0)


class Sticker(_Model):
    id: Snowflake
    name: StrictStr
    format: StrictStr | None = None
    source_url: StrictStr | None = None


class Reaction(_Model):
    emoji: Emoji
    count: StrictInt = Field(ge=0)
    users: tuple[User, ...] = ()


class MessageReference(_Model):
    """What a reply (or a forward, or a crosspost) points at; any id may be missing."""

    type: StrictStr | None = None
    message_id: Snowflake | None = None
    channel_id: Snowflake | None = None
    guild_id: Snowflake | None = None


class Interaction(_Model):
    """The slash command that produced a bot's message."""

    id: Snowflake
    name: StrictStr
    user: User


class Message(_Model):
    id: Snowflake
    type: StrictStr = Field(min_length=1, max_length=40)
    timestamp: Timestamp
    timestamp_edited: Timestamp | None = None
    call_ended_timestamp: Timestamp | None = None
    is_pinned: StrictBool = False
    content: StoredText
    author: User
    attachments: tuple[Attachment, ...] = ()
    embeds: tuple[dict[str, Any], ...] = ()
    stickers: tuple[Sticker, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    mentions: tuple[User, ...] = ()
    reference: MessageReference | None = None
    interaction: Interaction | None = None
    inline_emojis: tuple[Emoji, ...] = ()
    components: tuple[dict[str, Any], ...] = ()
    forwarded_message: dict[str, Any] | None = None

    @property
    def reply_to_message_id(self) -> str | None:
        return self.reference.message_id if self.reference is not None else None

    @property
    def last_activity_at(self) -> dt.datetime:
        """When the message last changed: its edit time, or its creation time."""
        return self.timestamp_edited or self.timestamp


class ExportGuild(_Model):
    id: Snowflake
    name: StrictStr
    icon_url: StrictStr | None = None


class ExportChannel(_Model):
    id: Snowflake
    type: StrictStr = Field(max_length=40)
    # DCE calls the parent "category"; for a thread it is the parent text channel.
    category_id: Snowflake | None = None
    category: StrictStr | None = None
    name: StrictStr
    topic: StrictStr | None = None


class DateRange(_Model):
    after: Timestamp | None = None
    before: Timestamp | None = None


class ExportHeader(_Model):
    """Everything in an export file except its messages."""

    guild: ExportGuild
    channel: ExportChannel
    date_range: DateRange = Field(default_factory=DateRange)
    exported_at: Timestamp | None = None
