"""Shared GitHub operations: the REST client and its parts (see :mod:`core.operations.github`).

Trackers import from here (the supported import path); the GitHub layer lives in the
``github`` subpackage, the generic machinery in the HTTP source kit (:mod:`core.operations.http`).
"""

from core.operations.github import (
    DEFAULT_API_URL,
    DEFAULT_API_VERSION,
    GITHUB_RATE_LIMITS,
    EtagCache,
    GitHubClient,
    GitHubClientConfig,
    GitHubConflictError,
    GitHubGoneError,
    GitHubNotFoundError,
    GitHubResponse,
    InMemoryEtagCache,
    NotModified,
    Pages,
    RateLimitSnapshot,
    RequestStats,
    fingerprint,
    parse_link_header,
    request_key,
    require_same_origin,
)
from core.operations.github.graphql import GraphQLAnswer, PointBudget, graphql_url, run_query

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_API_VERSION",
    "GITHUB_RATE_LIMITS",
    "EtagCache",
    "GitHubClient",
    "GitHubClientConfig",
    "GitHubConflictError",
    "GitHubGoneError",
    "GitHubNotFoundError",
    "GitHubResponse",
    "GraphQLAnswer",
    "InMemoryEtagCache",
    "NotModified",
    "Pages",
    "PointBudget",
    "RateLimitSnapshot",
    "RequestStats",
    "fingerprint",
    "graphql_url",
    "parse_link_header",
    "request_key",
    "require_same_origin",
    "run_query",
]
