"""The Slack tracker's tables (SQLAlchemy Core), for PostgreSQL and SQLite alike.

Every key starts with ``team_id``: user and channel ids are only unique inside a workspace.
``ts`` is kept as Slack writes it (``"1712345678.123456"``): a float loses digits; order by
``ts_at`` (parsed UTC). No foreign keys to users: authors may be unknown or deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = [
    "SLACK_MIGRATIONS",
    "slack_channels",
    "slack_files",
    "slack_message_files",
    "slack_messages",
    "slack_metadata",
    "slack_teams",
    "slack_users",
]

ID = String(32)
TS = String(24)

slack_metadata = MetaData()

slack_teams = Table(
    "slack_teams",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("name", Text, nullable=True),
    Column("domain", Text, nullable=True),  # <domain>.slack.com, for permalinks
    Column("enterprise_id", ID, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

slack_channels = Table(
    "slack_channels",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("channel_id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("is_private", Boolean, nullable=False, default=False),
    Column("is_archived", Boolean, nullable=False, default=False),
    Column("is_member", Boolean, nullable=True),
    Column("is_ext_shared", Boolean, nullable=False, default=False),
    Column("topic", Text, nullable=True),
    Column("purpose", Text, nullable=True),
    Column("creator_id", ID, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=True),
    Column("num_members", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

slack_users = Table(
    "slack_users",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("user_id", ID, primary_key=True),
    Column("handle", Text, nullable=True),
    Column("real_name", Text, nullable=True),
    Column("display_name", Text, nullable=True),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("tz", Text, nullable=True),
    Column("title", Text, nullable=True),
    Column("avatar_url", Text, nullable=True),
    Column("email_sha256", String(64), nullable=True),
    Column("email", Text, nullable=True),  # only with store_emails: true
    Column("profile_updated", BigInteger, nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

slack_messages = Table(
    "slack_messages",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("channel_id", ID, primary_key=True),
    Column("ts", TS, primary_key=True),
    Column("ts_at", DateTime(timezone=True), nullable=False),
    Column("thread_ts", TS, nullable=True),
    Column("is_root", Boolean, nullable=False),
    Column("user_id", ID, nullable=True),
    Column("bot_id", ID, nullable=True),
    Column("subtype", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("blocks", JSON, nullable=True),
    Column("edited_ts", TS, nullable=True),
    Column("edited_by", ID, nullable=True),
    Column("reply_count", Integer, nullable=True),
    Column("reply_users", JSON, nullable=True),
    Column("latest_reply", TS, nullable=True),
    # latest_reply of the last complete conversations.replies read (collector state, not content)
    Column("replies_synced_latest_reply", TS, nullable=True),
    Column("reactions", JSON, nullable=True),
    Column("attachments", JSON, nullable=True),
    Column("client_msg_id", String(64), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # sha256 of the stored content fields: an identical re-read updates nothing
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    change_column(),
    Index("ix_slack_messages_channel_ts_at", "team_id", "channel_id", "ts_at"),
    Index("ix_slack_messages_thread", "team_id", "channel_id", "thread_ts"),
    Index("ix_slack_messages_updated", "updated_at"),
)

slack_files = Table(
    "slack_files",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("file_id", ID, primary_key=True),
    Column("name", Text, nullable=True),
    Column("title", Text, nullable=True),
    Column("mimetype", Text, nullable=True),
    Column("filetype", String(64), nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("mode", String(32), nullable=True),  # hosted/snippet/post/external/tombstone
    Column("user_id", ID, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=True),
    Column("permalink", Text, nullable=True),
    Column("preview_text", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

slack_message_files = Table(
    "slack_message_files",
    slack_metadata,
    Column("team_id", ID, primary_key=True),
    Column("channel_id", ID, primary_key=True),
    Column("ts", TS, primary_key=True),
    Column("file_id", ID, primary_key=True),
)

SLACK_MIGRATIONS = (
    Migration(
        1,
        "teams, channels, users, messages, files",
        create_tables(
            slack_teams, slack_channels, slack_users, slack_messages, slack_files, slack_message_files
        ),
    ),
    Migration(2, "slack_messages.change_seq for the vector sync", track_changes(slack_messages)),
)
