"""The GitHub tracker's tables (SQLAlchemy Core) and migrations, for PostgreSQL and SQLite alike.

Natural keys: repositories and users by GitHub's numeric id; commits by (repo, sha); issues
and pull requests (one table, ``is_pull_request``) by (repo, number) because an issue's id
and its pull request's id differ in the REST API; comments and reviews by their id.
Every table references its repository by ``repo_id`` (stable across renames) and no
foreign keys are declared, so streams can land in any order.

``row_updated_at`` is when the row's CONTENT last changed in the store (upserts only touch
it when a content column differs): the vector step compares it to its watermark.
JSON columns are JSONB on PostgreSQL (comparable, so "only if changed" works) and JSON
text on SQLite. Timestamps are stored in UTC.
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
from sqlalchemy.dialects.postgresql import JSONB

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = [
    "COMPONENT",
    "GITHUB_MIGRATIONS",
    "JsonType",
    "github_commit_files",
    "github_commits",
    "github_issue_assignees",
    "github_issue_comments",
    "github_issue_labels",
    "github_issues",
    "github_metadata",
    "github_repositories",
    "github_review_comments",
    "github_reviews",
    "github_users",
]

COMPONENT = "github"
JsonType = JSON().with_variant(JSONB(), "postgresql")
SHA = String(64)  # SHA-1 today, room for SHA-256 repositories
TS = DateTime(timezone=True)

github_metadata = MetaData()

github_repositories = Table(
    "github_repositories",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("node_id", String(100), nullable=True),
    Column("full_name", String(300), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("fork", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("default_branch", String(255), nullable=True),
    Column("language", String(100), nullable=True),
    Column("topics", JsonType, nullable=False, default=list),
    Column("homepage", Text, nullable=True),
    Column("html_url", Text, nullable=False),
    Column("clone_url", Text, nullable=True),
    Column("created_at", TS, nullable=True),
    Column("updated_at", TS, nullable=True),
    Column("pushed_at", TS, nullable=True),
    Column("row_updated_at", TS, nullable=False),
    Index("ix_github_repositories_full_name", "full_name"),
)

github_users = Table(
    "github_users",
    github_metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("login", String(100), nullable=False),
    Column("node_id", String(100), nullable=True),
    Column("type", String(40), nullable=False),
    Column("site_admin", Boolean, nullable=False, default=False),
    Column("html_url", Text, nullable=True),
    Column("row_updated_at", TS, nullable=False),
    Index("ix_github_users_login", "login"),
)

github_commits = Table(
    "github_commits",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sha", SHA, primary_key=True),
    Column("node_id", String(100), nullable=True),
    Column("message", Text, nullable=False),
    Column("author_id", BigInteger, nullable=True),
    Column("author_login", String(100), nullable=True),
    Column("author_name", Text, nullable=True),
    Column("author_email", Text, nullable=True),
    Column("authored_at", TS, nullable=True),
    Column("committer_id", BigInteger, nullable=True),
    Column("committer_login", String(100), nullable=True),
    Column("committer_name", Text, nullable=True),
    Column("committer_email", Text, nullable=True),
    Column("committed_at", TS, nullable=False),
    Column("parents", JsonType, nullable=False, default=list),
    Column("html_url", Text, nullable=True),
    # Filled by the commit_files stream from GET /commits/{sha}.
    Column("additions", Integer, nullable=True),
    Column("deletions", Integer, nullable=True),
    Column("total_changes", Integer, nullable=True),
    Column("files_count", Integer, nullable=True),
    # pending -> complete | truncated (GitHub's 3000-file limit and no git fallback)
    Column("files_status", String(20), nullable=False, default="pending"),
    Column("files_source", String(20), nullable=True),  # api | git
    Column("row_updated_at", TS, nullable=False),
    Index("ix_github_commits_repo_committed", "repo_id", "committed_at"),
    Index("ix_github_commits_files_status", "repo_id", "files_status"),
)

github_commit_files = Table(
    "github_commit_files",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sha", SHA, primary_key=True),
    Column("filename", Text, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("additions", Integer, nullable=False, default=0),
    Column("deletions", Integer, nullable=False, default=0),
    Column("changes", Integer, nullable=False, default=0),
    Column("previous_filename", Text, nullable=True),
    Column("blob_sha", SHA, nullable=True),
    Column("patch", Text, nullable=True),
)

github_issues = Table(
    "github_issues",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("repo_full_name", String(300), nullable=False),
    Column("issue_id", BigInteger, nullable=False),
    Column("node_id", String(100), nullable=True),
    Column("is_pull_request", Boolean, nullable=False),
    Column("state", String(20), nullable=False),
    Column("state_reason", String(40), nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=True),
    Column("user_id", BigInteger, nullable=True),
    Column("user_login", String(100), nullable=True),
    Column("author_association", String(40), nullable=True),
    Column("labels", JsonType, nullable=False, default=list),  # names, sorted (labels table has details)
    Column("milestone", JsonType, nullable=True),  # {number, title, state, due_on}
    Column("locked", Boolean, nullable=False, default=False),
    Column("comments_count", Integer, nullable=False, default=0),
    Column("html_url", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("closed_at", TS, nullable=True),
    Column("closed_by_login", String(100), nullable=True),
    # Pull requests only (from the issue payload, then GET /pulls/{number}).
    Column("draft", Boolean, nullable=True),
    Column("merged_at", TS, nullable=True),
    Column("merge_commit_sha", SHA, nullable=True),
    Column("merged_by_id", BigInteger, nullable=True),
    Column("merged_by_login", String(100), nullable=True),
    Column("head_ref", Text, nullable=True),
    Column("head_sha", SHA, nullable=True),
    Column("head_repo_full_name", String(300), nullable=True),
    Column("base_ref", Text, nullable=True),
    Column("base_sha", SHA, nullable=True),
    Column("additions", Integer, nullable=True),
    Column("deletions", Integer, nullable=True),
    Column("changed_files", Integer, nullable=True),
    Column("commits_count", Integer, nullable=True),
    Column("requested_reviewers", JsonType, nullable=True),
    # The ``updated_at`` whose pull-request details and reviews are stored (work queue marker).
    Column("pull_synced_updated_at", TS, nullable=True),
    Column("row_updated_at", TS, nullable=False),
    change_column(),  # what the vector sync selects on (core.store.changes): migration 2
    Index("ix_github_issues_repo_updated", "repo_id", "updated_at"),
    Index("ix_github_issues_row_updated", "row_updated_at"),
)

github_issue_labels = Table(
    "github_issue_labels",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), primary_key=True),
    Column("label_id", BigInteger, nullable=True),
    Column("color", String(20), nullable=True),
    Column("description", Text, nullable=True),
)

github_issue_assignees = Table(
    "github_issue_assignees",
    github_metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("login", String(100), nullable=False),
)

github_issue_comments = Table(
    "github_issue_comments",
    github_metadata,
    Column("comment_id", BigInteger, primary_key=True, autoincrement=False),
    Column("node_id", String(100), nullable=True),
    Column("repo_id", BigInteger, nullable=False),
    Column("issue_number", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("user_login", String(100), nullable=True),
    Column("author_association", String(40), nullable=True),
    Column("body", Text, nullable=True),
    Column("html_url", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("row_updated_at", TS, nullable=False),
    change_column(),  # what the vector sync selects on (core.store.changes): migration 2
    Index("ix_github_issue_comments_issue", "repo_id", "issue_number"),
    Index("ix_github_issue_comments_row_updated", "row_updated_at"),
)

github_review_comments = Table(
    "github_review_comments",
    github_metadata,
    Column("comment_id", BigInteger, primary_key=True, autoincrement=False),
    Column("node_id", String(100), nullable=True),
    Column("repo_id", BigInteger, nullable=False),
    Column("pull_number", Integer, nullable=False),
    Column("review_id", BigInteger, nullable=True),
    Column("in_reply_to_id", BigInteger, nullable=True),
    Column("user_id", BigInteger, nullable=True),
    Column("user_login", String(100), nullable=True),
    Column("author_association", String(40), nullable=True),
    Column("body", Text, nullable=True),
    Column("path", Text, nullable=True),
    Column("diff_hunk", Text, nullable=True),
    Column("commit_id", SHA, nullable=True),
    Column("original_commit_id", SHA, nullable=True),
    Column("line", Integer, nullable=True),
    Column("original_line", Integer, nullable=True),
    Column("side", String(10), nullable=True),
    Column("html_url", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("row_updated_at", TS, nullable=False),
    change_column(),  # what the vector sync selects on (core.store.changes): migration 2
    Index("ix_github_review_comments_pull", "repo_id", "pull_number"),
    Index("ix_github_review_comments_row_updated", "row_updated_at"),
)

github_reviews = Table(
    "github_reviews",
    github_metadata,
    Column("review_id", BigInteger, primary_key=True, autoincrement=False),
    Column("node_id", String(100), nullable=True),
    Column("repo_id", BigInteger, nullable=False),
    Column("pull_number", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("user_login", String(100), nullable=True),
    Column("author_association", String(40), nullable=True),
    Column("state", String(40), nullable=False),
    Column("body", Text, nullable=True),
    Column("commit_id", SHA, nullable=True),
    Column("html_url", Text, nullable=True),
    Column("submitted_at", TS, nullable=True),
    Column("row_updated_at", TS, nullable=False),
    change_column(),  # what the vector sync selects on (core.store.changes): migration 2
    Index("ix_github_reviews_pull", "repo_id", "pull_number"),
    Index("ix_github_reviews_row_updated", "row_updated_at"),
)

GITHUB_MIGRATIONS = (
    Migration(
        1,
        "repositories, users, commits and files, issues and pull requests, labels, assignees, "
        "comments, review comments, reviews",
        create_tables(
            github_repositories,
            github_users,
            github_commits,
            github_commit_files,
            github_issues,
            github_issue_labels,
            github_issue_assignees,
            github_issue_comments,
            github_review_comments,
            github_reviews,
        ),
    ),
    Migration(
        2,
        "change_seq on issues, comments, reviews, review comments for the vector sync",
        track_changes(github_issues, github_issue_comments, github_reviews, github_review_comments),
    ),
)
