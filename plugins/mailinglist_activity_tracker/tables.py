"""The mailing-list tracker's tables (SQLAlchemy Core), for PostgreSQL and SQLite alike.

Natural keys: a list by its fqdn (``boost@lists.boost.org``), a message by (list,
``message_id_hash``): HyperKitty's base32 hash of the Message-ID, so a message cross-posted to
two lists is a row in each. Timestamps are UTC.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = ["COMPONENT", "MAILINGLIST_MIGRATIONS", "ml_lists", "ml_messages", "ml_metadata", "ml_threads"]

COMPONENT = "mailinglist_activity_tracker"
FQDN = String(255)
HASH = String(64)  # HyperKitty's hashes are 32 base32 characters

ml_metadata = MetaData()

ml_lists = Table(
    "ml_lists",
    ml_metadata,
    Column("list_fqdn", FQDN, primary_key=True),
    Column("display_name", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("archive_policy", String(40), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=True),
    Column("api_count", Integer, nullable=True),  # the emails/ count last seen
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ml_threads = Table(
    "ml_threads",
    ml_metadata,
    Column("list_fqdn", FQDN, primary_key=True),
    Column("thread_id", HASH, primary_key=True),
    Column("subject", Text, nullable=True),
    Column("starting_hash", HASH, nullable=True),
    Column("date_active", DateTime(timezone=True), nullable=True),
    Column("replies_count", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ml_messages = Table(
    "ml_messages",
    ml_metadata,
    Column("list_fqdn", FQDN, primary_key=True),
    Column("message_id_hash", HASH, primary_key=True),
    Column("message_id", Text, nullable=False),  # the bare Message-ID (no angle brackets)
    Column("thread_id", HASH, nullable=False),
    # The thread this message was in before a moderator reattached it (its document is rebuilt
    # or removed).
    Column("previous_thread_id", HASH, nullable=True),
    Column("parent_hash", HASH, nullable=True),
    Column("subject", Text, nullable=False, default=""),
    Column("sent_at", DateTime(timezone=True), nullable=True),  # Date: header in UTC; None if unreadable
    Column("sender_address", Text, nullable=True),  # de-obfuscated, lower-cased
    Column("sender_name", Text, nullable=True),
    Column("sender_mailman_id", String(64), nullable=True),
    Column("content", Text, nullable=True),  # None until the message's detail is read
    Column("attachments", JSON, nullable=False, default=list),
    Column("parse_warnings", JSON, nullable=False, default=list),
    Column("source", String(10), nullable=False),  # "rest" or "mbox": where the row came from
    # Detail fetches that failed (retried next run while content is None) and the last error.
    Column("detail_attempts", Integer, nullable=False, default=0),
    Column("detail_error", Text, nullable=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),  # gone from the archive
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    change_column(),
    Index("ix_ml_messages_thread", "list_fqdn", "thread_id"),
    Index("ix_ml_messages_sent", "sent_at"),
    Index("ix_ml_messages_message_id", "message_id"),
    Index("ix_ml_messages_updated", "updated_at"),
)

MAILINGLIST_MIGRATIONS = (
    Migration(1, "lists, threads, messages", create_tables(ml_lists, ml_threads, ml_messages)),
    Migration(2, "ml_messages.change_seq for the vector sync", track_changes(ml_messages)),
)
