"""GitHub REST v3 client split by concern.

``config`` (settings) · ``tokens`` (token pool) · ``ratelimit`` (header parsing) ·
``responses`` (the single response -> retry/fail policy) · ``pagination`` (Link header,
same-origin rule) · ``etag`` (conditional-request validators) · ``stats`` (counters) ·
``client`` (the request loop tying them together).
"""

from core.operations.github.client import GitHubClient, GitHubResponse, NotModified, Pages
from core.operations.github.config import DEFAULT_API_URL, DEFAULT_API_VERSION, GitHubClientConfig
from core.operations.github.etag import EtagCache, InMemoryEtagCache, request_key
from core.operations.github.pagination import parse_link_header, require_same_origin
from core.operations.github.ratelimit import RateLimitSnapshot
from core.operations.github.responses import GitHubConflictError, GitHubGoneError, GitHubNotFoundError
from core.operations.github.stats import RequestStats
from core.operations.github.tokens import Token, TokenPool, fingerprint

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
    "Token",
    "TokenPool",
    "fingerprint",
    "parse_link_header",
    "request_key",
    "require_same_origin",
]
