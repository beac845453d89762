"""Validated payloads -> table rows, and the batch writers (one call per page, inside the page's
transaction). Upserts only touch ``row_updated_at`` when a content column changed, so an
overlap re-read of unchanged items costs no vector work later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, or_, select, text, update

from core.identity import Profile, upsert_profiles
from core.store import as_utc, upsert_rows
from core.store.pg_json import json_rows, json_upsert_head
from github_activity_tracker.api_schemas import (
    Commit,
    CommitFile,
    Issue,
    IssueComment,
    PullRequest,
    Repository,
    Review,
    ReviewComment,
    SimpleUser,
)
from github_activity_tracker.tables import (
    github_commit_files,
    github_commits,
    github_issue_assignees,
    github_issue_comments,
    github_issue_labels,
    github_issues,
    github_repositories,
    github_review_comments,
    github_reviews,
    github_users,
)

__all__ = [
    "CommitDetails",
    "write_commit_details",
    "write_commit_files",
    "write_commits",
    "write_issue_comments",
    "write_issues",
    "write_new_commits_with_details",
    "write_pull_details",
    "write_repository",
    "write_review_comments",
    "write_reviews",
    "write_users",
]

Row = dict[str, Any]


def _content_columns(table: Table, keys: Sequence[str], exclude: Iterable[str] = ()) -> list[str]:
    skip = {*keys, "row_updated_at", *exclude}
    return [c.name for c in table.columns if c.name not in skip]


def _upsert_content(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    *,
    exclude_from_update: Iterable[str] = (),
    expect_new: bool = False,
) -> int:
    """Insert or update in place; an update happens only when a content column differs.
    ``expect_new``: nearly every key is new (PostgreSQL tries a plain COPY first)."""
    if not rows:
        return 0
    present = set(rows[0])
    content = [c for c in _content_columns(table, keys, exclude_from_update) if c in present]
    return upsert_rows(
        conn,
        table,
        rows,
        keys,
        update_columns=[*content, "row_updated_at"],
        only_if_changed=content,
        expect_new=expect_new,
    )


# --------------------------------------------------------------------------- PostgreSQL: one statement a page
#
# A page of commits is written on PostgreSQL by statements whose text does not depend on the
# batch: the rows travel as ONE JSON parameter per table, turned back into typed rows by
# ``json_to_recordset``, and the upserts of one step are data-modifying CTEs of one statement
# (one round trip). The SQL is built once per process from the table definitions with plain
# string formatting: building and compiling a multi-row VALUES statement (or a COPY with its
# savepoint) cost more than the writes themselves for a page of 50 commits.

# Above this many file rows in a page, COPY (core.store.upsert_rows) is used for the files.
PG_JSON_FILE_ROWS = 2000


def _q(name: str) -> str:
    return f'"{name}"'


@functools.cache
def _pg_upsert_sql(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    updates: tuple[str, ...],
    changed: tuple[str, ...],
) -> str:
    """The upsert of ``table`` from its JSON parameter ``rows_<table>`` (``core.store.pg_json``):
    ``updates`` from the incoming row, only where one of ``changed`` differs (an unchanged row
    keeps its ``row_updated_at``)."""
    sql = json_upsert_head(table, columns, keys, f"rows_{table.name}")
    if not updates:
        return sql + "DO NOTHING"
    sql += "DO UPDATE SET " + ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in updates)
    if changed:
        sql += " WHERE " + " OR ".join(f"t.{_q(c)} IS DISTINCT FROM EXCLUDED.{_q(c)}" for c in changed)
    return sql


_PgStep = tuple[str, dict[str, Any]]


def _pg_upsert(
    table: Table, rows: Sequence[Row], keys: Sequence[str], *, content: bool, exclude: Iterable[str] = ()
) -> _PgStep | None:
    """The upsert of ``rows`` as one shape-stable statement and its JSON parameter (rows
    unique on the key, the last one winning, as ``upsert_rows``). ``content``: update the
    content columns and ``row_updated_at`` only when a content column changed (else every
    non-key column). A NUL character in a text field raises DataValidationError naming the
    table, column and row (PostgreSQL text cannot hold one); elsewhere (e.g. escaped in a JSON
    value, or a literal backslash-u0000) it returns None and the caller takes the
    general path."""
    by_key = {tuple(row[k] for k in keys): row for row in rows}
    columns = tuple(rows[0])
    if content:
        changed = tuple(c for c in _content_columns(table, keys, exclude) if c in columns)
        updates = (*changed, "row_updated_at")
    else:
        changed = ()
        updates = tuple(c for c in columns if c not in keys)
    data = json_rows(table, columns, list(by_key.values()))
    if "\\u0000" in data:
        return None
    return _pg_upsert_sql(table, columns, tuple(keys), updates, changed), {f"rows_{table.name}": data}


def _pg_execute(conn: Connection, steps: Sequence[_PgStep], last: _PgStep) -> None:
    """``steps`` as data-modifying CTEs of ``last``: one statement, one round trip. Each CTE
    writes another table than the others, so their order inside the statement does not matter."""
    params: dict[str, Any] = {}
    ctes = []
    for n, (sql, values) in enumerate(steps):
        ctes.append(f"w{n} AS ({sql})")
        params.update(values)
    sql, values = last
    params.update(values)
    conn.execute(text(f"WITH {', '.join(ctes)} {sql}" if ctes else sql), params)


# --------------------------------------------------------------------------- users


def _user_row(user: SimpleUser, now: dt.datetime) -> Row:
    return {
        "user_id": user.id,
        "login": user.login,
        "node_id": user.node_id,
        "type": user.type,
        "site_admin": user.site_admin,
        "html_url": user.html_url,
        "row_updated_at": now,
    }


def _profile(user: SimpleUser, now: dt.datetime) -> Profile:
    """A user as a person profile. The API describes the account as it is when we ask, so the
    sighting time is the time of the response, not of the activity it came with."""
    return Profile(
        external_id=str(user.id),
        seen_at=now,
        username=user.login,
        profile_url=user.html_url,
        is_bot=user.type == "Bot",
        attrs=user.model_dump(mode="json"),
    )


def write_users(conn: Connection, users: Iterable[SimpleUser | None], now: dt.datetime) -> int:
    """Users are shared by every repository: rows go in id order, so concurrent per-repository
    tasks lock them in the same order (no deadlock between two upserts). Each user is also
    recorded in ``person_profiles`` (source ``github``, the numeric id) in the same transaction."""
    unique = {u.id: u for u in users if u is not None}
    upsert_profiles(conn, "github", [_profile(unique[k], now) for k in sorted(unique)])
    rows = {k: _user_row(u, now) for k, u in unique.items()}
    return _upsert_content(conn, github_users, [rows[k] for k in sorted(rows)], ["user_id"])


def _login(user: SimpleUser | None) -> str | None:
    return user.login if user else None


def _uid(user: SimpleUser | None) -> int | None:
    return user.id if user else None


# --------------------------------------------------------------------------- repositories


def write_repository(conn: Connection, repo: Repository, now: dt.datetime) -> None:
    write_users(conn, [repo.owner], now)
    row = {
        "repo_id": repo.id,
        "node_id": repo.node_id,
        "full_name": repo.full_name,
        "owner": repo.owner.login,
        "name": repo.name,
        "description": repo.description,
        "private": repo.private,
        "fork": repo.fork,
        "archived": repo.archived,
        "default_branch": repo.default_branch,
        "language": repo.language,
        "topics": list(repo.topics),
        "homepage": repo.homepage,
        "html_url": repo.html_url,
        "clone_url": repo.clone_url,
        "created_at": as_utc(repo.created_at),
        "updated_at": as_utc(repo.updated_at),
        "pushed_at": as_utc(repo.pushed_at),
        "row_updated_at": now,
    }
    _upsert_content(conn, github_repositories, [row], ["repo_id"])


# --------------------------------------------------------------------------- commits

# Columns of github_commits that only the commit_files stream writes.
_COMMIT_DETAIL_COLUMNS = (
    "additions",
    "deletions",
    "total_changes",
    "files_count",
    "files_status",
    "files_source",
)


def _commit_row(repo_id: int, c: Commit, now: dt.datetime) -> Row:
    author, committer = c.commit.author, c.commit.committer
    return {
        "repo_id": repo_id,
        "sha": c.sha,
        "node_id": c.node_id,
        "message": c.commit.message,
        "author_id": _uid(c.author),
        "author_login": _login(c.author),
        "author_name": author.name if author else None,
        "author_email": author.email if author else None,
        "authored_at": as_utc(author.date) if author else None,
        "committer_id": _uid(c.committer),
        "committer_login": _login(c.committer),
        "committer_name": committer.name if committer else None,
        "committer_email": committer.email if committer else None,
        "committed_at": as_utc(c.committed_at),
        "parents": [p.sha for p in c.parents],
        "html_url": c.html_url,
        "files_status": "pending",
        "row_updated_at": now,
    }


def write_commits(
    conn: Connection, repo_id: int, commits: Sequence[Commit], now: dt.datetime, *, expect_new: bool = False
) -> int:
    """Upsert commits (details columns untouched); ``expect_new``: the caller knows them to be new."""
    if not commits:
        return 0
    users: list[SimpleUser | None] = []
    rows: list[Row] = []
    for c in commits:
        users += [c.author, c.committer]
        rows.append(_commit_row(repo_id, c, now))
    if conn.dialect.name == "postgresql":
        # Profiles (core.identity), then the users and the commits in one statement.
        unique = {u.id: u for u in users if u is not None}
        upsert_profiles(conn, "github", [_profile(unique[k], now) for k in sorted(unique)])
        user_rows = [_user_row(unique[k], now) for k in sorted(unique)]
        commit_step = _pg_upsert(
            github_commits, rows, ["repo_id", "sha"], content=True, exclude=_COMMIT_DETAIL_COLUMNS
        )
        user_step = _pg_upsert(github_users, user_rows, ["user_id"], content=True) if user_rows else None
        if commit_step is not None and (user_step is not None or not user_rows):
            _pg_execute(conn, [user_step] if user_step else [], commit_step)
            return len({c.sha for c in commits})
        _upsert_content(conn, github_users, user_rows, ["user_id"])
    else:
        write_users(conn, users, now)
    return _upsert_content(
        conn,
        github_commits,
        rows,
        ["repo_id", "sha"],
        exclude_from_update=_COMMIT_DETAIL_COLUMNS,
        expect_new=expect_new,
    )


def write_new_commits_with_details(
    conn: Connection, repo_id: int, details: Sequence[CommitDetails], *, store_patches: bool, now: dt.datetime
) -> bool:
    """PostgreSQL: commits the caller knows to be new (no file rows yet), each with its
    details, in ONE statement after the person profiles: the users, the file rows and the
    commits with their sums (what :func:`write_commits` then :func:`write_commit_details` write
    in two). A commit stored meanwhile is updated, details included. False (nothing written)
    when it does not apply: another database, a page of ``PG_JSON_FILE_ROWS`` files or more, a
    value the general path must judge; the caller then takes the general path."""
    by_sha = {d.commit.sha: d for d in details}
    if conn.dialect.name != "postgresql" or not by_sha:
        return False
    files = {
        sha: {f.filename: f for f in d.files} for sha, d in by_sha.items()
    }  # a name listed twice is one row
    file_rows = [
        _file_row(repo_id, sha, f, store_patches) for sha in sorted(files) for f in files[sha].values()
    ]
    if len(file_rows) >= PG_JSON_FILE_ROWS:
        return False
    users: list[SimpleUser | None] = []
    rows: list[Row] = []
    for sha in sorted(by_sha):
        c = by_sha[sha].commit
        users += [c.author, c.committer]
        summary = _summary(by_sha[sha], list(files[sha].values()))
        rows.append({**_commit_row(repo_id, c, now), **{k: summary[k] for k in _SUMMARY}})
    unique = {u.id: u for u in users if u is not None}
    user_rows = [_user_row(unique[k], now) for k in sorted(unique)]
    steps = [
        _pg_upsert(github_users, user_rows, ["user_id"], content=True) if user_rows else None,
        _pg_upsert(github_commit_files, file_rows, ["repo_id", "sha", "filename"], content=False)
        if file_rows
        else None,
    ]
    commit_step = _pg_upsert(github_commits, rows, ["repo_id", "sha"], content=True)
    if commit_step is None or (user_rows and steps[0] is None) or (file_rows and steps[1] is None):
        return False
    upsert_profiles(conn, "github", [_profile(unique[k], now) for k in sorted(unique)])
    _pg_execute(conn, [step for step in steps if step is not None], commit_step)
    return True


def write_commit_files(
    conn: Connection,
    repo_id: int,
    commit: Commit,
    files: Sequence[CommitFile],
    *,
    status: str,
    source: str,
    store_patches: bool,
    now: dt.datetime,
) -> int:
    """Replace one commit's file list and mark its details done (:func:`write_commit_details`)."""
    detail = CommitDetails(commit, files, status, source)
    return write_commit_details(conn, repo_id, [detail], store_patches=store_patches, now=now)


