"""GitHub REST v3 client: a thin layer on the HTTP source kit (:mod:`core.operations.http`).

``config`` (settings, mapped onto the kit's) · ``ratelimit`` (GitHub's policy) ·
``errors`` (404/409/410 under GitHub's names) · ``client`` (headers, token pool,
``/rate_limit``). Everything generic (session, retries, pagination, validators, stats,
token pool) is the kit's and re-exported here under the names the trackers use.
"""

from core.operations.github.client import GitHubClient, GitHubResponse
from core.operations.github.config import DEFAULT_API_URL, DEFAULT_API_VERSION, GitHubClientConfig
from core.operations.github.errors import GitHubConflictError, GitHubGoneError, GitHubNotFoundError
from core.operations.github.ratelimit import GITHUB_RATE_LIMITS
from core.operations.http import (
    EtagCache,
    InMemoryEtagCache,
    NotModified,
    Pages,
    RateLimitSnapshot,
    RequestStats,
    Token,
    TokenPool,
    fingerprint,
    parse_link_header,
    request_key,
    require_same_origin,
)

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
    "InMemoryEtagCache",
    "NotModified",
    "Pages",
    "RateLimitSnapshot",
    "RequestStats",
    "Token",
    "TokenPool",
    "fingerprint",
    "parse_link_header",
    "request_key",
    "require_same_origin",
]
