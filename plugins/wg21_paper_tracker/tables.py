"""The tracker's own tables and their forward-only migrations."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = ["MIGRATIONS", "wg21_document_files", "wg21_documents", "wg21_mailings"]

metadata = MetaData()

wg21_documents = Table(
    "wg21_documents",
    metadata,
    Column("doc_id", String(40), primary_key=True),  # P2300R10, N4981, CWG1234 (upper case, ASCII)
    Column("paper", String(40), nullable=False, index=True),  # P2300: every revision of a paper
    Column("prefix", String(16), nullable=False),
    Column("revision", Integer),
    Column("type", String(40)),  # paper, issue, editorial, standing-document (index); None: mailing only
    Column("title", Text),
    Column("authors", JSON),
    Column("document_date", Date),
    Column("date_raw", String(64)),
    Column("subgroups", JSON),
    Column("subgroup_raw", Text),
    Column("link", Text),
    Column("long_link", Text),
    Column("github_url", Text),
    Column("index_hash", String(64)),  # what the index said last (an unchanged re-read writes nothing)
    # From the open-std.org mailing pages:
    Column("mailing_id", String(7), index=True),  # YYYY-MM
    Column("mailing_title", Text),
    Column("mailing_authors", JSON),
    Column("mailing_date", Date),
    Column("mailing_subgroup", Text),
    Column("previous_version", String(40)),
    Column("disposition", Text),
    Column("file_urls", JSON),  # the formats the mailing page links, preferred first
    Column("mailing_hash", String(64)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    change_column(),
)

wg21_mailings = Table(
    "wg21_mailings",
    metadata,
    Column("mailing_id", String(7), primary_key=True),  # YYYY-MM
    Column("title", Text, nullable=False),
    Column("year_page_url", Text, nullable=False),
    Column("paper_count", Integer, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_parsed_at", DateTime(timezone=True), nullable=False),
)

wg21_document_files = Table(
    "wg21_document_files",
    metadata,
    Column("doc_id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("format", String(16), nullable=False),
    Column("http_status", Integer),
    Column("bytes", Integer),
    Column("sha256", String(64)),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("text", Text),  # the converted text, capped (download.max_text_chars)
    Column("converter", String(40)),
    Column("pages", Integer),  # PDF pages converted (of the document's)
    Column("attempts", Integer, nullable=False),
    Column("error", Text),  # the last failure (sanitized), None once converted
    Column("error_category", String(20)),
    Column("downloaded_at", DateTime(timezone=True), nullable=False),
    change_column(),
)

MIGRATIONS = (
    Migration(
        1,
        "documents, mailings, paper files",
        create_tables(wg21_documents, wg21_mailings, wg21_document_files),
    ),
    Migration(2, "change_seq for the vector step", track_changes(wg21_documents, wg21_document_files)),
)
