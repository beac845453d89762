"""Pull-request details and reviews through GraphQL (``pull_details_via: graphql``), REST as fallback.

Real client, real HTTP: the fake GitHub answers ``POST /graphql`` with the query shape the
tracker sends (one alias per pull request, ``rateLimit``). The rows must be the ones the
REST way writes, with fewer requests; failures keep their categories.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import CollectorFailureCategory, RateLimitError, classify_failure
from core.operations.github_ops import graphql_url
from github_activity_tracker.tables import github_issues, github_reviews
from tests.fakes.github_server import FakeClock, FakeGitHubServer, Fault, build_dataset
from tests.integration.test_github_collector import T1, Harness

GRAPHQL = {"pull_details_via": "graphql", "graphql_batch": 2}
PULL_COLUMNS = (
    "draft",
    "merged_at",
    "merge_commit_sha",
    "merged_by_id",
    "merged_by_login",
    "head_ref",
    "head_sha",
    "head_repo_full_name",
    "base_ref",
    "base_sha",
    "additions",
    "deletions",
    "changed_files",
    "commits_count",
    "requested_reviewers",
    "pull_synced_updated_at",
)
REVIEW_COLUMNS = (
    "review_id",
    "node_id",
    "pull_number",
    "user_id",
    "user_login",
    "author_association",
    "state",
    "body",
    "commit_id",
    "html_url",
    "submitted_at",
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(build_dataset("small"), tokens={T1: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()
    assert srv.internal_errors == []


@pytest.fixture
def harness(server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(server, clock, store_url, tmp_path)
    made.config = {**made.config, "streams": ["issues", "pull_requests"]}
    yield made
    made.store.dispose()


def pulls(harness: Harness) -> dict[tuple[str, int], tuple[Any, ...]]:
    rows = harness.rows(github_issues, github_issues.c.is_pull_request.is_(True))
    return {(r["repo_full_name"], r["number"]): tuple(r[c] for c in PULL_COLUMNS) for r in rows}


def reviews(harness: Harness) -> set[tuple[Any, ...]]:
    return {tuple(r[c] for c in REVIEW_COLUMNS) for r in harness.rows(github_reviews)}


def forget_everything(harness: Harness) -> None:
    with harness.store.engine.begin() as conn:
        for table in ("github_reviews", "github_issue_labels", "github_issue_assignees", "github_issues"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("DELETE FROM collector_checkpoints")
        conn.exec_driver_sql("DELETE FROM http_validators")


def test_graphql_writes_the_rows_rest_writes_with_fewer_requests(
    harness: Harness, server: FakeGitHubServer
) -> None:
    rest_counts = harness.run()
    rest_pulls, rest_reviews = pulls(harness), reviews(harness)
    assert len(rest_pulls) == 3 and len(rest_reviews) == 3
    forget_everything(harness)
    server.clear_log()

    counts = harness.run(GRAPHQL)

    assert pulls(harness) == rest_pulls
    assert reviews(harness) == rest_reviews
    assert counts["pull_requests_via_graphql"] == 3 and counts["pull_requests"] == 3
    assert counts["graphql_queries"] == 2 == len(server.graphql_queries)  # 3 pull requests, 2 per query
    assert server.count(path="/repos/acme/widgets/pulls/") == 0
    # REST: 2 requests per pull request (details, reviews); GraphQL: one per batch
    assert rest_counts["github_requests"] - counts["github_requests"] == 2 * 3 - 2
    assert counts["github_quota_consuming"] == rest_counts["github_quota_consuming"] - 4


def test_unchanged_second_run_sends_no_graphql_query(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run(GRAPHQL)
    server.clear_log()
    counts = harness.run(GRAPHQL)
    assert counts.get("graphql_queries", 0) == 0
    assert server.count(consumed=True) == 0


def test_changed_pull_request_is_synced_again_through_graphql(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run(GRAPHQL)
    server.dataset.add_review("acme/widgets", 5, user="alice", state="APPROVED", body="Ship it")
    counts = harness.run(GRAPHQL)
    assert counts["graphql_queries"] == 1 and counts["pull_requests_via_graphql"] == 1
    assert "Ship it" in {r["body"] for r in harness.rows(github_reviews, github_reviews.c.pull_number == 5)}


def test_graphql_unavailable_falls_back_to_rest(harness: Harness, server: FakeGitHubServer) -> None:
    server.inject(Fault("status", status=404, path="/graphql"))
    counts = harness.run(GRAPHQL)
    assert counts["graphql_fallbacks"] == 1
    assert counts.get("pull_requests_via_graphql", 0) == 0 and counts["pull_requests"] == 3
    assert len(reviews(harness)) == 3


def test_more_than_one_page_of_reviews_takes_rest_for_that_pull_request(
    harness: Harness, server: FakeGitHubServer
) -> None:
    for n in range(101):
        server.dataset.add_review("acme/widgets", 6, user="bob", state="COMMENTED", body=f"Review {n}")
    counts = harness.run(GRAPHQL)
    assert counts["pull_requests_via_graphql"] == 2 and counts["pull_requests"] == 3
    assert harness.count(github_reviews, github_reviews.c.pull_number == 6) == 101


def test_graphql_points_spent_fail_as_rate_limit_with_the_reset(
    harness: Harness, server: FakeGitHubServer
) -> None:
    server.graphql_errors = [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]
    collector = harness.collector(GRAPHQL)
    collector.validate()
    with pytest.raises(RateLimitError) as caught:
        collector.collect()
    assert classify_failure(caught.value) is CollectorFailureCategory.RATE_LIMIT
    assert caught.value.retry_at is not None
    assert T1 not in str(caught.value)
    collector.store.dispose()


def test_points_below_a_query_cost_wait_for_the_reset_or_fail(
    harness: Harness, server: FakeGitHubServer, clock: FakeClock
) -> None:
    """The answer reports 0 points left: the next query waits for the reset (fake clock) when that
    is within max_rate_limit_wait, otherwise the step fails as rate_limit before sending it."""
    config = {**GRAPHQL, "graphql_batch": 1}
    harness.run({**config, "streams": ["issues"]})  # the issues are stored, the pull requests queued
    server.set_quota(T1, remaining=1, reset_in=600)  # the first query leaves 0 points
    with pytest.raises(RateLimitError) as caught:
        harness.run({**config, "max_rate_limit_wait": 60})
    assert caught.value.retry_at is not None
    assert len(server.graphql_queries) == 1
    assert server.count(status=403) == 0  # the budget held the query back: GitHub never refused one

    server.set_quota(T1, remaining=1, reset_in=30)
    started = clock.time()
    counts = harness.run({**config, "max_rate_limit_wait": 900})
    assert counts["pull_requests_via_graphql"] == 2  # the two still queued, after one wait
    assert clock.time() - started >= 30
    assert server.count(status=403) == 0


def test_graphql_endpoint_of_github_com_and_enterprise_server() -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.org/api/v3/") == "https://ghe.example.org/api/graphql"