@dataclasses.dataclass(frozen=True)
class CommitDetails:
    """One commit's details as fetched: its file list, whether complete, and from where."""

    commit: Commit
    files: Sequence[CommitFile]
    status: str  # complete | truncated
    source: str  # api | git


_SUMMARY = ("additions", "deletions", "total_changes", "files_count", "files_status", "files_source")
_IN_CHUNK = 500  # shas per IN (...) list (SQLite's bound-variable limit, short statements)


def _file_row(repo_id: int, sha: str, f: CommitFile, store_patches: bool) -> Row:
    return {
        "repo_id": repo_id,
        "sha": sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.changes,
        "previous_filename": f.previous_filename,
        "blob_sha": f.sha,
        "patch": f.patch if store_patches else None,
    }


def _summary(detail: CommitDetails, files: Sequence[CommitFile]) -> Row:
    stats = detail.commit.stats
    return {
        "sha": detail.commit.sha,
        "additions": stats.additions if stats else sum(f.additions for f in files),
        "deletions": stats.deletions if stats else sum(f.deletions for f in files),
        "total_changes": stats.total if stats else sum(f.changes for f in files),
        "files_count": len(files),
        "files_status": detail.status,
        "files_source": detail.source,
    }


def write_commit_details(
    conn: Connection,
    repo_id: int,
    details: Sequence[CommitDetails],
    *,
    store_patches: bool,
    now: dt.datetime,
    without_files: Collection[str] = (),
) -> int:
    """Replace the file lists of a batch of commits and mark their details done, set-based:
    one ``DELETE`` of their old file rows, the new ones in one batch (COPY on PostgreSQL from
    ``COPY_THRESHOLD`` rows), one ``UPDATE ... FROM (VALUES ...)`` of the commits (SQLite: one
    executemany). Call it inside the batch's transaction. Returns the file rows written.
    ``without_files``: shas the caller knows to have no file rows yet (just inserted), left
    out of the ``DELETE``."""
    by_sha = {d.commit.sha: d for d in details}
    if not by_sha:
        return 0
    shas = sorted(by_sha)
    replaced = [sha for sha in shas if sha not in set(without_files)]
    for start in range(0, len(replaced), _IN_CHUNK):
        conn.execute(
            github_commit_files.delete().where(
                github_commit_files.c.repo_id == repo_id,
                github_commit_files.c.sha.in_(replaced[start : start + _IN_CHUNK]),
            )
        )
    rows: list[Row] = []
    summaries: list[Row] = []
    for sha in shas:
        files = {f.filename: f for f in by_sha[sha].files}  # a name listed twice is one row
        rows += [_file_row(repo_id, sha, f, store_patches) for f in files.values()]
        summaries.append(_summary(by_sha[sha], list(files.values())))
    if conn.dialect.name == "postgresql" and len(rows) < PG_JSON_FILE_ROWS:
        # The files and the commits' sums in one statement.
        files_step = (
            _pg_upsert(github_commit_files, rows, ["repo_id", "sha", "filename"], content=False)
            if rows
            else None
        )
        if files_step is not None or not rows:
            _pg_execute(conn, [files_step] if files_step else [], _pg_summaries(repo_id, summaries, now))
            return len(rows)
    if rows:
        upsert_rows(conn, github_commit_files, rows, ["repo_id", "sha", "filename"], expect_new=True)
    _update_summaries(conn, repo_id, summaries, now)
    return len(rows)


