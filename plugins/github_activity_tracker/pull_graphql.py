"""Pull-request details and reviews of many pull requests in one GraphQL query.

REST needs two requests per pull request (``GET /pulls/{n}`` and ``/pulls/{n}/reviews``);
one query asks for up to ``graphql_batch`` pull requests of a repository (aliases
``p<number>``), with their first 100 reviews. Each node is turned into the REST payload
shape and validated by the same models (:class:`PullRequest`, :class:`Review`), so the
rows written are the same whichever way they came.

A pull request comes back as ``None`` (the caller takes the REST way for it) when the
answer has no node for it (``NOT_FOUND`` on its alias) or it has more than 100 reviews.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import DataValidationError
from core.operations.github_ops import GitHubClient, GitHubNotFoundError, PointBudget, run_query
from github_activity_tracker.api_schemas import PullRequest, Review, parse_list, parse_object

__all__ = ["REVIEWS_PER_QUERY", "GraphQLUnavailable", "fetch_pulls", "pull_query"]


class GraphQLUnavailable(Exception):
    """The GraphQL endpoint is missing or refused the query as a whole: use REST."""


REVIEWS_PER_QUERY = 100

_ACTOR = "__typename login url ... on User { databaseId } ... on Bot { databaseId }"
_PULL_FIELDS = f"""
      number databaseId state title updatedAt isDraft mergedAt
      mergeCommit {{ oid }}
      mergedBy {{ {_ACTOR} }}
      headRefName headRefOid headRepository {{ nameWithOwner }}
      baseRefName baseRefOid
      additions deletions changedFiles
      commits {{ totalCount }}
      reviewRequests(first: 100) {{ nodes {{ requestedReviewer {{ {_ACTOR} }} }} }}
      reviews(first: {REVIEWS_PER_QUERY}) {{
        pageInfo {{ hasNextPage }}
        nodes {{ databaseId id author {{ {_ACTOR} }} authorAssociation state body commit {{ oid }} url submittedAt }}
      }}"""


def pull_query(numbers: Sequence[int]) -> str:
    aliases = "\n".join(f"    p{n}: pullRequest(number: {int(n)}) {{{_PULL_FIELDS}\n    }}" for n in numbers)
    return (
        "query($owner: String!, $name: String!) {\n"
        "  rateLimit { cost remaining resetAt }\n"
        "  repository(owner: $owner, name: $name) {\n"
        f"{aliases}\n"
        "  }\n"
        "}\n"
    )


def _user(actor: Any) -> dict[str, Any] | None:
    if not isinstance(actor, Mapping) or actor.get("databaseId") is None:
        return None  # a deleted account ("ghost") or a mannequin: no REST user either
    return {
        "login": actor.get("login"),
        "id": actor.get("databaseId"),
        "type": actor.get("__typename") or "User",
        "html_url": actor.get("url"),
    }


def _oid(value: Any) -> Any:
    return value.get("oid") if isinstance(value, Mapping) else None


def rest_pull(node: Mapping[str, Any]) -> dict[str, Any]:
    """A ``pullRequest`` node in the shape of ``GET /pulls/{n}`` (what the models validate)."""
    head_repo = node.get("headRepository")
    requested = [
        _user((r or {}).get("requestedReviewer"))
        for r in (node.get("reviewRequests") or {}).get("nodes") or []
    ]
    state = node.get("state")
    return {
        "id": node.get("databaseId"),
        "number": node.get("number"),
        "state": "open" if state == "OPEN" else "closed" if state in {"CLOSED", "MERGED"} else state,
        "title": node.get("title"),
        "updated_at": node.get("updatedAt"),
        "draft": node.get("isDraft"),
        "merged_at": node.get("mergedAt"),
        "merge_commit_sha": _oid(node.get("mergeCommit")),
        "merged_by": _user(node.get("mergedBy")),
        "head": {
            "ref": node.get("headRefName"),
            "sha": node.get("headRefOid"),
            "repo": {"full_name": head_repo.get("nameWithOwner")} if isinstance(head_repo, Mapping) else None,
        },
        "base": {"ref": node.get("baseRefName"), "sha": node.get("baseRefOid")},
        "additions": node.get("additions"),
        "deletions": node.get("deletions"),
        "changed_files": node.get("changedFiles"),
        "commits": (node.get("commits") or {}).get("totalCount"),
        "requested_reviewers": [u for u in requested if u is not None],
    }


def rest_review(node: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": node.get("databaseId"),
        "node_id": node.get("id"),
        "user": _user(node.get("author")),
        "body": node.get("body"),
        "state": node.get("state"),
        "html_url": node.get("url"),
        "author_association": node.get("authorAssociation"),
        "submitted_at": node.get("submittedAt"),
        "commit_id": _oid(node.get("commit")),
    }


def fetch_pulls(
    client: GitHubClient, repo: str, numbers: Sequence[int], budget: PointBudget
) -> dict[int, tuple[PullRequest, list[Review]] | None]:
    """Details and reviews of ``numbers`` (one query); ``None`` for those REST must fetch."""
    owner, name = repo.split("/", 1)
    budget.before_query()
    try:
        answer = run_query(client, pull_query(numbers), {"owner": owner, "name": name})
    except (GitHubNotFoundError, DataValidationError) as exc:
        raise GraphQLUnavailable(str(exc)) from exc
    budget.record(answer)
    repository = answer.data.get("repository")
    found: dict[int, tuple[PullRequest, list[Review]] | None] = {}
    for number in numbers:
        node = repository.get(f"p{number}") if isinstance(repository, Mapping) else None
        endpoint = f"graphql {repo}#{number}"
        if not isinstance(node, Mapping):
            found[number] = None
            continue
        reviews = node.get("reviews") or {}
        if (reviews.get("pageInfo") or {}).get("hasNextPage"):
            found[number] = None  # more than one page of reviews: REST pages them
            continue
        pull = parse_object(PullRequest, rest_pull(node), endpoint=endpoint)
        items = parse_list(Review, [rest_review(r) for r in reviews.get("nodes") or []], endpoint=endpoint)
        found[number] = (pull, items)
    return found
