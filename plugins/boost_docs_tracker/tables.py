"""The tracker's tables: releases indexed (the checkpoint), pages per (version, path), contents
deduplicated by hash across versions."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = ["MIGRATIONS", "boost_doc_contents", "boost_doc_pages", "boost_doc_releases"]

metadata = MetaData()

#: One row per release whose archive was read to the end: the set of indexed versions.
boost_doc_releases = Table(
    "boost_doc_releases",
    metadata,
    Column("version", String(20), primary_key=True),
    Column("version_order", Integer, nullable=False, index=True),  # major*1_000_000 + minor*1_000 + patch
    Column("archive_url", Text, nullable=False),
    Column("etag", Text),
    Column("archive_bytes", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("pages_failed", Integer, nullable=False),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
    change_column(),
)
boost_doc_pages = Table(
    "boost_doc_pages",
    metadata,
    Column("version", String(20), primary_key=True),
    Column("path", String(1000), primary_key=True),  # below the archive's top directory
    Column("library_key", String(100), nullable=False, index=True),
    Column("doc_id", String(1100), nullable=False),  # <library>/<path within the library>
    Column("toolchain", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("headings", Text, nullable=False),  # JSON list
    Column("content_hash", String(64), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("url", Text, nullable=False),
    change_column(),
)
boost_doc_contents = Table(
    "boost_doc_contents",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("markdown", Text, nullable=False),
    Column("first_version", String(20), nullable=False),
    Column("last_version", String(20), nullable=False),
)

MIGRATIONS = (
    Migration(
        1,
        "releases, pages, contents",
        create_tables(boost_doc_releases, boost_doc_pages, boost_doc_contents),
    ),
    Migration(2, "change_seq for the vector step", track_changes(boost_doc_releases, boost_doc_pages)),
)
