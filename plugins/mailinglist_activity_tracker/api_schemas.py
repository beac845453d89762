"""HyperKitty REST payloads (``hyperkitty/api/*.py`` serializers), validated before anything is
written. Unknown fields are ignored; a missing or mistyped field fails the whole page with a
``DataValidationError`` naming the endpoint and the field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import DataValidationError, json_location
from mailinglist_activity_tracker.mail import deobfuscate

__all__ = ["EmailDetail", "EmailShort", "MailingList", "Page", "ThreadShort", "parse_payload"]

_HASH = r"[A-Z2-7]{32}"
_THREAD_URL = re.compile(rf"/thread/({_HASH})/?$")
_EMAIL_URL = re.compile(rf"/email/({_HASH})/?$")


def _last_id(url: str | None, pattern: re.Pattern[str]) -> str | None:
    if not url:
        return None
    match = pattern.search(url.split("?", 1)[0])
    return match.group(1) if match else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Sender(_Model):
    address: str | None = None  # obfuscated: "user (a) example.com"
    mailman_id: str | None = None


class EmailShort(_Model):
    message_id: str
    message_id_hash: str = Field(pattern=rf"^{_HASH}$")
    thread: str = Field(pattern=_THREAD_URL.pattern)
    sender: Sender | None = None
    sender_name: str | None = None
    subject: str | None = ""
    date: dt.datetime | None = None
    parent: str | None = None
    children: list[str] = Field(default_factory=list)

    @property
    def thread_id(self) -> str:
        found = _last_id(self.thread, _THREAD_URL)
        assert found is not None  # the field pattern guarantees it
        return found

    @property
    def parent_hash(self) -> str | None:
        return _last_id(self.parent, _EMAIL_URL)

    @property
    def children_hashes(self) -> list[str]:
        return [h for h in (_last_id(url, _EMAIL_URL) for url in self.children) if h]

    @property
    def sender_address(self) -> str | None:
        return deobfuscate(self.sender.address if self.sender else None)

    @property
    def sent_at(self) -> dt.datetime | None:
        if self.date is None:
            return None
        date = self.date if self.date.tzinfo else self.date.replace(tzinfo=dt.UTC)
        return date.astimezone(dt.UTC)


class Attachment(_Model):
    counter: int | None = None
    name: str | None = None
    content_type: str | None = None
    encoding: str | None = None
    size: int | None = None


class EmailDetail(EmailShort):
    content: str | None = ""
    attachments: list[Attachment] = Field(default_factory=list)


class ThreadShort(_Model):
    thread_id: str = Field(pattern=rf"^{_HASH}$")
    subject: str | None = None
    date_active: dt.datetime | None = None
    starting_email: str | None = None
    replies_count: int = 0

    @property
    def starting_hash(self) -> str | None:
        return _last_id(self.starting_email, _EMAIL_URL)


class MailingList(_Model):
    name: str
    display_name: str | None = None
    description: str | None = None
    archive_policy: str | None = None
    created_at: dt.datetime | None = None


T = TypeVar("T", bound=BaseModel)


class Page(_Model):
    """DRF ``LimitOffsetPagination``: ``{count, next, previous, results}``."""

    count: int = Field(ge=0)
    next: str | None = None
    previous: str | None = None
    results: list[dict[str, Any]]


def parse_payload(model: type[T], data: Any, endpoint: str, location: str = "$") -> T:
    """``data`` as ``model``, or ``DataValidationError`` naming ``endpoint`` and the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = json_location(error["loc"], location)
        raise DataValidationError(f"HyperKitty: {error['msg']}", source=endpoint, location=where) from None


def parse_items(model: type[T], page: Page, endpoint: str) -> list[T]:
    """Every item of a page, all or nothing."""
    return [parse_payload(model, item, endpoint, f"$.results[{n}]") for n, item in enumerate(page.results)]
