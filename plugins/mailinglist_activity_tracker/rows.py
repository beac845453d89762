"""API items and parsed raw messages -> ``ml_messages`` rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from mailinglist_activity_tracker.api_schemas import EmailDetail, EmailShort
from mailinglist_activity_tracker.mail import ParsedMail

__all__ = ["content_hash", "detail_row", "index_row", "mbox_row"]

# What the content hash covers (thread placement is compared column by column).
_HASHED = (
    "message_id",
    "subject",
    "sent_at",
    "sender_address",
    "sender_name",
    "sender_mailman_id",
    "content",
    "attachments",
    "parse_warnings",
)


def content_hash(row: dict[str, Any]) -> str:
    payload = {
        k: (row[k].isoformat() if isinstance(row.get(k), dt.datetime) else row.get(k)) for k in _HASHED
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    row["content_hash"] = content_hash(row)
    return row


def detail_row(fqdn: str, item: EmailDetail, now: dt.datetime) -> dict[str, Any]:
    return _finish(
        {
            "list_fqdn": fqdn,
            "message_id_hash": item.message_id_hash,
            "message_id": item.message_id.strip().strip("<>"),
            "thread_id": item.thread_id,
            "parent_hash": item.parent_hash,
            "subject": item.subject or "",
            "sent_at": item.sent_at,
            "sender_address": item.sender_address,
            "sender_name": item.sender_name or None,
            "sender_mailman_id": item.sender.mailman_id if item.sender else None,
            "content": item.content or "",
            "attachments": [
                {"counter": a.counter, "name": a.name, "content_type": a.content_type, "size": a.size}
                for a in item.attachments
            ],
            "parse_warnings": [],
            "source": "rest",
            "detail_attempts": 0,
            "detail_error": None,
            "first_seen_at": now,
            "deleted_at": None,
            "updated_at": now,
        }
    )


def index_row(fqdn: str, item: EmailShort, now: dt.datetime, error: str) -> dict[str, Any]:
    """A message whose detail could not be read yet: what the index said, content pending."""
    return _finish(
        {
            "list_fqdn": fqdn,
            "message_id_hash": item.message_id_hash,
            "message_id": item.message_id.strip().strip("<>"),
            "thread_id": item.thread_id,
            "parent_hash": item.parent_hash,
            "subject": item.subject or "",
            "sent_at": item.sent_at,
            "sender_address": item.sender_address,
            "sender_name": item.sender_name or None,
            "sender_mailman_id": item.sender.mailman_id if item.sender else None,
            "content": None,
            "attachments": [],
            "parse_warnings": [],
            "source": "rest",
            "detail_attempts": 1,
            "detail_error": error[:1000],
            "first_seen_at": now,
            "deleted_at": None,
            "updated_at": now,
        }
    )


def mbox_row(
    fqdn: str, mail: ParsedMail, thread_id: str, parent_hash: str | None, now: dt.datetime
) -> dict[str, Any]:
    return _finish(
        {
            "list_fqdn": fqdn,
            "message_id_hash": mail.message_id_hash,
            "message_id": mail.message_id,
            "thread_id": thread_id,
            "parent_hash": parent_hash,
            "subject": mail.subject,
            "sent_at": mail.sent_at,
            "sender_address": mail.sender_address,
            "sender_name": mail.sender_name,
            "sender_mailman_id": None,
            "content": mail.content,
            "attachments": mail.attachments,
            "parse_warnings": mail.warnings,
            "source": "mbox",
            "detail_attempts": 0,
            "detail_error": None,
            "first_seen_at": now,
            "deleted_at": None,
            "updated_at": now,
        }
    )