# One statement whatever the batch size (the arrays are parameters): compiled once, one round trip.
_PG_UPDATE_SUMMARIES = text(
    """
    UPDATE github_commits AS c
    SET additions = d.additions, deletions = d.deletions, total_changes = d.total_changes,
        files_count = d.files_count, files_status = d.files_status, files_source = d.files_source,
        row_updated_at = :now
    FROM unnest(CAST(:sha AS text[]), CAST(:additions AS integer[]), CAST(:deletions AS integer[]),
                CAST(:total_changes AS integer[]), CAST(:files_count AS integer[]),
                CAST(:files_status AS text[]), CAST(:files_source AS text[]))
        AS d (sha, additions, deletions, total_changes, files_count, files_status, files_source)
    WHERE c.repo_id = :repo_id AND c.sha = d.sha
    """
)


def _pg_summaries(repo_id: int, summaries: Sequence[Row], now: dt.datetime) -> _PgStep:
    columns = {name: [row[name] for row in summaries] for name in ("sha", *_SUMMARY)}
    return _PG_UPDATE_SUMMARIES.text, {**columns, "repo_id": repo_id, "now": now}


def _update_summaries(conn: Connection, repo_id: int, summaries: Sequence[Row], now: dt.datetime) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_UPDATE_SUMMARIES, _pg_summaries(repo_id, summaries, now)[1])
        return
    t = github_commits
    statement = (
        update(t)
        .where(t.c.repo_id == repo_id, t.c.sha == bindparam("b_sha"))
        .values({**{name: bindparam(f"b_{name}") for name in _SUMMARY}, "row_updated_at": now})
    )
    conn.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in summaries])


