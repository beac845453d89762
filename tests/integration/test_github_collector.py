"""The GitHub collector end to end: real client, real HTTP to the fake GitHub, real stores.

Every test drives ``GitHubCollector`` (validate, then collect, as the Airflow steps do)
against :class:`FakeGitHubServer`; only time is fake (the client's sleeps advance a clock the
server also uses for rate-limit resets). Tests taking ``store_url`` run on SQLite and on
PostgreSQL; the crash test kills a real collector process on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.collectors import RunContext
from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    DataValidationError,
    PermissionDeniedError,
    RateLimitError,
    classify_failure,
)
from core.store import Store, collector_checkpoints, load_checkpoint
from github_activity_tracker.collector import GitHubCollector
from github_activity_tracker.protocol_impl import GitHubRepoState
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
from tests.conftest import PROJECT_ROOT
from tests.fakes.git_repos import bare_repo_with_big_commit
from tests.fakes.github_server import (
    BASE_TIME,
    FakeClock,
    FakeGitHubServer,
    Fault,
    FileChange,
    build_dataset,
)

T1 = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0" * 2
T2 = "second-token-value-4b3c2d1e0f"
REPOS = ["acme/widgets", "acme/gadgets"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(build_dataset("small"), tokens={T1: 5000, T2: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()
    assert srv.internal_errors == []


class Harness:
    """Builds collectors the way the Airflow steps do and reads the store back."""

    def __init__(self, server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> None:
        self.server = server
        self.clock = clock
        self.store_url = store_url
        self.tmp_path = tmp_path
        self.config: dict[str, Any] = {
            "repositories": list(REPOS),
            "web_host": "github.com",
            "clone_cache_dir": str(tmp_path / "git-cache"),
            "min_remaining": 0,
        }
        self.tokens: tuple[str, ...] = (T1,)
        self.store = Store.from_url(store_url)

    def collector(self, config: dict[str, Any] | None = None, **context: Any) -> GitHubCollector:
        ctx = RunContext(
            store_url=self.store_url,
            connections={
                "github_default": {"host": self.server.base_url, "password": "\n".join(self.tokens)}
            },
            **context,
        )
        return GitHubCollector(
            {**self.config, **(config or {})},
            context=ctx,
            clock=self.clock.time,
            sleep=self.clock.sleep,
            rng=lambda: 0.0,
        )

    def run(self, config: dict[str, Any] | None = None, **context: Any) -> dict[str, int]:
        collector = self.collector(config, **context)
        collector.validate()
        result = collector.run()
        assert result.success
        collector.store.dispose()
        return dict(result.counts)

    def count(self, table: Any, *where: Any) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def rows(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]

    def state(self, repo: str) -> GitHubRepoState:
        with self.store.engine.connect() as conn:
            return GitHubRepoState.from_state(repo, load_checkpoint(conn, "github", repo))

    def checkpoint_rows(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            query = select(collector_checkpoints).where(collector_checkpoints.c.collector == "github")
            return [
                dict(r) for r in conn.execute(query.order_by(collector_checkpoints.c.partition)).mappings()
            ]

    def issue(self, number: int, repo: str = "acme/widgets") -> dict[str, Any]:
        rows = self.rows(
            github_issues, github_issues.c.number == number, github_issues.c.repo_full_name == repo
        )
        assert len(rows) == 1
        return rows[0]


@pytest.fixture
def harness(server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(server, clock, store_url, tmp_path)
    yield made
    made.store.dispose()


def expected_totals(server: FakeGitHubServer, repos: list[str] = REPOS) -> dict[str, int]:
    ds = server.dataset
    selected = [ds.repo(r) for r in repos]
    return {
        "issues": sum(len(r.issues) for r in selected),
        "pulls": sum(1 for r in selected for i in r.issues.values() if i.pull),
        "comments": sum(len(r.issue_comments) for r in selected),
        "review_comments": sum(len(r.review_comments) for r in selected),
        "reviews": sum(len(r.reviews) for r in selected),
        "commits": sum(len(r.branches[r.default_branch]) for r in selected),
        "files": sum(len(r.commits[s].files) for r in selected for s in r.branches[r.default_branch]),
    }


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


# =========================================================================== first run, pagination


def test_first_run_reads_every_stream_across_pages(harness: Harness, server: FakeGitHubServer) -> None:
    counts = harness.run({"per_page": 2})
    want = expected_totals(server)

    assert harness.count(github_repositories) == 2
    assert harness.count(github_issues) == want["issues"]
    assert harness.count(github_issues, github_issues.c.is_pull_request.is_(True)) == want["pulls"]
    assert harness.count(github_issue_comments) == want["comments"]
    assert harness.count(github_review_comments) == want["review_comments"]
    assert harness.count(github_reviews) == want["reviews"]
    assert harness.count(github_commits) == want["commits"]  # the default branch only
    assert harness.count(github_commit_files) == want["files"]
    assert harness.count(github_commits, github_commits.c.files_status != "complete") == 0
    assert harness.count(github_users) >= 5
    # several pages per list, later pages through GitHub's /repositories/{id}/... links
    assert counts["issues_pages"] >= 3 and counts["issue_comments_pages"] >= 3
    assert server.count(path="/repositories/") > 0
    assert counts["issues"] == want["issues"] and counts["commits"] == want["commits"]
    assert counts["github_requests"] == counts["github_quota_consuming"] + counts["github_not_modified"] + 1

    merged = harness.issue(4)
    pr = server.dataset.repo("acme/widgets").issues[4]
    assert merged["is_pull_request"] and merged["state"] == "closed"
    assert merged["merged_by_login"] == "alice" and merged["merge_commit_sha"] == pr.pull.merge_commit_sha
    assert merged["head_ref"] == "fix/resize" and merged["head_sha"] == pr.pull.head_sha
    assert merged["base_ref"] == "main" and merged["base_sha"] == pr.pull.base_sha
    assert merged["merged_at"] is not None and merged["draft"] is False
    assert harness.issue(5)["draft"] is True
    crash = harness.issue(1)
    assert crash["state_reason"] == "completed" and crash["milestone"]["title"] == "v1.0"
    assert crash["labels"] == ["bug"] and not crash["is_pull_request"]
    assert harness.issue(6)["state_reason"] == "not_planned"
    assert [r["login"] for r in harness.rows(github_issue_assignees)] == ["alice"]
    ghost = harness.rows(github_commits, github_commits.c.author_login.is_(None))
    assert len(ghost) == 1 and ghost[0]["author_email"] == "ghost@example.org"


def test_unchanged_second_run_spends_no_quota(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    server.clear_log()
    counts = harness.run()

    assert server.count(consumed=True) == 0, [s for s in server.served if s.consumed_quota]
    assert counts["github_quota_consuming"] == 0
    api_requests = [s for s in server.served if s.path != "/rate_limit"]
    assert all(s.conditional and s.status == 304 for s in api_requests)
    # per repository: the repository, commits, issues, issue comments, review comments
    assert len(api_requests) == 5 * len(REPOS)
    assert counts["issues_not_modified"] == len(REPOS)
    assert counts.get("issues", 0) == 0 and counts.get("commit_details", 0) == 0


def test_new_activity_costs_one_page_per_changed_stream(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    ds = server.dataset
    ds.add_issue("acme/widgets", "Brand new issue", user="dave", body="New!", labels=["docs"])
    ds.add_comment("acme/widgets", 2, user="bob", body="Any news?")
    server.clear_log()

    counts = harness.run()

    assert harness.issue(7)["title"] == "Brand new issue"
    assert harness.count(github_issue_comments) == expected_totals(server)["comments"]
    assert counts["issues"] >= 2  # the new issue and #2, bumped by its comment
    widgets_consumed = server.count(path="/repos/acme/widgets", consumed=True)
    # the repository (its open_issues_count moved), issues page 1, comments page 1; the rest 304
    assert widgets_consumed == 3
    assert server.count(path="/repos/acme/gadgets", consumed=True) == 0


def test_large_pages_round_trip_and_rereads_touch_nothing(
    store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Pages of 100 rows (PostgreSQL takes its COPY path from 50): JSON columns survive, and a full
    re-read of unchanged data leaves every row's ``row_updated_at`` alone."""
    with FakeGitHubServer(build_dataset("large"), tokens={T1: 5000}, clock=clock.time) as big:
        harness = Harness(big, clock, store_url, tmp_path)
        config = {"repositories": ["acme/widgets"], "streams": ["issues", "pull_requests", "issue_comments"]}
        harness.run(config)
        repo = big.dataset.repo("acme/widgets")
        assert harness.count(github_issues) == len(repo.issues)
        assert harness.count(github_issue_comments) == len(repo.issue_comments)
        labelled = [i for i in repo.issues.values() if i.labels]
        assert len(labelled) > 50
        assert all(harness.issue(i.number)["labels"] == sorted(i.labels) for i in labelled[:20])
        assert harness.issue(1)["milestone"] == {
            "number": 1,
            "title": "v1.0",
            "state": "open",
            "due_on": None,
        }
        stamps = {r["number"]: r["row_updated_at"] for r in harness.rows(github_issues)}
        comment_stamps = {r["comment_id"]: r["row_updated_at"] for r in harness.rows(github_issue_comments)}

        counts = harness.run(config, full_refresh=True)
        assert counts["issues"] == len(repo.issues)
        assert {r["number"]: r["row_updated_at"] for r in harness.rows(github_issues)} == stamps
        assert {
            r["comment_id"]: r["row_updated_at"] for r in harness.rows(github_issue_comments)
        } == comment_stamps
        harness.store.dispose()


