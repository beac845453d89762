"""The HTTP source kit: what every JSON-over-HTTP source needs, so a source adds only its API.

``config`` (bounds) · ``auth`` (header, query, OAuth2 client credentials) · ``tokens``
(credential pool rotating on exhaustion) · ``ratelimit`` (per-API header policies) ·
``responses`` (the single response -> retry/wait/fail decision) · ``pagination``
(Link header, next-URL field, cursor, page number, offset, time window; same origin) ·
``validators`` (ETag / Last-Modified for conditional requests) · ``stats`` (counters) ·
``client`` (the request loop tying them together, transient retries by tenacity).
No Airflow, no tracker: see docs/core-api.md, "HTTP source kit".
"""

from core.operations.http.auth import Credential, HeaderAuth, OAuth2ClientCredentials, QueryAuth
from core.operations.http.client import (
    BodyTooLargeError,
    HttpClient,
    HttpResponse,
    NotModified,
    Pages,
    list_body,
)
from core.operations.http.config import HttpClientConfig
from core.operations.http.pagination import (
    CursorField,
    LinkHeader,
    NextUrlField,
    Offset,
    PageNumber,
    PageRequest,
    Paginator,
    TimeWindow,
    dig,
    parse_link_header,
    require_same_origin,
)
from core.operations.http.ratelimit import (
    DISCORD,
    REDDIT,
    RETRY_AFTER_ONLY,
    SLACK,
    HeaderRateLimitPolicy,
    RateLimitRefusal,
    RateLimitSnapshot,
    retry_after_seconds,
)
from core.operations.http.responses import (
    GoneError,
    HttpConflictError,
    NotFoundError,
    StatusErrors,
    is_truncated_json,
)
from core.operations.http.stats import RequestStats
from core.operations.http.tokens import Token, TokenPool, fingerprint
from core.operations.http.validators import EtagCache, InMemoryEtagCache, request_key

__all__ = [
    "DISCORD",
    "REDDIT",
    "RETRY_AFTER_ONLY",
    "SLACK",
    "BodyTooLargeError",
    "Credential",
    "CursorField",
    "EtagCache",
    "GoneError",
    "HeaderAuth",
    "HeaderRateLimitPolicy",
    "HttpClient",
    "HttpClientConfig",
    "HttpConflictError",
    "HttpResponse",
    "InMemoryEtagCache",
    "LinkHeader",
    "NextUrlField",
    "NotFoundError",
    "NotModified",
    "OAuth2ClientCredentials",
    "Offset",
    "PageNumber",
    "PageRequest",
    "Pages",
    "Paginator",
    "QueryAuth",
    "RateLimitRefusal",
    "RateLimitSnapshot",
    "RequestStats",
    "StatusErrors",
    "TimeWindow",
    "Token",
    "TokenPool",
    "dig",
    "fingerprint",
    "is_truncated_json",
    "list_body",
    "parse_link_header",
    "request_key",
    "require_same_origin",
    "retry_after_seconds",
]