# --------------------------------------------------------------------------- issues


def _issue_row(repo_id: int, full_name: str, issue: Issue, now: dt.datetime) -> Row:
    milestone = None
    if issue.milestone is not None:
        m = issue.milestone
        milestone = {
            "number": m.number,
            "title": m.title,
            "state": m.state,
            "due_on": m.due_on.astimezone(dt.UTC).isoformat() if m.due_on else None,
        }
    return {
        "repo_id": repo_id,
        "number": issue.number,
        "repo_full_name": full_name,
        "issue_id": issue.id,
        "node_id": issue.node_id,
        "is_pull_request": issue.is_pull_request,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user_id": _uid(issue.user),
        "user_login": _login(issue.user),
        "author_association": issue.author_association,
        "labels": sorted({label.name for label in issue.labels}),
        "milestone": milestone,
        "locked": issue.locked,
        "comments_count": issue.comments,
        "html_url": issue.html_url,
        "created_at": as_utc(issue.created_at),
        "updated_at": as_utc(issue.updated_at),
        "closed_at": as_utc(issue.closed_at),
        "closed_by_login": _login(issue.closed_by),
        "merged_at": as_utc(issue.pull_request.merged_at) if issue.pull_request else None,
        "row_updated_at": now,
    }


def _reconcile(
    conn: Connection,
    table: Table,
    repo_id: int,
    member: str,
    current: Mapping[int, Sequence[Row]],
    *,
    content: Sequence[str],
) -> tuple[int, int]:
    """Make ``table``'s rows for these issues exactly ``current``: delete the ones gone, upsert the rest."""
    numbers = list(current)
    existing = conn.execute(
        select(table.c.number, table.c[member]).where(table.c.repo_id == repo_id, table.c.number.in_(numbers))
    ).all()
    wanted = {(n, row[member]) for n, rows in current.items() for row in rows}
    gone: dict[int, list[Any]] = {}
    for number, value in existing:
        if (number, value) not in wanted:
            gone.setdefault(number, []).append(value)
    if gone:
        conn.execute(
            table.delete().where(
                table.c.repo_id == repo_id,
                or_(*(and_(table.c.number == n, table.c[member].in_(v)) for n, v in gone.items())),
            )
        )
    rows = [row for rows in current.values() for row in rows]
    if rows:
        upsert_rows(
            conn,
            table,
            rows,
            ["repo_id", "number", member],
            update_columns=list(content) or None,
            only_if_changed=list(content) or None,
        )
    return len(rows), sum(len(v) for v in gone.values())


