"""The Discord tracker's tables (SQLAlchemy Core), for PostgreSQL and SQLite alike.

Ids are Discord snowflakes kept as ``String(20)``, exactly as DCE and the Discord API write
them: a snowflake is an unsigned 64-bit integer (up to 20 digits), which a signed BIGINT
only holds while the top bit stays clear; JSON consumers (XCom, Pinecone metadata, which
stores numbers as float64, JavaScript) lose precision above 2**53; DM exports use the
guild id ``"0"``. Text never needs converting and compares exactly. The catch: text order
is not numeric order across lengths, so order by ``created_at`` (or cast) rather than by id.

Timestamps are stored in UTC (SQLite's DateTime keeps no offset).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = [
    "COMPONENT",
    "DISCORD_MIGRATIONS",
    "discord_authors",
    "discord_channels",
    "discord_export_contents",
    "discord_export_files",
    "discord_guilds",
    "discord_messages",
    "discord_metadata",
]

COMPONENT = "discord_activity_tracker"
SNOWFLAKE = String(20)

discord_metadata = MetaData()

discord_guilds = Table(
    "discord_guilds",
    discord_metadata,
    Column("guild_id", SNOWFLAKE, primary_key=True),
    Column("name", Text, nullable=False),
    Column("icon_url", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

discord_channels = Table(
    "discord_channels",
    discord_metadata,
    Column("channel_id", SNOWFLAKE, primary_key=True),
    Column("guild_id", SNOWFLAKE, ForeignKey("discord_guilds.guild_id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("type", String(40), nullable=False),
    # DCE's "category": the parent category, or for a thread its parent channel (maybe not exported).
    Column("category_id", SNOWFLAKE, nullable=True),
    Column("category", Text, nullable=True),
    Column("topic", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The newest message id Discord reported when the bot API listed the channel (source: api;
    # a collect with nothing newer and no look-back work skips the channel): migration 6.
    Column("last_message_id", SNOWFLAKE, nullable=True),
)

# Every user seen: authors, and users mentioned or named by an interaction.
discord_authors = Table(
    "discord_authors",
    discord_metadata,
    Column("author_id", SNOWFLAKE, primary_key=True),
    Column("name", Text, nullable=False),
    Column("discriminator", String(10), nullable=True),
    Column("nickname", Text, nullable=True),
    Column("color", String(16), nullable=True),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("avatar_url", Text, nullable=True),
    Column("roles", JSON, nullable=False, default=list),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Time of the message these details were seen on: the newest one wins (migration 3).
    Column("seen_at", DateTime(timezone=True), nullable=True),
)

discord_messages = Table(
    "discord_messages",
    discord_metadata,
    Column("message_id", SNOWFLAKE, primary_key=True),
    Column("channel_id", SNOWFLAKE, ForeignKey("discord_channels.channel_id"), nullable=False),
    Column("guild_id", SNOWFLAKE, nullable=False),
    Column("author_id", SNOWFLAKE, ForeignKey("discord_authors.author_id"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("edited_at", DateTime(timezone=True), nullable=True),
    # No foreign key: the message replied to may predate the export or sit in another channel.
    Column("reply_to_message_id", SNOWFLAKE, nullable=True),
    Column("is_pinned", Boolean, nullable=False, default=False),
    Column("attachments", JSON, nullable=False, default=list),
    Column("embeds", JSON, nullable=False, default=list),
    Column("stickers", JSON, nullable=False, default=list),
    Column("reactions", JSON, nullable=False, default=list),
    Column("mentions", JSON, nullable=False, default=list),
    Column("interaction", JSON, nullable=True),
    # sha256 of every stored field but updated_at: an identical re-read updates nothing.
    Column("content_hash", String(64), nullable=False),
    # When this row's content last changed in the store: what the vector sync watermark compares.
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The author's name on this message (webhooks and bots post under a new name each time;
    # discord_authors keeps the newest): migration 3.
    Column("author_name", Text, nullable=True),
    # Commit-ordered change sequence the vector sync selects on (core.store.changes): migration 2.
    change_column(),
    # When the bot API's look-back re-read found the message gone (source: api): migration 5.
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Index("ix_discord_messages_channel_created", "channel_id", "created_at"),
    Index("ix_discord_messages_updated", "updated_at"),
    Index("ix_discord_messages_reply_to", "reply_to_message_id"),
)

# One row per export file ingested: lets a rerun skip files whose bytes did not change.
discord_export_files = Table(
    "discord_export_files",
    discord_metadata,
    Column("path", Text, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("channel_id", SNOWFLAKE, nullable=False),
    Column("exported_at", DateTime(timezone=True), nullable=True),
    Column("message_count", Integer, nullable=False),
    Column("max_message_id", SNOWFLAKE, nullable=True),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)

# What an export's bytes hold, keyed by their hash: facts about the content, not about any run, so
# every run (bounded ones too) may record them; a backfill skips a known file outside its window.
discord_export_contents = Table(
    "discord_export_contents",
    discord_metadata,
    Column("sha256", String(64), primary_key=True),
    Column("channel_id", SNOWFLAKE, nullable=False),
    Column("message_count", Integer, nullable=False),
    Column("first_message_at", DateTime(timezone=True), nullable=True),
    Column("last_message_at", DateTime(timezone=True), nullable=True),
)

DISCORD_MIGRATIONS = (
    Migration(
        1,
        "guilds, channels, authors, messages, ingested export files",
        create_tables(
            discord_guilds, discord_channels, discord_authors, discord_messages, discord_export_files
        ),
    ),
    Migration(2, "discord_messages.change_seq for the vector sync", track_changes(discord_messages)),
    Migration(
        3,
        "discord_messages.author_name, discord_authors.seen_at",
        lambda conn: _add_columns(conn, (discord_messages, "author_name"), (discord_authors, "seen_at")),
    ),
    # SQLite's update trigger of version 2 listed the columns of that time: re-made column-free.
    Migration(4, "change_seq triggers that follow every column", track_changes(discord_messages)),
    Migration(
        5,
        "discord_messages.deleted_at (deletions seen by the bot API's look-back window)",
        lambda conn: _add_columns(conn, (discord_messages, "deleted_at")),
    ),
    Migration(
        6,
        "discord_channels.last_message_id (as the bot API listed it)",
        lambda conn: _add_columns(conn, (discord_channels, "last_message_id")),
    ),
    Migration(
        7,
        "discord_export_contents (message time range of each validated export, by content hash)",
        create_tables(discord_export_contents),
    ),
)


def _add_columns(conn: Connection, *columns: tuple[Table, str]) -> None:
    """Add columns a table created by an older version lacks (tables created since have them)."""
    for table, name in columns:
        if name in {column["name"] for column in inspect(conn).get_columns(table.name)}:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} {kind}"))
