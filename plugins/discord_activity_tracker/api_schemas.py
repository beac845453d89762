"""Pydantic models of a DiscordChatExporter (DCE) JSON export.

One export file holds one channel::

    {"guild": {...}, "channel": {...}, "dateRange": {...}, "exportedAt": "...",
     "messages": [{...}, ...], "messageCount": 123}

Field names follow DCE's JSON writer (camelCase in the file, snake_case here). The rule:
validate what the store needs, keep the rest. Models ignore keys they do not know, so newer
and older DCE versions load; the fields stored in columns are strict: ids are snowflakes
written as strings of digits (an absent optional id may be ``null`` or ``""``), timestamps
are ISO-8601 with an offset, text has no NUL, and a number is never accepted where a string
belongs (or the other way round). Fields DCE added over the years (``nickname``, ``color``,
``roles``, ``isBot``, ``stickers``, ``inlineEmojis``, ``callEndedTimestamp``, ...) may be
missing. Free-form parts (reactions, stickers, embeds, components, the interaction,
forwarded messages) are stored or hashed as the export's own JSON, whatever their shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr
from pydantic.alias_generators import to_camel

__all__ = [
    "Attachment",
    "ExportChannel",
    "ExportGuild",
    "ExportHeader",
    "Message",
    "MessageReference",
    "OptionalSnowflake",
    "Snowflake",
    "StoredText",
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


def _empty_is_none(value: object) -> object:
    # DCE writes an absent id as null in some versions and as "" in others.
    return None if value == "" else value


OptionalSnowflake = Annotated[Snowflake | None, BeforeValidator(_empty_is_none)]
"""An id that may be absent: ``null``, ``""`` or a missing key all mean "none"."""

Timestamp = Annotated[dt.datetime, BeforeValidator(_parse_timestamp)]
"""An ISO-8601 timestamp with a UTC offset, parsed to an aware ``datetime``."""

# Text PostgreSQL can store: JSON may carry \u0000, a PostgreSQL text value may not. Every
# field stored in a text column has this type, so a NUL is rejected before anything is
# written, on SQLite as on PostgreSQL (JSON columns keep \u0000 escaped, which both accept).
StoredText = Annotated[StrictStr, Field(pattern=r"^[^\x00]*$")]


def _null_is_false(value: object) -> object:
    return False if value is None else value


# A flag some DCE versions leave out or write as null: both mean false.
Flag = Annotated[StrictBool, BeforeValidator(_null_is_false)]

# Free-form parts the store keeps as JSON, exactly as written (``null`` or missing = empty).
JsonObjects = tuple[dict[str, Any], ...] | None


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class User(_Model):
    """A message author or a mentioned user: the fields ``discord_authors`` stores.

    Only ``id`` and ``name`` are required: older DCE versions write no ``nickname``,
    ``color``, ``roles`` or ``avatarUrl``, and some no ``isBot``. ``roles`` is kept as JSON.
    """

    id: Snowflake
    name: StoredText
    discriminator: StoredText | None = Field(default=None, max_length=10)
    nickname: StoredText | None = None
    color: StoredText | None = Field(default=None, max_length=16)
    is_bot: Flag = False
    roles: JsonObjects = None
    avatar_url: StoredText | None = None


class Attachment(_Model):
    """An attachment, kept as JSON; the thread documents show its ``fileName``."""

    file_name: StrictStr | None = None


class MessageReference(_Model):
    """What a reply (or a forward, or a crosspost) points at; only ``messageId`` is stored."""

    message_id: OptionalSnowflake = None


class Message(_Model):
    """One message: what the store needs is validated, everything else is kept as written.

    Reactions, stickers, embeds, components, inline emoji, the interaction and forwarded
    messages are stored (or hashed) as the export's own JSON, so their inner shape, which
    changed across DCE versions (``"emoji": {"id": null}`` then ``"id": ""``, new keys),
    never rejects a file.
    """

    id: Snowflake
    type: StoredText = Field(min_length=1, max_length=40)
    timestamp: Timestamp
    timestamp_edited: Timestamp | None = None
    is_pinned: Flag = False
    content: StoredText
    author: User
    attachments: tuple[Attachment, ...] | None = None
    embeds: JsonObjects = None
    stickers: JsonObjects = None
    reactions: JsonObjects = None
    mentions: tuple[User, ...] | None = None
    reference: MessageReference | None = None
    interaction: dict[str, Any] | None = None

    @property
    def reply_to_message_id(self) -> str | None:
        return self.reference.message_id if self.reference is not None else None

    @property
    def last_activity_at(self) -> dt.datetime:
        """When the message last changed: its edit time, or its creation time."""
        return self.timestamp_edited or self.timestamp


class ExportGuild(_Model):
    """The server; direct messages and group DMs come with the id ``"0"``."""

    id: Snowflake
    name: StoredText
    icon_url: StoredText | None = None


class ExportChannel(_Model):
    id: Snowflake
    type: StoredText = Field(max_length=40)
    # DCE calls the parent "category"; for a thread or a forum post it is the parent channel.
    category_id: OptionalSnowflake = None
    category: StoredText | None = None
    name: StoredText
    topic: StoredText | None = None


class ExportHeader(_Model):
    """Everything in an export file except its messages (``dateRange`` is not stored: ignored)."""

    guild: ExportGuild
    channel: ExportChannel
    exported_at: Timestamp | None = None
