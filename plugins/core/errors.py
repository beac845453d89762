"""Failure categories, exception classification and secret redaction.

Every failure a collector raises is put into one coarse bucket
(:class:`CollectorFailureCategory`). The bucket drives logs, metrics, the Airflow
retry policy and alert routing, so classification lives in one place.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
import socket
import ssl
from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "AuthenticationError",
    "CollectorError",
    "CollectorFailureCategory",
    "CommandFailedError",
    "ConfigError",
    "ConflictError",
    "DataValidationError",
    "NetworkError",
    "PermissionDeniedError",
    "RateLimitError",
    "SourceTimeoutError",
    "classify_failure",
    "sanitize_exception_message",
    "sanitize_text",
]


class CollectorFailureCategory(StrEnum):
    """Coarse failure buckets shared by logs, metrics, retries and alerts."""

    UNKNOWN = "unknown"
    VALIDATION = "validation"
    AUTH = "auth"
    PERMISSION = "permission"
    RATE_LIMIT = "rate_limit"
    NETWORK = "network"
    TIMEOUT = "timeout"
    COMMAND = "command"
    CONFLICT = "conflict"
    RESOURCE = "resource"


class CollectorError(Exception):
    """Base of the project's typed errors; each one knows its category."""

    category: CollectorFailureCategory = CollectorFailureCategory.UNKNOWN


class ConfigError(CollectorError):
    """Configuration that cannot be used (bad YAML, missing field, unknown collector)."""

    category = CollectorFailureCategory.VALIDATION


class DataValidationError(CollectorError):
    """Input data (an export file, an API payload) that breaks its schema.

    ``source`` names the file or endpoint, ``location`` the field or JSON path.
    """

    category = CollectorFailureCategory.VALIDATION

    def __init__(self, message: str, *, source: str | None = None, location: str | None = None) -> None:
        self.source = source
        self.location = location
        parts = [message]
        if source:
            parts.append(f"source={source}")
        if location:
            parts.append(f"at={location}")
        super().__init__("; ".join(parts))


class AuthenticationError(CollectorError):
    """Credentials were refused (HTTP 401, bad token)."""

    category = CollectorFailureCategory.AUTH


class PermissionDeniedError(CollectorError):
    """Credentials are valid but lack access (HTTP 403 that is not a rate limit, 404 on private)."""

    category = CollectorFailureCategory.PERMISSION


class RateLimitError(CollectorError):
    """The source asked us to slow down. ``retry_at`` is when it said we may come back."""

    category = CollectorFailureCategory.RATE_LIMIT

    def __init__(self, message: str, *, retry_at: dt.datetime | None = None) -> None:
        self.retry_at = retry_at
        super().__init__(message if retry_at is None else f"{message} (retry at {retry_at.isoformat()})")


class NetworkError(CollectorError):
    """Connection failures and server errors (5xx) that may succeed later."""

    category = CollectorFailureCategory.NETWORK


class SourceTimeoutError(CollectorError):
    """A request or an operation ran out of time."""

    category = CollectorFailureCategory.TIMEOUT


class ConflictError(CollectorError):
    """Another run holds what this one needs (the collect lock of the same collector and
    partition), or the database broke a tie between concurrent writers (deadlock,
    serialization failure). Retrying later succeeds once the other run is done."""

    category = CollectorFailureCategory.CONFLICT


class CommandFailedError(CollectorError):
    """A wrapped console command or callable failed (non-zero exit)."""

    category = CollectorFailureCategory.COMMAND

    def __init__(self, message: str, *, returncode: int | None = None, stderr_tail: str = "") -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(message)


# --------------------------------------------------------------------------- classification

_HTTP_STATUS_CATEGORY: dict[int, CollectorFailureCategory] = {
    400: CollectorFailureCategory.VALIDATION,
    401: CollectorFailureCategory.AUTH,
    403: CollectorFailureCategory.PERMISSION,
    404: CollectorFailureCategory.PERMISSION,
    408: CollectorFailureCategory.TIMEOUT,
    413: CollectorFailureCategory.VALIDATION,
    422: CollectorFailureCategory.VALIDATION,
    429: CollectorFailureCategory.RATE_LIMIT,
    504: CollectorFailureCategory.TIMEOUT,
}


def _category_for_status(status: int) -> CollectorFailureCategory | None:
    if status in _HTTP_STATUS_CATEGORY:
        return _HTTP_STATUS_CATEGORY[status]
    if 500 <= status < 600:
        return CollectorFailureCategory.NETWORK
    return None


