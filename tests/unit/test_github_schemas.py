"""GitHub REST payload models: real payload shapes (from the fake server's generators) pass; broken ones
name the endpoint and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.errors import CollectorFailureCategory, DataValidationError, classify_failure
from github_activity_tracker.api_schemas import (
    Commit,
    Issue,
    IssueComment,
    PullRequest,
    Repository,
    Review,
    ReviewComment,
    parse_list,
    parse_object,
)
from tests.fakes.github_server import Payloads, build_dataset

API = "https://api.github.com"


@pytest.fixture(scope="module")
def payloads() -> tuple[Payloads, Any]:
    ds = build_dataset("small")
    return Payloads(ds, API), ds.repo("acme/widgets")


def test_real_shapes_validate(payloads: tuple[Payloads, Any]) -> None:
    p, repo = payloads
    issues = parse_list(Issue, [p.issue(repo, i) for i in repo.issues.values()], endpoint="/issues")
    assert [i.number for i in issues] == sorted(repo.issues)
    assert [i.is_pull_request for i in issues] == [bool(i.pull) for i in repo.issues.values()]
    pull = parse_object(PullRequest, p.pull(repo, repo.issues[4]), endpoint="/pulls/4")
    assert pull.merged_by is not None and pull.merged_by.login == "alice" and pull.head.ref == "fix/resize"
    comments = parse_list(
        IssueComment, [p.issue_comment(repo, c) for c in repo.issue_comments], endpoint="/c"
    )
    assert comments[0].issue_number == repo.issue_comments[0].issue_number
    review_comments = parse_list(
        ReviewComment, [p.review_comment(repo, c) for c in repo.review_comments], endpoint="/rc"
    )
    assert review_comments[0].pull_number == 4
    assert (
        parse_list(Review, [p.review(repo, r) for r in repo.reviews], endpoint="/r")[0].state
        == "CHANGES_REQUESTED"
    )
    commit = next(iter(repo.commits.values()))
    parsed = parse_object(Commit, p.commit(repo, commit, commit.files), endpoint="/commits/x")
    assert parsed.files is not None and len(parsed.files) == len(commit.files)
    assert parse_object(Repository, p.repo(repo), endpoint="/repos/acme/widgets").full_name == "acme/widgets"


@pytest.mark.parametrize(
    ("mutate", "location"),
    [
        (lambda d: d[1].update(title=None), "[1].title"),
        (lambda d: d[0]["user"].update(id="12"), "[0].user.id"),
        (lambda d: d[2].update(updated_at="yesterday"), "[2].updated_at"),
        (lambda d: d[0].update(created_at=1704067200), "[0].created_at"),
        (lambda d: d[0].update(created_at="2024-01-01T00:00:00"), "[0].created_at"),  # no offset
        (lambda d: d[0].update(state="merged"), "[0].state"),
        (lambda d: d[3]["labels"].append({"id": 1}), "[3].labels[1].name"),
        (lambda d: d[0].pop("number"), "[0].number"),
    ],
)
def test_schema_breaks_name_endpoint_and_field(
    payloads: tuple[Payloads, Any], mutate: Any, location: str
) -> None:
    p, repo = payloads
    data = copy.deepcopy([p.issue(repo, i) for i in repo.issues.values()])
    mutate(data)
    with pytest.raises(DataValidationError) as caught:
        parse_list(Issue, data, endpoint="/repos/acme/widgets/issues?page=2")
    assert caught.value.source == "/repos/acme/widgets/issues?page=2"
    assert caught.value.location == location
    assert "Issue schema" in str(caught.value)
    assert classify_failure(caught.value) is CollectorFailureCategory.VALIDATION


def test_an_object_where_a_list_belongs(payloads: tuple[Payloads, Any]) -> None:
    with pytest.raises(DataValidationError, match="expected a JSON array") as caught:
        parse_list(Issue, {"message": "oops"}, endpoint="/issues")
    assert caught.value.location == "$"
    with pytest.raises(DataValidationError, match="expected a JSON object"):
        parse_object(Repository, [], endpoint="/repos/a/b")


def test_commit_without_any_date_and_bad_sha(payloads: tuple[Payloads, Any]) -> None:
    p, repo = payloads
    commit = next(iter(repo.commits.values()))
    data = p.commit(repo, commit)
    data["commit"]["author"]["date"] = data["commit"]["committer"]["date"] = None
    with pytest.raises(DataValidationError, match="neither a committer nor an author date"):
        parse_object(Commit, data, endpoint="/commits")
    data = p.commit(repo, commit)
    data["sha"] = "not-a-sha"
    with pytest.raises(DataValidationError) as caught:
        parse_object(Commit, data, endpoint="/commits")
    assert caught.value.location == "sha"


def test_empty_author_object_means_no_account(payloads: tuple[Payloads, Any]) -> None:
    p, repo = payloads
    commit = next(iter(repo.commits.values()))
    data = p.commit(repo, commit)
    data["author"] = {}
    assert parse_object(Commit, data, endpoint="/commits").author is None


def test_unknown_fields_are_ignored(payloads: tuple[Payloads, Any]) -> None:
    p, repo = payloads
    data = p.issue(repo, repo.issues[1])
    data["brand_new_field"] = {"nested": [1, 2]}
    assert parse_object(Issue, data, endpoint="/issues/1").number == 1