def write_issues(
    conn: Connection, repo_id: int, full_name: str, issues: Sequence[Issue], now: dt.datetime
) -> int:
    """Upsert issues and pull requests, with labels and assignees reconciled (removed ones go)."""
    if not issues:
        return 0
    users: list[SimpleUser | None] = []
    for issue in issues:
        users += [issue.user, issue.closed_by, *(issue.assignees or [])]
    write_users(conn, users, now)
    rows = [_issue_row(repo_id, full_name, issue, now) for issue in issues]
    count = _upsert_content(conn, github_issues, rows, ["repo_id", "number"])
    labels = {
        issue.number: [
            {
                "repo_id": repo_id,
                "number": issue.number,
                "name": label.name,
                "label_id": label.id,
                "color": label.color,
                "description": label.description,
            }
            for label in {lb.name: lb for lb in issue.labels}.values()
        ]
        for issue in issues
    }
    _reconcile(
        conn, github_issue_labels, repo_id, "name", labels, content=["label_id", "color", "description"]
    )
    assignees = {
        issue.number: [
            {"repo_id": repo_id, "number": issue.number, "user_id": user.id, "login": user.login}
            for user in {u.id: u for u in issue.assignees or []}.values()
        ]
        for issue in issues
    }
    _reconcile(conn, github_issue_assignees, repo_id, "user_id", assignees, content=["login"])
    return count


