"""The tracker's tables and their forward-only migrations."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = [
    "MIGRATIONS",
    "boost_libraries",
    "boost_library_meta_files",
    "boost_library_roles",
    "boost_library_versions",
    "boost_releases",
]

metadata = MetaData()

boost_releases = Table(
    "boost_releases",
    metadata,
    Column("version", String(20), primary_key=True),  # "1.86.0"
    Column("version_order", Integer, nullable=False, index=True),  # 1086000
    Column("tag", String(40), nullable=False),
    Column("commit_sha", String(40), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=False),  # the tag commit's date
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("libraries", Integer, nullable=False),
)

boost_libraries = Table(
    "boost_libraries",
    metadata,
    Column("key", String(200), primary_key=True),  # "algorithm/minmax"
    Column("name", String(300), nullable=False),
    Column("repo_full_name", String(200), nullable=False),  # "boostorg/algorithm"
    Column("first_version", String(20), nullable=False),
    Column("last_version", String(20), nullable=False),
    Column("last_content_hash", String(64), nullable=False),
    change_column(),  # documents follow it: a new latest version rebuilds the library's document
)

boost_library_versions = Table(
    "boost_library_versions",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("version", String(20), primary_key=True),
    Column("version_order", Integer, nullable=False, index=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("cxxstd", String(10)),
    Column("documentation", String(500), nullable=False),
    Column("categories", JSON, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("maintainers", JSON, nullable=False),  # [{"name", "email"}], addresses de-obfuscated
    Column("status", String(50)),
    Column("repo_full_name", String(200), nullable=False),
    Column("submodule_path", String(300), nullable=False),  # "libs/algorithm"
    Column("submodule_sha", String(40), nullable=False),
    Column("content_hash", String(64), nullable=False),
)

boost_library_roles = Table(
    "boost_library_roles",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("version", String(20), primary_key=True),
    Column("role", String(20), primary_key=True),  # "author" | "maintainer"
    Column("name", String(300), primary_key=True),
    Column("email_sha256", String(64)),
)

# libraries.json as read at a submodule commit: a commit is immutable, so a library whose
# submodule did not move since an earlier release costs no request.
boost_library_meta_files = Table(
    "boost_library_meta_files",
    metadata,
    Column("repo_full_name", String(200), primary_key=True),
    Column("submodule_sha", String(40), primary_key=True),
    Column("content", Text),  # None: the commit has no meta/libraries.json
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS = (
    Migration(
        1,
        "releases, libraries, library versions, roles, libraries.json per submodule commit",
        create_tables(
            boost_releases,
            boost_libraries,
            boost_library_versions,
            boost_library_roles,
            boost_library_meta_files,
        ),
    ),
    Migration(2, "change_seq for the vector step", track_changes(boost_libraries)),
)
