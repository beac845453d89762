"""Pydantic models of the Slack Web API payloads (and of the workspace export, which uses the
same message shape). Every page is validated whole before anything of it is written; a bad
payload is a ``DataValidationError`` naming the method (or file) and the first bad field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import DataValidationError, json_location

__all__ = [
    "Channel",
    "Edited",
    "File",
    "Message",
    "Team",
    "User",
    "parse_items",
    "parse_object",
]

TS_PATTERN = r"^\d+\.\d+$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Edited(_Model):
    user: str | None = None
    ts: str = Field(pattern=TS_PATTERN)


class File(_Model):
    id: str
    name: str | None = None
    title: str | None = None
    mimetype: str | None = None
    filetype: str | None = None
    size: int | None = None
    mode: str | None = None
    user: str | None = None
    created: int | None = None
    permalink: str | None = None
    preview: str | None = None


class Message(_Model):
    ts: str = Field(pattern=TS_PATTERN)
    type: str = "message"
    subtype: str | None = None
    user: str | None = None
    bot_id: str | None = None
    username: str | None = None
    text: str = ""
    thread_ts: str | None = Field(default=None, pattern=TS_PATTERN)
    reply_count: int | None = None
    reply_users: list[str] | None = None
    latest_reply: str | None = Field(default=None, pattern=TS_PATTERN)
    edited: Edited | None = None
    reactions: list[dict[str, Any]] | None = None
    files: list[File] | None = None
    attachments: list[dict[str, Any]] | None = None
    blocks: list[dict[str, Any]] | None = None
    client_msg_id: str | None = None


class Profile(_Model):
    display_name: str | None = None
    real_name: str | None = None
    title: str | None = None
    email: str | None = None
    image_72: str | None = None


class User(_Model):
    id: str
    name: str | None = None
    real_name: str | None = None
    deleted: bool = False
    is_bot: bool = False
    tz: str | None = None
    updated: int | None = None
    profile: Profile = Field(default_factory=Profile)


class _Text(_Model):
    value: str | None = None


class Channel(_Model):
    id: str
    name: str = ""
    is_private: bool = False
    is_archived: bool = False
    is_member: bool | None = None
    is_ext_shared: bool = False
    topic: _Text | None = None
    purpose: _Text | None = None
    creator: str | None = None
    created: int | None = None
    num_members: int | None = None


class Team(_Model):
    id: str
    name: str | None = None
    domain: str | None = None
    enterprise_id: str | None = None


M = TypeVar("M", bound=BaseModel)


def parse_items(model: type[M], items: Any, *, source: str) -> list[M]:
    """A list of ``model``; ``DataValidationError`` naming ``source`` and the first bad field."""
    try:
        return TypeAdapter(list[model]).validate_python(items)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataValidationError(
            f"Slack payload breaks its schema: {first['msg']}",
            source=source,
            location=json_location(first["loc"]),
        ) from None


def parse_object(model: type[M], data: Any, *, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataValidationError(
            f"Slack payload breaks its schema: {first['msg']}",
            source=source,
            location=json_location(first["loc"]),
        ) from None