def write_pull_details(
    conn: Connection, repo_id: int, pull: PullRequest, synced_updated_at: dt.datetime, now: dt.datetime
) -> bool:
    """Store what only ``GET /pulls/{n}`` knows; returns whether a content column changed."""
    write_users(conn, [pull.merged_by, *pull.requested_reviewers], now)
    values: Row = {
        "draft": pull.draft,
        "merged_at": as_utc(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "merged_by_id": _uid(pull.merged_by),
        "merged_by_login": _login(pull.merged_by),
        "head_ref": pull.head.ref,
        "head_sha": pull.head.sha,
        "head_repo_full_name": pull.head.repo_full_name,
        "base_ref": pull.base.ref,
        "base_sha": pull.base.sha,
        "additions": pull.additions,
        "deletions": pull.deletions,
        "changed_files": pull.changed_files,
        "commits_count": pull.commits,
        "requested_reviewers": sorted(u.login for u in pull.requested_reviewers),
    }
    key = and_(github_issues.c.repo_id == repo_id, github_issues.c.number == pull.number)
    changed = conn.execute(
        update(github_issues)
        .where(key, or_(*(github_issues.c[c].is_distinct_from(v) for c, v in values.items())))
        .values(**values, row_updated_at=now)
    ).rowcount
    mark_pull_synced(conn, repo_id, pull.number, synced_updated_at)
    return bool(changed)


def mark_pull_synced(conn: Connection, repo_id: int, number: int, synced_updated_at: dt.datetime) -> None:
    conn.execute(
        update(github_issues)
        .where(github_issues.c.repo_id == repo_id, github_issues.c.number == number)
        .values(pull_synced_updated_at=synced_updated_at)
    )


# --------------------------------------------------------------------------- comments and reviews


def write_issue_comments(
    conn: Connection, repo_id: int, comments: Sequence[IssueComment], now: dt.datetime
) -> int:
    write_users(conn, [c.user for c in comments], now)
    rows = [
        {
            "comment_id": c.id,
            "node_id": c.node_id,
            "repo_id": repo_id,
            "issue_number": c.issue_number,
            "user_id": _uid(c.user),
            "user_login": _login(c.user),
            "author_association": c.author_association,
            "body": c.body,
            "html_url": c.html_url,
            "created_at": as_utc(c.created_at),
            "updated_at": as_utc(c.updated_at),
            "row_updated_at": now,
        }
        for c in comments
    ]
    return _upsert_content(conn, github_issue_comments, rows, ["comment_id"])


def write_review_comments(
    conn: Connection, repo_id: int, comments: Sequence[ReviewComment], now: dt.datetime
) -> int:
    write_users(conn, [c.user for c in comments], now)
    rows = [
        {
            "comment_id": c.id,
            "node_id": c.node_id,
            "repo_id": repo_id,
            "pull_number": c.pull_number,
            "review_id": c.pull_request_review_id,
            "in_reply_to_id": c.in_reply_to_id,
            "user_id": _uid(c.user),
            "user_login": _login(c.user),
            "author_association": c.author_association,
            "body": c.body,
            "path": c.path,
            "diff_hunk": c.diff_hunk,
            "commit_id": c.commit_id,
            "original_commit_id": c.original_commit_id,
            "line": c.line,
            "original_line": c.original_line,
            "side": c.side,
            "html_url": c.html_url,
            "created_at": as_utc(c.created_at),
            "updated_at": as_utc(c.updated_at),
            "row_updated_at": now,
        }
        for c in comments
    ]
    return _upsert_content(conn, github_review_comments, rows, ["comment_id"])


def write_reviews(
    conn: Connection, repo_id: int, pull_number: int, reviews: Sequence[Review], now: dt.datetime
) -> int:
    write_users(conn, [r.user for r in reviews], now)
    rows = [
        {
            "review_id": r.id,
            "node_id": r.node_id,
            "repo_id": repo_id,
            "pull_number": pull_number,
            "user_id": _uid(r.user),
            "user_login": _login(r.user),
            "author_association": r.author_association,
            "state": r.state,
            "body": r.body,
            "commit_id": r.commit_id,
            "html_url": r.html_url,
            "submitted_at": as_utc(r.submitted_at),
            "row_updated_at": now,
        }
        for r in reviews
    ]
    return _upsert_content(conn, github_reviews, rows, ["review_id"])