# =========================================================================== edits, reconciliation, overlap


def test_labels_and_assignees_are_reconciled(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    ds = server.dataset
    ds.remove_label("acme/widgets", 1, "bug")
    ds.add_label("acme/widgets", 1, "docs")
    ds.add_label("acme/widgets", 1, "enhancement")
    ds.edit_issue("acme/widgets", 1, assignees=["bob", "carol"])
    ds.edit_issue("acme/widgets", 2, labels=[])

    harness.run()

    labels = {(r["number"], r["name"]) for r in harness.rows(github_issue_labels)}
    assert (1, "bug") not in labels and {(1, "docs"), (1, "enhancement")} <= labels
    assert not [n for n, _ in labels if n == 2]
    assert harness.issue(1)["labels"] == ["docs", "enhancement"]
    assignees = sorted(
        r["login"] for r in harness.rows(github_issue_assignees, github_issue_assignees.c.number == 1)
    )
    assert assignees == ["bob", "carol"]


def test_edited_comment_updates_in_place(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    comment = server.dataset.repo("acme/widgets").issue_comments[0]
    before = harness.rows(github_issue_comments, github_issue_comments.c.comment_id == comment.id)[0]
    total = harness.count(github_issue_comments)
    server.dataset.edit_comment("acme/widgets", comment.id, "I can reproduce this on Linux too.")
    review_comment = server.dataset.repo("acme/widgets").review_comments[0]
    server.dataset.edit_review_comment("acme/widgets", review_comment.id, "Use std::size_t here.")

    counts = harness.run()

    after = harness.rows(github_issue_comments, github_issue_comments.c.comment_id == comment.id)[0]
    assert after["body"] == "I can reproduce this on Linux too."
    assert after["updated_at"] > before["updated_at"] and after["created_at"] == before["created_at"]
    assert after["row_updated_at"] > before["row_updated_at"]
    assert harness.count(github_issue_comments) == total
    edited = harness.rows(github_review_comments, github_review_comments.c.comment_id == review_comment.id)
    assert edited[0]["body"] == "Use std::size_t here."
    assert counts["issue_comments"] >= 1 and counts["review_comments"] >= 1


def test_overlap_window_rereads_without_duplicates(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    cursor = harness.state("acme/widgets").cursor("issues")
    assert cursor is not None
    unchanged = {r["number"]: r["row_updated_at"] for r in harness.rows(github_issues)}
    # An issue the list showed late: its updated_at is older than the stored cursor.
    late = server.dataset.add_issue("acme/widgets", "Shown late by the API", user="bob", body="late")
    late.updated_at = late.created_at = cursor - dt.timedelta(minutes=4)

    counts = harness.run({"overlap_minutes": 10})

    assert harness.issue(late.number)["title"] == "Shown late by the API"
    reread = counts["issues"]
    assert reread > 1  # the overlap re-read issues already stored...
    assert harness.count(github_issues) == expected_totals(server)["issues"]  # ...without duplicating them
    with harness.store.engine.connect() as conn:
        dupes = conn.execute(
            select(github_issues.c.repo_id, github_issues.c.number, func.count())
            .group_by(github_issues.c.repo_id, github_issues.c.number)
            .having(func.count() > 1)
        ).all()
    assert dupes == []
    # re-read but unchanged rows keep their row_updated_at (no vector work for them)
    after = {r["number"]: r["row_updated_at"] for r in harness.rows(github_issues)}
    assert all(after[n] == stamp for n, stamp in unchanged.items())
    assert harness.state("acme/widgets").cursor("issues") == cursor  # the late one is older


# =========================================================================== rate limits and failures


def test_primary_rate_limit_waits_for_the_reset(
    harness: Harness, server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.set_quota(T1, remaining=0, reset_in=120)
    counts = harness.run({"max_rate_limit_wait": 600})
    assert harness.count(github_issues) == expected_totals(server)["issues"]
    assert counts["github_rate_limit_waits"] >= 1
    assert any(115 <= s <= 130 for s in clock.sleeps)


def test_primary_rate_limit_beyond_the_wait_bound_fails_with_retry_at_and_resumes(
    harness: Harness, server: FakeGitHubServer, clock: FakeClock
) -> None:
    harness.run({"streams": ["issues"]})
    server.dataset.add_issue("acme/widgets", "After the first run", user="alice")
    server.set_quota(T1, remaining=1, reset_in=3600)  # enough for one request, not for the run
    collector = harness.collector({"max_rate_limit_wait": 60})
    with pytest.raises(RateLimitError) as caught:
        collector.run()
    assert classify_failure(caught.value) is CollectorFailureCategory.RATE_LIMIT
    assert caught.value.retry_at is not None
    assert caught.value.retry_at > dt.datetime.fromtimestamp(clock.time(), dt.UTC) + dt.timedelta(minutes=50)
    collector.store.dispose()

    clock.sleep(3601)  # the scheduler comes back after the reset
    harness.run()
    assert harness.count(github_issues) == expected_totals(server)["issues"]
    assert harness.count(github_commits) == expected_totals(server)["commits"]


def test_secondary_rate_limit_honors_retry_after(
    harness: Harness, server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.inject(Fault("secondary", status=403, retry_after=42, path="/repos/acme/widgets/issues"))
    counts = harness.run()
    assert 42 in clock.sleeps
    assert counts["github_retries"] >= 1
    assert harness.count(github_issues) == expected_totals(server)["issues"]


def test_server_errors_then_success(harness: Harness, server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(
        Fault("status", status=502, path="/repos/acme/widgets/commits"),
        Fault("status", status=503, path="/repos/acme/widgets/commits"),
        Fault("reset", path="/repos/acme/gadgets/issues"),
    )
    counts = harness.run()
    assert counts["github_retries"] == 3
    assert server.count(status=502) == 1 and server.count(status=503) == 1
    assert harness.count(github_commits) == expected_totals(server)["commits"]
    assert harness.count(github_issues) == expected_totals(server)["issues"]


def test_token_exhaustion_rotates_to_the_next_token(
    harness: Harness, server: FakeGitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    harness.tokens = (T1, T2)
    server.set_quota(T1, remaining=4, reset_in=3000)
    caplog.set_level(logging.DEBUG)
    counts = harness.run()
    assert server.count(token=T1, consumed=True) == 4
    assert server.count(token=T2, consumed=True) > 0
    assert counts["github_quota_consuming"] == server.count(consumed=True)
    assert harness.count(github_issues) == expected_totals(server)["issues"]
    assert "switching to tok-" in caplog.text
    assert T1 not in caplog.text and T2 not in caplog.text


def test_bad_token_is_an_auth_failure_without_the_token(harness: Harness, server: FakeGitHubServer) -> None:
    harness.tokens = ("ghp_" + "Z" * 36,)
    collector = harness.collector()
    with pytest.raises(AuthenticationError) as caught:
        collector.validate()
    assert classify_failure(caught.value) is CollectorFailureCategory.AUTH
    assert "ghp_" + "Z" * 36 not in full_text(caught.value)
    collector.store.dispose()


# =========================================================================== bad payloads


def test_schema_breaking_payload_writes_nothing_and_keeps_the_checkpoint(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run()
    checkpoints_before = harness.checkpoint_rows()
    issues_before = harness.rows(github_issues)
    ds = server.dataset
    ds.add_issue("acme/widgets", "A fine new issue", user="carol")
    broken = ds.add_issue("acme/widgets", "Will break", user="dave")
    broken.title = None  # type: ignore[assignment]  # GitHub never sends a null title

    collector = harness.collector()
    with pytest.raises(DataValidationError) as caught:
        collector.run()
    message = str(caught.value)
    assert caught.value.source is not None and caught.value.source.startswith("/repos/acme/widgets/issues")
    assert caught.value.location == "[0].title", message
    assert classify_failure(caught.value) is CollectorFailureCategory.VALIDATION
    collector.store.dispose()

    assert harness.rows(github_issues) == issues_before  # not even the valid issue of that page
    assert harness.checkpoint_rows() == checkpoints_before

    broken.title = "Fixed upstream"
    ds.edit_issue("acme/widgets", broken.number)
    harness.run()
    assert harness.issue(broken.number)["title"] == "Fixed upstream"
    assert harness.issue(broken.number - 1)["title"] == "A fine new issue"


def test_body_that_is_not_json_is_a_validation_error(harness: Harness, server: FakeGitHubServer) -> None:
    server.inject(Fault("malformed", path="/repos/acme/widgets/issues/comments"))
    collector = harness.collector()
    with pytest.raises(DataValidationError, match="not valid JSON"):
        collector.run()
    collector.store.dispose()
    assert harness.count(github_issue_comments) == 0
    assert harness.state("acme/widgets").cursor("issue_comments") is None
    assert harness.state("acme/widgets").cursor("issues") is not None  # earlier streams committed


def test_cross_origin_next_link_is_refused(harness: Harness, server: FakeGitHubServer) -> None:
    server.inject(Fault("cross_origin_next", path="/repos/acme/widgets/issues"))
    collector = harness.collector({"per_page": 2})
    with pytest.raises(DataValidationError, match="another origin") as caught:
        collector.run()
    assert caught.value.location == 'Link rel="next"'
    collector.store.dispose()
    assert server.count(path="/repos/acme/widgets/issues") == 1
    assert harness.count(github_issues) == 0
    assert harness.state("acme/widgets").cursor("issues") is None


# =========================================================================== commit files


def _fake_repo_from_git(
    server: FakeGitHubServer, clone_url: str, parent: str, sha: str, names: list[str]
) -> None:
    ds = server.dataset
    repo = ds.add_repo("acme", "monorepo", clone_url=clone_url)
    first = ds.add_commit(
        "acme/monorepo", "init", author="alice", files=[FileChange("README", status="added")]
    )
    big = ds.add_commit(
        "acme/monorepo",
        "Vendor import",
        author="alice",
        files=[
            FileChange("README.md", status="renamed", additions=0, deletions=0, previous_filename="README"),
            *(FileChange(n, status="added", additions=3, deletions=0) for n in names),
        ],
    )
    for fake, real in ((first, parent), (big, sha)):
        repo.commits.pop(fake.sha)
        fake.sha = real
        repo.commits[real] = fake
    big.parents = [parent]
    repo.branches["main"] = [sha, parent]


@pytest.fixture(scope="module")
def big_git_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str, list[str]]:
    return bare_repo_with_big_commit(tmp_path_factory.mktemp("git-src"), 3100)


def test_commit_beyond_3000_files_is_recovered_with_git(
    harness: Harness, server: FakeGitHubServer, big_git_repo: tuple[str, str, str, list[str]]
) -> None:
    clone_url, parent, sha, names = big_git_repo
    _fake_repo_from_git(server, clone_url, parent, sha, names)

    counts = harness.run({"repositories": ["acme/monorepo"], "streams": ["commits", "commit_files"]})

    commit = harness.rows(github_commits, github_commits.c.sha == sha)[0]
    assert commit["files_status"] == "complete" and commit["files_source"] == "git"
    assert commit["files_count"] == 3101
    files = harness.rows(github_commit_files, github_commit_files.c.sha == sha)
    assert len(files) == 3101
    renamed = [f for f in files if f["status"] == "renamed"]
    assert [(f["previous_filename"], f["filename"]) for f in renamed] == [("README", "README.md")]
    added = {f["filename"]: (f["additions"], f["deletions"]) for f in files if f["status"] == "added"}
    assert set(added) == set(names) and set(added.values()) == {(3, 0)}
    assert counts["commit_files_via_git"] == 1 and counts["commit_files_extra_requests"] == 0
    assert server.count(path=f"/repos/acme/monorepo/commits/{sha}") == 1  # page 1 only, no file pages
    assert server.count(path="/repositories/", consumed=True) == 0


def test_commit_just_over_300_files_uses_the_api_pages(harness: Harness, server: FakeGitHubServer) -> None:
    big = server.dataset.add_commit("acme/widgets", "Mid-size change", author="bob", files=650)
    counts = harness.run({"repositories": ["acme/widgets"], "streams": ["commits", "commit_files"]})
    commit = harness.rows(github_commits, github_commits.c.sha == big.sha)[0]
    assert commit["files_status"] == "complete" and commit["files_source"] == "api"
    assert harness.count(github_commit_files, github_commit_files.c.sha == big.sha) == 650
    assert counts["commit_files_extra_requests"] == 2  # 650 files = 3 pages: cheaper than a git fetch
    assert counts.get("commit_files_via_git", 0) == 0


def test_commit_beyond_the_cap_without_git_is_marked_truncated(
    harness: Harness, server: FakeGitHubServer
) -> None:
    big = server.dataset.add_commit("acme/widgets", "Huge", author="bob", files=3050)
    server.dataset.repo("acme/widgets").clone_url = (harness.tmp_path / "nowhere.git").as_uri()
    counts = harness.run({"repositories": ["acme/widgets"], "streams": ["commits", "commit_files"]})
    commit = harness.rows(github_commits, github_commits.c.sha == big.sha)[0]
    assert commit["files_status"] == "truncated" and commit["files_count"] == 3000
    assert counts["commit_files_truncated"] == 1 and counts["commit_files_git_failures"] == 1


# =========================================================================== bounded runs and partitions


def test_bounded_run_reads_its_window_and_never_moves_the_checkpoint(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run()
    before = harness.checkpoint_rows()
    edited = server.dataset.edit_issue("acme/widgets", 2, title="Add a dark theme")
    since, until = edited.updated_at - dt.timedelta(seconds=30), edited.updated_at + dt.timedelta(seconds=30)

    counts = harness.run(since=since, until=until)

    assert harness.issue(2)["title"] == "Add a dark theme"  # the window was read
    assert counts["issues"] == 1
    assert harness.checkpoint_rows() == before  # ...but no checkpoint moved

    old = harness.run(since=BASE_TIME, until=BASE_TIME + dt.timedelta(minutes=20))
    # Five commits fall in the first 20 minutes; the one issue updated then (#2) was edited since.
    assert old["commits"] == 5 and old.get("issues", 0) == 0
    assert harness.checkpoint_rows() == before

    harness.run()  # the next scheduled run moves forward as usual
    assert harness.state("acme/widgets").cursor("issues") == edited.updated_at


def test_partition_collects_only_its_repository(harness: Harness, server: FakeGitHubServer) -> None:
    collector = harness.collector({"orgs": ["acme"], "repositories": []})
    collector.validate()
    assert collector.partitions == ["acme/gadgets", "acme/widgets"]
    collector.store.dispose()
    counts = harness.run({"orgs": ["acme"], "repositories": []}, partition="acme/gadgets")
    assert harness.count(github_repositories) == 1
    assert {r["repo_full_name"] for r in harness.rows(github_issues)} == {"acme/gadgets"}
    assert counts["repositories"] == 1
    assert [r["partition"] for r in harness.checkpoint_rows()] == ["acme/gadgets"]
    # an unpartitioned run restricted by the ``partitions`` param
    harness.run({"orgs": ["acme"], "repositories": []}, partitions=["ACME/Widgets"])
    assert [r["partition"] for r in harness.checkpoint_rows()] == ["acme/gadgets", "acme/widgets"]


def test_one_inaccessible_repository_does_not_stop_the_others(
    harness: Harness, server: FakeGitHubServer
) -> None:
    collector = harness.collector({"repositories": ["acme/widgets", "acme/vanished", "acme/gadgets"]})
    collector.validate()
    with pytest.raises(PermissionDeniedError, match="1 of 3 repositories failed") as caught:
        collector.run()
    assert "acme/vanished" in str(caught.value)
    assert classify_failure(caught.value) is CollectorFailureCategory.PERMISSION
    collector.store.dispose()
    assert harness.count(github_repositories) == 2
    assert {r["repo_full_name"] for r in harness.rows(github_issues)} == {"acme/widgets", "acme/gadgets"}


def test_full_refresh_rereads_everything_without_duplicates(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run()
    cursors = harness.state("acme/widgets").cursors
    server.clear_log()
    counts = harness.run(full_refresh=True)
    assert server.count(status=304) == 0  # no validator trusted
    assert counts["issues"] == expected_totals(server)["issues"]
    assert harness.count(github_issues) == expected_totals(server)["issues"]
    assert harness.count(github_commit_files) == expected_totals(server)["files"]
    assert counts.get("commit_details", 0) == 0  # complete file lists are not fetched again
    assert harness.state("acme/widgets").cursors == cursors


def test_discovery_merges_orgs_superprojects_and_explicit_entries_and_caches(
    harness: Harness, server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.dataset.add_org("other")
    server.dataset.add_repo("other", "standalone")
    server.dataset.add_repo("acme", "tools")
    server.dataset.add_repo("acme", "old-fork", fork=True)
    config = {
        "repositories": ["other/standalone", "ACME/widgets"],
        "orgs": ["acme"],
        "superprojects": ["acme/gadgets"],
        "exclude": ["acme/old-fork"],
        "discovery_ttl_minutes": 60,
    }
    collector = harness.collector(config)
    collector.validate()
    assert collector.partitions == ["other/standalone", "ACME/widgets", "acme/gadgets", "acme/tools"]
    collector.store.dispose()

    server.clear_log()
    again = harness.collector(config)
    again.validate_config()
    assert again.list_partitions() == collector.partitions  # cached: no request at all
    assert server.count() == 0
    again.store.dispose()

    clock.sleep(3700)  # past the TTL: conditional refresh, 304s cost nothing
    third = harness.collector(config)
    third.validate_config()
    assert third.list_partitions() == collector.partitions
    assert server.count() == 2 and server.count(consumed=True) == 0
    third.store.dispose()


def test_enterprise_server_base_url(harness: Harness, clock: FakeClock, tmp_path: Path) -> None:
    with FakeGitHubServer(
        build_dataset("small"), tokens={T1: 100}, clock=clock.time, path_prefix="/api/v3"
    ) as ghes:
        harness.server = ghes
        counts = harness.run({"repositories": ["acme/gadgets"]})
        assert ghes.base_url.endswith("/api/v3")
        assert counts["issues"] == 1 and harness.count(github_commits) == 2


# =========================================================================== vectors and markdown


def test_vector_documents_follow_changes(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    collector = harness.collector({"vectors": {"sink": "local", "min_chunk_chars": 5}})
    first = collector.sync_pinecone()
    assert first is not None and first.counts["documents"] == expected_totals(server)["issues"]
    docs = {d.doc_id: d for d in collector.preprocess(None, [])}
    pr = docs["acme/widgets#4"]
    assert pr.metadata["type"] == "pull_request" and pr.metadata["state"] == "merged"
    assert pr.metadata["author"] == "alice" and pr.metadata["repo"] == "acme/widgets"
    assert pr.metadata["url"].endswith("/acme/widgets/pull/4") and pr.metadata["labels"] == ["bug"]
    assert "approved" in pr.text and "Use size_t here." in pr.text and "Works for me." in pr.text
    assert docs["acme/widgets#1"].metadata["type"] == "issue"

    unchanged = collector.sync_pinecone()
    assert unchanged is not None and unchanged.counts["documents"] == 0
    server.dataset.edit_comment(
        "acme/widgets", server.dataset.repo("acme/widgets").issue_comments[0].id, "Edited!"
    )
    harness.run()
    third = collector.sync_pinecone()
    assert third is not None and third.counts["documents"] == 1 and third.counts["records_upserted"] >= 1
    assert [d.doc_id for d in collector.preprocess(None, ["acme/gadgets#1"]) if d.doc_id == "acme/gadgets#1"]
    collector.store.dispose()


def test_markdown_export_writes_one_file_per_issue(harness: Harness, server: FakeGitHubServer) -> None:
    export = harness.tmp_path / "export"
    counts = harness.run({"markdown_export_dir": str(export)})
    files = sorted(p.relative_to(export).as_posix() for p in export.rglob("*.md"))
    assert counts["markdown_files"] == len(files) == expected_totals(server)["issues"]
    assert "acme/widgets/2024/2024-01/#1 - Crash when resizing.md" in files
    text_ = (export / "acme/widgets/2024/2024-01/#4 - Fix resize crash.md").read_text()
    assert text_.startswith('---\nrepo: "acme/widgets"\nnumber: 4\ntype: pull_request\nstate: merged\n')
    assert "Use size_t here." in text_

    server.dataset.edit_issue("acme/widgets", 1, title="Crash: when resizing / moving")
    again = harness.run({"markdown_export_dir": str(export)})
    assert again["markdown_files"] == 1
    month = export / "acme/widgets/2024/2024-01"
    assert sorted(p.name for p in month.glob("#1 - *.md")) == ["#1 - Crash when resizing moving.md"]


# =========================================================================== crash and rerun


class HoldingServer(FakeGitHubServer):
    """Holds the ``hold_at``-th request matching ``matcher`` until released (the collector is killed meanwhile)."""

    def __init__(self, *args: Any, matcher: Any, hold_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.matcher = matcher
        self.hold_at = hold_at
        self.matched = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def route(self, path: str, query: dict[str, str]) -> Any:
        if self.matcher(path, query) and not self.held.is_set():
            self.matched += 1
            if self.matched == self.hold_at:
                self.held.set()
                self.release.wait(60)
        return super().route(path, query)


def _issues_keyset(path: str, query: dict[str, str]) -> bool:
    return path == "/repos/acme/widgets/issues" and query.get("direction") == "asc"


def _commit_pages(path: str, query: dict[str, str]) -> bool:
    return path.endswith("/commits") and "page" in query


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize(
    ("streams", "matcher", "hold_at", "table"),
    [
        (["issues"], _issues_keyset, 8, github_issues),
        (["commits"], _commit_pages, 3, github_commits),
    ],
    ids=["issues-keyset", "commits-newest-first"],
)
def test_killed_mid_run_then_rerun_has_no_duplicates_and_no_gaps(
    pg_url: str, tmp_path: Path, streams: list[str], matcher: Any, hold_at: int, table: Any
) -> None:
    server = HoldingServer(build_dataset("large"), tokens={T1: 50_000}, matcher=matcher, hold_at=hold_at)
    server.start()
    config_file = tmp_path / "collectors.yaml"
    config_file.write_text(
        textwrap.dedent(f"""
            collectors:
              github:
                collector: github_activity_tracker.collector:GitHubCollector
                connections: [github_default]
                config:
                  repositories: [acme/widgets]
                  streams: {json.dumps(streams)}
                  per_page: 20
                  clone_cache_dir: {tmp_path / "git"}
        """)
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
        "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
            {"conn_type": "http", "host": server.base_url, "password": T1}
        ),
    }
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "run",
        "github",
        "--config-file",
        str(config_file),
        "--db",
        pg_url,
        "--skip-sync",
    ]
    store = Store.from_url(pg_url)
    try:
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT
        )
        assert server.held.wait(60), child.communicate(timeout=5)
        time.sleep(0.2)  # the page before the held one has committed
        with store.engine.connect() as conn:
            stored_before_kill = conn.execute(select(func.count()).select_from(table)).scalar_one()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        server.release.set()
        assert stored_before_kill >= (hold_at - 2) * 20, stored_before_kill  # the pages before did commit
        with store.engine.connect() as conn:
            state = GitHubRepoState.from_state(
                "acme/widgets", load_checkpoint(conn, "github", "acme/widgets")
            )
        assert state.cursors or state.pending  # the committed pages moved the checkpoint

        time.sleep(0.2)
        server.internal_errors.clear()  # the held answer went to a dead socket
        server.clear_log()
        rerun = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
        )
        assert rerun.returncode == 0, rerun.stderr[-3000:]

        repo = server.dataset.repo("acme/widgets")
        with store.engine.connect() as conn:
            if table is github_issues:
                numbers = list(
                    conn.execute(select(github_issues.c.number).order_by(github_issues.c.number)).scalars()
                )
                assert numbers == sorted(repo.issues)  # every issue once: no gap, no duplicate
                titles = dict(conn.execute(select(github_issues.c.number, github_issues.c.title)).all())
                assert all(titles[n] == i.title for n, i in repo.issues.items())
            else:
                shas = list(conn.execute(select(github_commits.c.sha)).scalars())
                assert sorted(shas) == sorted(repo.branches["main"])
            rows = conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()
        assert rows == (len(repo.issues) if table is github_issues else len(repo.branches["main"]))
        # the rerun resumed: it did not read the window again from the start
        pages_total = -(-rows // 20)
        rerun_pages = server.count(
            path="/repos/acme/widgets/issues" if table is github_issues else "/repos/acme/widgets/commits"
        )
        rerun_pages += server.count(path="/repositories/")
        # Starting over would read every page again (plus the newest-page request); resuming reads
        # what was left, plus the overlap window and the newest-page request.
        committed_pages = stored_before_kill // 20
        assert rerun_pages <= pages_total - committed_pages + 2, (
            rerun_pages,
            pages_total,
            stored_before_kill,
        )
        assert rerun_pages < pages_total + 1
        with store.engine.connect() as conn:
            state = GitHubRepoState.from_state(
                "acme/widgets", load_checkpoint(conn, "github", "acme/widgets")
            )
        assert not state.pending
    finally:
        server.release.set()
        store.dispose()
        server.stop()


# =========================================================================== real-world responses (issue 9)


def test_vector_metadata_updated_at_is_githubs_own_time(harness: Harness, server: FakeGitHubServer) -> None:
    """Records carry GitHub's newest ``updated_at`` of the thread, not when the store row changed."""
    from core.vectors.local_sink import search_local_records

    harness.run()
    collector = harness.collector({"vectors": {"sink": "local", "min_chunk_chars": 5}})
    assert collector.sync_pinecone() is not None
    records = search_local_records(collector.store, "", limit=10_000)
    collector.store.dispose()
    assert len(records) >= expected_totals(server)["issues"]
    for record in records:
        meta = record["metadata"]
        repo = server.dataset.repo(meta["repo"])
        number = meta["number"]
        stamps = [repo.issues[number].updated_at]
        stamps += [c.updated_at for c in repo.issue_comments if c.issue_number == number]
        stamps += [c.updated_at for c in repo.review_comments if c.pull_number == number]
        stamps += [r.submitted_at for r in repo.reviews if r.pull_number == number]
        assert dt.datetime.fromisoformat(meta["updated_at"]) == max(stamps), record["record_id"]


def test_disabled_issues_are_recorded_and_everything_else_is_collected(
    harness: Harness, server: FakeGitHubServer
) -> None:
    """410 "Issues are disabled": pull requests come from /pulls; other streams and repos go on."""
    widgets = server.dataset.repo("acme/widgets")
    widgets.has_issues = False
    collector = harness.collector()
    collector.validate()
    result = collector.run()  # unpartitioned: acme/widgets first, then acme/gadgets
    collector.store.dispose()
    assert result.success
    assert list(result.disabled) == ["acme/widgets: issues", "acme/widgets: issue_comments"]
    assert result.counts["issues_disabled"] == 1 and result.counts["issue_comments_disabled"] == 1
    assert server.count(status=410) == 2

    pulls = {n for n, i in widgets.issues.items() if i.pull}
    mine = github_issues.c.repo_full_name == "acme/widgets"
    assert {r["number"] for r in harness.rows(github_issues, mine)} == pulls
    assert all(r["is_pull_request"] for r in harness.rows(github_issues, mine))
    assert harness.issue(4)["merged_by_login"] == "alice"  # details of the listed pulls were synced
    assert harness.count(github_reviews) == len(widgets.reviews) > 0
    assert harness.count(github_review_comments) == len(widgets.review_comments) > 0
    gadgets = server.dataset.repo("acme/gadgets")
    theirs = github_issues.c.repo_full_name == "acme/gadgets"
    assert harness.count(github_issues, theirs) == len(gadgets.issues)

    # later runs, partitioned too: still skipped, nothing duplicated, new pull requests arrive
    server.dataset.edit_issue("acme/widgets", 4, title="Fix resize crash (v2)")
    counts = harness.run(partition="acme/widgets")
    assert counts["issues_disabled"] == 1 and counts["pull_list_pages"] == 1
    assert harness.issue(4)["title"] == "Fix resize crash (v2)"
    assert harness.state("acme/widgets").cursor("pull_list") == widgets.issues[4].updated_at
    assert {r["number"] for r in harness.rows(github_issues, mine)} == pulls


def test_renamed_repository_costs_one_redirect_then_uses_the_new_name(
    harness: Harness, server: FakeGitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    harness.run()
    server.dataset.rename_repo("acme/widgets", "acme/widgets-ng")
    comment = server.dataset.add_comment("acme/widgets-ng", 1, user="alice", body="Said after the rename.")
    server.clear_log()
    caplog.set_level(logging.INFO, logger="github_activity_tracker")
    collector = harness.collector()
    collector.validate()
    result = collector.run()
    collector.store.dispose()

    old = [s.status for s in server.served if s.path.split("/")[1:4] == ["repos", "acme", "widgets"]]
    assert old == [301]  # the rename is followed once; every later request uses the new name
    assert list(result.renamed) == ["acme/widgets -> acme/widgets-ng"]
    assert result.counts["repositories_renamed"] == 1
    assert "acme/widgets was renamed to acme/widgets-ng" in caplog.text
    stored = harness.rows(github_issue_comments, github_issue_comments.c.comment_id == comment.id)
    assert len(stored) == 1 and stored[0]["body"] == "Said after the rename."
    assert {r["full_name"] for r in harness.rows(github_repositories)} == {"acme/widgets-ng", "acme/gadgets"}
    assert [r["partition"] for r in harness.checkpoint_rows()] == ["acme/gadgets", "acme/widgets"]

    server.clear_log()
    harness.run()  # the new name was persisted: no redirect at all
    assert server.count(status=301) == 0
