"""Shared GitHub operations: the REST client and its parts (see :mod:`core.operations.github`).

Trackers import from here; the implementation lives in the ``github`` subpackage.
"""

from core.operations.github import (
    DEFAULT_API_URL,
    DEFAULT_API_VERSION,
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
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_API_VERSION",
    "EtagCache",
    "GitHubClient",
    "GitHubClientConfig",
    "GitHubConflictError",
    "GitHubGoneError",
    "GitHubNotFoundError",
    "GitHubResponse",
    "InMemoryEtagCache",
    "NotModified",
    "Pages",
    "RateLimitSnapshot",
    "RequestStats",
    "fingerprint",
    "parse_link_header",
    "request_key",
]
