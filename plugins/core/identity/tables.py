"""Tables of the core component ``identity``: the people every tracker sees, per source.

``person_profiles`` holds one row per account of a source (``source``, ``external_id``:
the source's own stable user id); ``profile_emails`` the e-mail addresses a source tied to
such an account, as SHA-256 of the normalised address (the plain address only on request).
``person_id`` is left to the identity job that links profiles into people; trackers never
set it and never reference a person.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from core.store.migrations import Migration, create_tables

__all__ = ["COMPONENT", "IDENTITY_MIGRATIONS", "identity_metadata", "person_profiles", "profile_emails"]

COMPONENT = "identity"
TS = DateTime(timezone=True)

identity_metadata = MetaData()

person_profiles = Table(
    "person_profiles",
    identity_metadata,
    Column("source", String(50), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("username", Text, nullable=True),
    Column("display_name", Text, nullable=True),
    Column("profile_url", Text, nullable=True),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("first_seen_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("attrs", JSON().with_variant(JSONB(), "postgresql"), nullable=False, default=dict),
    Column("person_id", String(36), nullable=True),
    Column("updated_at", TS, nullable=False),
    Index("ix_person_profiles_person", "person_id"),
    Index("ix_person_profiles_updated", "updated_at"),
)

profile_emails = Table(
    "profile_emails",
    identity_metadata,
    Column("source", String(50), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("email_sha256", String(64), primary_key=True),
    Column("email", Text, nullable=True),
    Column("verified", Boolean, nullable=False, default=False),
    Column("evidence", String(40), nullable=True),
    Column("first_seen_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Index("ix_profile_emails_hash", "email_sha256"),
)

IDENTITY_MIGRATIONS = (
    Migration(1, "person profiles and their e-mail hashes", create_tables(person_profiles, profile_emails)),
)
