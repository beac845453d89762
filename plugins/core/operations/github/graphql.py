"""GitHub's GraphQL API (v4) through the REST client: same token pool, retries and errors.

A query is a ``POST`` to ``/graphql`` (github.com) or ``/api/graphql`` (Enterprise Server,
whose REST root is ``/api/v3``), sent with :meth:`HttpClient.send` as an idempotent request
(a query changes nothing, so 5xx and resets are retried like a GET). HTTP-level refusals
(401, 403 with a spent quota, secondary limits) are the client's as usual.

GraphQL's own limit is in points per hour (``X-RateLimit-Resource: graphql``), reported in
the answer when the query asks for ``rateLimit { cost remaining resetAt }``.
:class:`PointBudget` keeps the last report and, before the next query, waits for the reset
(within ``max_wait``) or fails as ``rate_limit`` with the reset time when the points left
would not cover it. An answer whose ``errors`` say ``RATE_LIMITED`` fails the same way;
other errors are returned with their ``path`` (a missing pull request is ``NOT_FOUND`` on its
alias, the rest of the answer is good); an answer without ``data`` is a validation error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import DataValidationError, RateLimitError, sanitize_text
from core.operations.http import HttpClient

__all__ = ["GraphQLAnswer", "PointBudget", "graphql_url", "run_query"]

_MESSAGE_CHARS = 300


def graphql_url(base_url: str) -> str:
    """The GraphQL endpoint of a REST base URL (``https://HOST/api/v3`` -> ``https://HOST/api/graphql``)."""
    parts = urlsplit(base_url.rstrip("/"))
    path = parts.path
    if path.endswith("/v3"):
        path = path[: -len("/v3")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/graphql", "", ""))


@dataclasses.dataclass(frozen=True)
class GraphQLAnswer:
    data: Mapping[str, Any]
    errors: Sequence[Mapping[str, Any]]
    cost: int | None = None
    remaining: int | None = None
    reset_at: dt.datetime | None = None

    def errors_at(self, *path: str) -> list[Mapping[str, Any]]:
        """Errors whose ``path`` starts with ``path`` (e.g. ``("repository", "p12")``)."""
        return [e for e in self.errors if tuple(e.get("path") or ())[: len(path)] == path]


def _reset_at(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def run_query(client: HttpClient, query: str, variables: Mapping[str, Any] | None = None) -> GraphQLAnswer:
    """One query; see the module docstring for what raises."""
    response = client.send(
        "POST",
        graphql_url(client.base_url),
        {"query": query, "variables": dict(variables or {})},
        idempotent=True,
    )
    body = response.data
    if not isinstance(body, dict):
        raise DataValidationError("expected a JSON object from GraphQL", source=response.endpoint)
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    data = body.get("data")
    report = (data or {}).get("rateLimit") if isinstance(data, dict) else None
    report = report if isinstance(report, dict) else {}
    reset_at = _reset_at(report.get("resetAt"))
    if any(str(e.get("type")) == "RATE_LIMITED" for e in errors):
        header_reset = response.rate.reset_at if response.rate else None
        when = reset_at or (dt.datetime.fromtimestamp(header_reset, dt.UTC) if header_reset else None)
        raise RateLimitError("GitHub GraphQL rate limit: the points of this hour are spent", retry_at=when)
    if not isinstance(data, dict):
        first = sanitize_text(str(errors[0].get("message", "")) if errors else "no data", [])[:_MESSAGE_CHARS]
        raise DataValidationError(f"GraphQL answer without data: {first}", source=response.endpoint)
    cost, remaining = report.get("cost"), report.get("remaining")
    return GraphQLAnswer(
        data=data,
        errors=errors,
        cost=cost if isinstance(cost, int) and not isinstance(cost, bool) else None,
        remaining=remaining if isinstance(remaining, int) and not isinstance(remaining, bool) else None,
        reset_at=reset_at,
    )


class PointBudget:
    """GraphQL points: the last ``rateLimit`` report, checked before each query."""

    def __init__(
        self,
        *,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self.remaining: int | None = None
        self.reset_at: dt.datetime | None = None
        self.last_cost = 1
        self.waits = 0

    def record(self, answer: GraphQLAnswer) -> None:
        if answer.remaining is not None:
            self.remaining = answer.remaining
        if answer.reset_at is not None:
            self.reset_at = answer.reset_at
        if answer.cost is not None:
            self.last_cost = max(1, answer.cost)

    def before_query(self) -> None:
        """Wait for the reset when the points left would not pay for another query like the last."""
        if self.remaining is None or self.remaining >= self.last_cost:
            return
        now = self.clock()
        reset = self.reset_at.timestamp() if self.reset_at else now + 60
        wait = max(0.0, reset - now) + 1
        if wait > self.max_wait:
            raise RateLimitError(
                f"GitHub GraphQL points left ({self.remaining}) below a query's cost ({self.last_cost})",
                retry_at=dt.datetime.fromtimestamp(reset, dt.UTC),
            )
        self.waits += 1
        self.sleep(wait)
        self.remaining = None