def _http_status(exc: BaseException) -> int | None:
    """Status code of an HTTP error raised by requests, httpx, urllib or an SDK."""
    response = getattr(exc, "response", None)
    for holder in (response, exc):
        for attr in ("status_code", "status", "code"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and 100 <= value < 600:
                return value
    return None


def _qualified_names(exc: BaseException) -> Iterable[str]:
    for klass in type(exc).__mro__:
        yield f"{klass.__module__}.{klass.__qualname__}"


_TIMEOUT_NAMES = (
    "requests.exceptions.Timeout",
    "urllib3.exceptions.TimeoutError",
    "httpx.TimeoutException",
    "sqlalchemy.exc.TimeoutError",
    "airflow.sdk.exceptions.AirflowTaskTimeout",  # by name: core never imports Airflow
)
_NETWORK_NAMES = (
    "requests.exceptions.ConnectionError",
    "requests.exceptions.ChunkedEncodingError",
    "urllib3.exceptions.ProtocolError",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.MaxRetryError",
    "httpx.TransportError",
    "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.DisconnectionError",
    "sqlalchemy.exc.InterfaceError",
    "psycopg2.OperationalError",
    "psycopg.OperationalError",
)
_VALIDATION_NAMES = (
    "pydantic_core._pydantic_core.ValidationError",
    "pydantic.ValidationError",
    "json.decoder.JSONDecodeError",
    "ijson.common.IncompleteJSONError",
    "ijson.common.JSONError",
    "yaml.error.YAMLError",
    "sqlalchemy.exc.DataError",
    "sqlalchemy.exc.IntegrityError",
)
_AUTH_NAMES = (
    "pinecone.errors.exceptions.UnauthorizedError",
    "pinecone.exceptions.exceptions.UnauthorizedException",
)
_PERMISSION_NAMES = (
    "pinecone.errors.exceptions.ForbiddenError",
    "pinecone.exceptions.exceptions.ForbiddenException",
)


def classify_failure(exc: BaseException | None) -> CollectorFailureCategory:
    """Map an exception (or its cause chain) to a :class:`CollectorFailureCategory`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        category = _classify_one(current)
        if category is not CollectorFailureCategory.UNKNOWN:
            return category
        current = current.__cause__ or current.__context__
    return CollectorFailureCategory.UNKNOWN


def _classify_one(exc: BaseException) -> CollectorFailureCategory:
    if isinstance(exc, CollectorError):
        return exc.category
    names = set(_qualified_names(exc))
    # Timeouts first: several timeout classes also derive from connection errors.
    if names.intersection(_TIMEOUT_NAMES) or isinstance(exc, (TimeoutError, socket.timeout)):
        return CollectorFailureCategory.TIMEOUT
    if names.intersection(_AUTH_NAMES):
        return CollectorFailureCategory.AUTH
    if names.intersection(_PERMISSION_NAMES):
        return CollectorFailureCategory.PERMISSION
    status = _http_status(exc)
    if status is not None:
        by_status = _category_for_status(status)
        if by_status is not None:
            return by_status
    if names.intersection(_NETWORK_NAMES):
        return CollectorFailureCategory.NETWORK
    if names.intersection(_VALIDATION_NAMES):
        return CollectorFailureCategory.VALIDATION
    if isinstance(exc, PermissionError):
        return CollectorFailureCategory.PERMISSION
    if isinstance(exc, (ConnectionError, ssl.SSLError, socket.gaierror)):
        return CollectorFailureCategory.NETWORK
    if isinstance(exc, OSError) and exc.errno in {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH}:
        return CollectorFailureCategory.NETWORK
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError)):
        return CollectorFailureCategory.VALIDATION
    return CollectorFailureCategory.UNKNOWN


# --------------------------------------------------------------------------- redaction

REDACTED = "[REDACTED]"

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization / Proxy-Authorization headers in any rendering (dict repr, raw header).
    (
        re.compile(
            r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|token|basic)\s+)?[^'\"\s,}]+", re.I
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), r"\1 " + REDACTED),
    # Slack tokens (xoxb-, xoxp-, xoxa-, xoxs-, xoxe-...) and app-level tokens.
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+", re.I), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+", re.I), REDACTED),
    # GitHub tokens.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    # Pinecone API keys.
    (re.compile(r"\bpcsk_[A-Za-z0-9_]{10,}"), REDACTED),
    # x-access-token:SECRET@ and any other URL userinfo.
    (re.compile(r"(x-access-token:)[^@\s/]+", re.I), r"\1" + REDACTED),
    (re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.I), r"\1" + REDACTED + "@"),
    # Query-string credentials.
    (
        re.compile(
            r"([?&](?:access_token|token|key|api_key|apikey|client_secret|password|secret|sig)=)[^&#\s'\"]+",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
    # key=value / "key": "value" shaped secrets.
    (
        re.compile(
            r"((?:api[_-]?key|password|passwd|secret|client_secret|access_token|token)['\"]?\s*[:=]\s*['\"]?)"
            r"(?!" + re.escape(REDACTED) + r")[^'\"\s,}&]{4,}",
            re.I,
        ),
        r"\1" + REDACTED,
    ),
)


def sanitize_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Redact credentials from arbitrary text. ``extra_secrets`` are literal values to hide."""
    for secret in sorted((s for s in extra_secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def sanitize_exception_message(exc: BaseException, extra_secrets: Iterable[str] = ()) -> str:
    """``"ExcType: message"`` with tokens, credentials and URL userinfo redacted."""
    message = str(exc)
    rendered = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return sanitize_text(rendered, extra_secrets)
