"""Commit details (file lists) are written in batches: one transaction per batch, set-based.

The collector runs against the fake GitHub (real client, real HTTP); ``write_commit_details``
is also driven directly on both stores, including PostgreSQL's COPY path (50+ file rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from core.collectors import RunContext
from core.errors import DataValidationError, PermissionDeniedError
from core.store import Store
from github_activity_tracker.api_schemas import Commit
from github_activity_tracker.collector import GitHubCollector, _RepoRun
from github_activity_tracker.commit_files import FileListResult
from github_activity_tracker.rows import (
    CommitDetails,
    write_commit_details,
    write_commits,
    write_new_commits_with_details,
)
from github_activity_tracker.tables import github_commit_files, github_commits, github_users
from tests.fakes.github_server import FakeClock, FakeGitHubServer, Fault, FileChange
from tests.integration.test_github_collector import T1, Harness
from tests.integration.test_github_filters import REPO, llvm_dataset

NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(llvm_dataset(), tokens={T1: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()
    assert srv.internal_errors == []


@pytest.fixture
def harness(server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(server, clock, store_url, tmp_path)
    made.config = {**made.config, "repositories": [REPO], "streams": ["commits", "commit_files"]}
    yield made
    made.store.dispose()


def newest_first(server: FakeGitHubServer) -> list[str]:
    repo = server.dataset.repo(REPO)
    return list(repo.branches[repo.default_branch])


def test_a_page_of_commits_commits_with_its_details_in_one_transaction(
    harness: Harness, server: FakeGitHubServer
) -> None:
    counts = harness.run()

    assert counts["commit_details"] == 6
    # the repository, then the commit list page WITH its six commits' details
    assert counts["transactions"] == 2
    assert harness.count(github_commits, github_commits.c.files_status == "complete") == 6
    assert harness.count(github_commit_files) == 8


def test_a_failure_mid_batch_keeps_the_details_fetched_before_it(
    harness: Harness, server: FakeGitHubServer
) -> None:
    shas = newest_first(server)
    server.inject(Fault("status", status=404, path=f"/repos/{REPO}/commits/{shas[2]}"))

    with pytest.raises(PermissionDeniedError):
        collector = harness.collector()
        collector.validate()
        collector.collect()

    done = {r["sha"] for r in harness.rows(github_commits, github_commits.c.files_status == "complete")}
    assert done == set(shas[:2])
    assert {r["sha"] for r in harness.rows(github_commit_files)} == set(shas[:2])

    state = harness.state(REPO.lower())
    assert state.cursor("commits") is not None  # the page is stored, its checkpoint moved

    counts = harness.run()
    assert counts["commit_details"] == 4  # only the ones still pending (the work queue)
    assert harness.count(github_commits, github_commits.c.files_status == "complete") == 6
    assert harness.count(github_commit_files) == 8


# =========================================================================== the writer itself


def _commit(n: int, files: list[str]) -> Commit:
    sha = f"{n:040x}"
    return Commit.model_validate(
        {
            "sha": sha,
            "commit": {
                "message": f"commit {n}",
                "author": {"name": "A", "email": "a@example.org", "date": "2026-01-01T00:00:00Z"},
                "committer": {
                    "name": "A",
                    "email": "a@example.org",
                    "date": f"2026-01-01T00:{n % 60:02d}:00Z",
                },
            },
            "parents": [],
            "files": [
                {"filename": f, "status": "modified", "additions": 2, "deletions": 1, "changes": 3}
                for f in files
            ],
        }
    )


def _files(store: Store) -> dict[str, set[str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(github_commit_files.select()).mappings().all()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["sha"], set()).add(row["filename"])
    return found


def _details(commits: list[Commit], status: str = "complete") -> list[CommitDetails]:
    return [CommitDetails(c, list(c.files or []), status, "api") for c in commits]


@pytest.mark.parametrize("commits", [3, 60], ids=["small-batch", "copy-batch"])
def test_write_commit_details_replaces_file_lists_and_summaries(store_url: str, commits: int) -> None:
    GitHubCollector({"repositories": [REPO]}, context=RunContext(store_url=store_url)).migrate()
    store = Store.from_url(store_url)
    batch = [_commit(n, [f"src/{n}/a.cpp", f"src/{n}/b.cpp"]) for n in range(commits)]
    try:
        with store.engine.begin() as conn:
            write_commits(conn, 7, batch, NOW)
            assert write_commit_details(conn, 7, _details(batch), store_patches=False, now=NOW) == 2 * commits

        # re-processed: the first commit's list changed (b.cpp gone, c.cpp new, a name listed
        # twice), the second is truncated now; the others are written again unchanged
        changed = _commit(0, ["src/0/a.cpp", "src/0/c.cpp", "src/0/c.cpp"])
        again = [changed, *batch[1:]]
        details = _details(again)
        details[1] = CommitDetails(batch[1], list(batch[1].files or [])[:1], "truncated", "git")
        with store.engine.begin() as conn:
            write_commit_details(conn, 7, details, store_patches=False, now=NOW)

        files = _files(store)
        assert files[changed.sha] == {"src/0/a.cpp", "src/0/c.cpp"}
        assert files[batch[1].sha] == {"src/1/a.cpp"}
        assert all(files[c.sha] == {f"src/{n}/a.cpp", f"src/{n}/b.cpp"} for n, c in enumerate(batch) if n > 1)
        with store.engine.connect() as conn:
            summary = {r["sha"]: r for r in conn.execute(github_commits.select()).mappings()}
        assert summary[changed.sha]["files_count"] == 2 and summary[changed.sha]["files_status"] == "complete"
        assert summary[batch[1].sha]["files_status"] == "truncated"
        assert summary[batch[1].sha]["files_source"] == "git" and summary[batch[1].sha]["files_count"] == 1
        assert summary[changed.sha]["additions"] == 4 and summary[changed.sha]["total_changes"] == 6
        assert all(r["files_status"] == "complete" for sha, r in summary.items() if sha != batch[1].sha)
    finally:
        store.dispose()


def test_pending_details_beyond_the_cap_wait_for_the_next_run(
    harness: Harness, server: FakeGitHubServer
) -> None:
    counts = harness.run({"max_commit_details_per_run": 4})
    assert counts["commit_details"] == 4
    assert harness.count(github_commits, github_commits.c.files_status == "pending") == 2

    counts = harness.run({"max_commit_details_per_run": 4})
    assert counts["commit_details"] == 2
    assert harness.count(github_commits, github_commits.c.files_status == "pending") == 0


def test_stored_commits_are_not_written_again_unless_full_refresh(
    harness: Harness, server: FakeGitHubServer
) -> None:
    """A sha names immutable content: a re-read (here the whole list, by a wide overlap) writes
    nothing for stored commits; a full refresh writes them (e.g. GitHub now maps the author)."""
    harness.run({"overlap_minutes": 100_000})
    stamps = {r["sha"]: r["row_updated_at"] for r in harness.rows(github_commits)}
    newest = newest_first(server)[0]
    server.dataset.repo(REPO).commits[newest].message = "Amended text GitHub now shows"
    server.dataset.add_commit(REPO, "[clang] one more", author="bob", files=[FileChange("clang/x.cpp")])

    counts = harness.run({"overlap_minutes": 100_000})
    assert counts["commits"] == 7  # all listed again
    rows = {r["sha"]: r for r in harness.rows(github_commits)}
    assert {sha: rows[sha]["row_updated_at"] for sha in stamps} == stamps
    assert rows[newest]["message"] != "Amended text GitHub now shows"

    harness.run({"overlap_minutes": 100_000}, full_refresh=True)
    assert (
        harness.rows(github_commits, github_commits.c.sha == newest)[0]["message"]
        == "Amended text GitHub now shows"
    )


# =========================================================================== PostgreSQL: a page in few statements


class _MemoryRun(_RepoRun):
    """The per-repository run with ``GET /commits/{sha}`` answered from memory (no HTTP)."""

    held: dict[str, Commit] = {}

    def fetch_commit(self, sha: str) -> FileListResult:
        commit = self.held[sha]
        return FileListResult(commit, list(commit.files or []), True, "api", 1)


def _memory_run(pg_url: str, batch: list[Commit]) -> _MemoryRun:
    collector = GitHubCollector(
        {"repositories": [REPO]},
        context=RunContext(store_url=pg_url, connections={"github_default": {"password": "t"}}),
    )
    collector.validate_config()
    collector.migrate()
    run = _MemoryRun(collector, REPO)
    run.repo_id = 7
    run.held = {c.sha: c for c in batch}
    return run


def _authored(n: int, message: str | None = None) -> Commit:
    user = {"login": f"dev{n % 3}", "id": 100 + n % 3, "type": "User"}
    data = _commit(n, [f"src/{n}/a.cpp"]).model_dump(mode="json", exclude_none=True)
    data.update(author=user, committer=user)
    if message is not None:
        data["commit"]["message"] = message
    return Commit.model_validate(data)


def test_a_first_page_is_four_statements_on_postgresql(pg_url: str) -> None:
    """Which commits are stored (one SELECT), then in the page's transaction: the person
    profiles, the users, files and commits with their sums (one statement), the checkpoint
    (one compare-and-set)."""
    batch = [_authored(n) for n in range(50)]
    run = _memory_run(pg_url, batch)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()[:4]))

    event.listen(run.store.engine, "before_cursor_execute", record)
    try:
        run.store_commit_page(batch, run.state.with_cursor("commits", batch[-1].committed_at))
        assert seen == [
            "SELECT sha, files_status FROM",
            "INSERT INTO person_profiles AS",
            "WITH w0 AS (INSERT",  # github_users, github_commit_files, then github_commits
            "WITH updated AS (",
        ]
        with run.store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(github_commits)).scalar_one() == 50
            assert conn.execute(select(func.count()).select_from(github_commit_files)).scalar_one() == 50
            assert conn.execute(select(func.count()).select_from(github_users)).scalar_one() == 3
            assert {r.files_status for r in conn.execute(select(github_commits.c.files_status))} == {
                "complete"
            }
        assert run.state.cursor("commits") is not None
    finally:
        event.remove(run.store.engine, "before_cursor_execute", record)
        run.store.dispose()


def test_new_commits_with_details_met_stored_are_updated_details_included(pg_url: str) -> None:
    """The one-statement write of new commits: a commit stored meanwhile (another run) gets the
    fresh details; a second identical write changes nothing (row stamps kept)."""
    GitHubCollector({"repositories": [REPO]}, context=RunContext(store_url=pg_url)).migrate()
    store = Store.from_url(pg_url)
    first, second = _authored(1), _authored(2)
    later = NOW + dt.timedelta(hours=1)
    try:
        with store.transaction() as conn:
            write_commits(conn, 7, [first], NOW)  # stored without details
            assert write_new_commits_with_details(conn, 7, _details([second]), store_patches=False, now=NOW)
        with store.transaction() as conn:
            assert write_new_commits_with_details(
                conn, 7, _details([first, second], "truncated"), store_patches=False, now=later
            )
        with store.engine.connect() as conn:
            rows = {r.sha: r for r in conn.execute(select(github_commits))}
        assert rows[first.sha].files_status == "truncated" and rows[first.sha].files_count == 1
        assert rows[first.sha].row_updated_at == later
        assert _files(store)[first.sha] == {"src/1/a.cpp"}
        with store.transaction() as conn:
            assert write_new_commits_with_details(
                conn,
                7,
                _details([first, second], "truncated"),
                store_patches=False,
                now=later + later.resolution,
            )
        with store.engine.connect() as conn:
            assert {r.row_updated_at for r in conn.execute(select(github_commits))} == {later}
    finally:
        store.dispose()


def test_an_unchanged_commit_keeps_its_row_stamp_on_postgresql(pg_url: str) -> None:
    """The one-statement upsert updates a stored commit only when a content column changed."""
    GitHubCollector({"repositories": [REPO]}, context=RunContext(store_url=pg_url)).migrate()
    store = Store.from_url(pg_url)
    later = NOW + dt.timedelta(hours=1)
    try:
        with store.transaction() as conn:
            write_commits(conn, 7, [_authored(1), _authored(2)], NOW)
        with store.transaction() as conn:
            write_commits(conn, 7, [_authored(1), _authored(2, "Reworded")], later)
        with store.engine.connect() as conn:
            rows = {r.sha: r for r in conn.execute(select(github_commits))}
            users = {r.user_id: r.row_updated_at for r in conn.execute(select(github_users))}
        assert rows[_authored(1).sha].row_updated_at == NOW
        assert (rows[_authored(2).sha].message, rows[_authored(2).sha].row_updated_at) == ("Reworded", later)
        assert set(users.values()) == {NOW}
    finally:
        store.dispose()


def test_a_nul_character_names_the_column_and_stores_nothing_on_postgresql(pg_url: str) -> None:
    run = _memory_run(pg_url, [_authored(1, "bad \x00 message")])
    try:
        with pytest.raises(DataValidationError, match="NUL") as raised:
            run.store_commit_page(list(run.held.values()), run.state)
        assert raised.value.location == "message"
        with run.store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(github_commits)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(github_users)).scalar_one() == 0
    finally:
        run.store.dispose()
