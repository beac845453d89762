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
import traceback
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

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
    "config_error",
    "json_location",
    "sanitize_exception_message",
    "sanitize_text",
    "sanitize_traceback",
    "worst_category",
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


def json_location(loc: Iterable[int | str], root: str = "$") -> str:
    """A pydantic error location as a JSON path under ``root``: ``("items", 3, "user")`` -> ``$.items[3].user``."""
    return root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def config_error(exc: ValidationError, what: str) -> ConfigError:
    """A settings model's first validation error as ``ConfigError("<what>: <field.path>: <message>")``
    (``config`` stands for the path of an error about the whole model)."""
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"])) or "config"
    return ConfigError(f"{what}: {where}: {first['msg']}")


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
_NAME_TABLES: tuple[tuple[tuple[str, ...], CollectorFailureCategory], ...] = (
    (_TIMEOUT_NAMES, CollectorFailureCategory.TIMEOUT),
    (_AUTH_NAMES, CollectorFailureCategory.AUTH),
    (_PERMISSION_NAMES, CollectorFailureCategory.PERMISSION),
    (_NETWORK_NAMES, CollectorFailureCategory.NETWORK),
    (_VALIDATION_NAMES, CollectorFailureCategory.VALIDATION),
)


# Databases. PostgreSQL reports a SQLSTATE on errors raised inside a session (psycopg2's
# ``pgcode``, psycopg's ``sqlstate``); exact codes win over their two-character class.
_C = CollectorFailureCategory
_SQLSTATE_CATEGORY: dict[str, CollectorFailureCategory] = {
    "40P01": _C.CONFLICT,  # deadlock_detected: the server broke a tie between writers
    "40001": _C.CONFLICT,  # serialization_failure
    "55P03": _C.CONFLICT,  # lock_not_available (NOWAIT, lock_timeout)
    "57014": _C.TIMEOUT,  # query_canceled: statement_timeout
    "25P03": _C.TIMEOUT,  # idle_in_transaction_session_timeout
    "57P05": _C.TIMEOUT,  # idle_session_timeout
    "53300": _C.RESOURCE,  # too_many_connections: capacity, not reachability
    "3D000": _C.VALIDATION,  # invalid_catalog_name: the database does not exist
    "28000": _C.VALIDATION,  # invalid_authorization_specification: e.g. the role does not exist
    "28P01": _C.AUTH,  # invalid_password
    "42501": _C.PERMISSION,  # insufficient_privilege
    "57P01": _C.NETWORK,  # admin_shutdown: the server is restarting
    "57P02": _C.NETWORK,  # crash_shutdown
    "57P03": _C.NETWORK,  # cannot_connect_now: starting up / shutting down
}
_SQLSTATE_CLASS_CATEGORY: dict[str, CollectorFailureCategory] = {
    "08": _C.NETWORK,  # connection exception
    "22": _C.VALIDATION,  # data exception
    "23": _C.VALIDATION,  # integrity constraint violation
    "40": _C.CONFLICT,  # transaction rollback
    "53": _C.RESOURCE,  # insufficient resources: disk full (53100), out of memory (53200), limits (53400)
}

# Errors libpq raises while connecting carry no SQLSTATE (psycopg2 leaves ``pgcode`` empty):
# the server's or libpq's own (English) message is all there is.
_DB_MESSAGE_CATEGORY: tuple[tuple[re.Pattern[str], CollectorFailureCategory], ...] = (
    (re.compile(r'database "[^"]*" does not exist'), _C.VALIDATION),
    (re.compile(r'role "[^"]*" does not exist'), _C.VALIDATION),
    (
        re.compile(r"password authentication failed|no password supplied|authentication failed for user"),
        _C.AUTH,
    ),
    (re.compile(r"no pg_hba\.conf entry|not permitted to log in"), _C.PERMISSION),
    (
        re.compile(
            r"too many clients already|too many connections for|remaining connection slots are reserved"
        ),
        _C.RESOURCE,
    ),
    (re.compile(r"\btimeout expired\b|canceling statement due to statement timeout"), _C.TIMEOUT),
)

# SQLite result codes (``sqlite3.Error.sqlite_errorname``).
_SQLITE_CATEGORY: dict[str, CollectorFailureCategory] = {
    "SQLITE_FULL": _C.RESOURCE,  # "database or disk is full" (disk, quota or max_page_count)
    "SQLITE_NOMEM": _C.RESOURCE,
    "SQLITE_BUSY": _C.CONFLICT,  # "database is locked": another writer held it past the busy timeout
    "SQLITE_LOCKED": _C.CONFLICT,
    "SQLITE_READONLY": _C.PERMISSION,
    "SQLITE_CANTOPEN": _C.VALIDATION,  # the configured path cannot be opened
    "SQLITE_NOTADB": _C.VALIDATION,
}

# Operating-system errors by errno (files, sockets).
_ERRNO_CATEGORY: dict[int, CollectorFailureCategory] = {
    errno.ENOSPC: _C.RESOURCE,
    errno.EDQUOT: _C.RESOURCE,
    errno.ENOMEM: _C.RESOURCE,
    errno.ETIMEDOUT: _C.TIMEOUT,
    errno.ECONNREFUSED: _C.NETWORK,
    errno.ECONNRESET: _C.NETWORK,
    errno.ECONNABORTED: _C.NETWORK,
    errno.EHOSTUNREACH: _C.NETWORK,
    errno.ENETUNREACH: _C.NETWORK,
    errno.EPIPE: _C.NETWORK,
}

# Python exception classes; the first row whose class the exception is an instance of wins.
_BUILTIN_CATEGORY: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], CollectorFailureCategory], ...
] = (
    ((TimeoutError, socket.timeout), _C.TIMEOUT),
    (MemoryError, _C.RESOURCE),
    (PermissionError, _C.PERMISSION),
    ((ConnectionError, ssl.SSLError, socket.gaierror), _C.NETWORK),
    ((FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError), _C.VALIDATION),
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
    """One exception, one table per source of errors, most specific source first."""
    if isinstance(exc, CollectorError):
        return exc.category
    category = _classify_database(exc)
    if category is None:
        status = _http_status(exc)
        category = None if status is None else _category_for_status(status)
    if category is None:
        category = _classify_by_name(exc)
    if category is None and isinstance(exc, OSError) and exc.errno is not None:
        category = _ERRNO_CATEGORY.get(exc.errno)
    if category is None:
        category = next((cat for klass, cat in _BUILTIN_CATEGORY if isinstance(exc, klass)), None)
    return category or CollectorFailureCategory.UNKNOWN


def _classify_database(exc: BaseException) -> CollectorFailureCategory | None:
    """A driver error (or SQLAlchemy's wrapper of one, via ``orig``): SQLSTATE, SQLite code, message."""
    driver_error = getattr(exc, "orig", None)
    error = driver_error if isinstance(driver_error, BaseException) else exc
    sqlstate = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        category = _SQLSTATE_CATEGORY.get(sqlstate) or _SQLSTATE_CLASS_CATEGORY.get(sqlstate[:2])
        if category is not None:
            return category
    sqlite_name = getattr(error, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        # Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_NOMEM...) share the primary name's prefix.
        category = next((cat for name, cat in _SQLITE_CATEGORY.items() if sqlite_name.startswith(name)), None)
        if category is not None:
            return category
    module = type(error).__module__.split(".", 1)[0]
    if module in {"psycopg2", "psycopg", "sqlite3", "sqlalchemy"}:
        text = str(error)
        return next((cat for pattern, cat in _DB_MESSAGE_CATEGORY if pattern.search(text)), None)
    return None


def _classify_by_name(exc: BaseException) -> CollectorFailureCategory | None:
    """Third-party classes matched by qualified name, so core imports none of them.

    Timeouts first: several timeout classes also derive from connection errors.
    """
    names = set(_qualified_names(exc))
    for table, category in _NAME_TABLES:
        if names.intersection(table):
            return category
    return None


# --------------------------------------------------------------------------- redaction

REDACTED = "[REDACTED]"

# Token shapes that identify themselves: redacted wherever they appear.
_TOKEN_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
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
)

# Secrets recognised by what precedes them (a header, a parameter name). Not applied to the
# source lines of a traceback, where ``token = self.next_token()`` is code, not a credential.
_CONTEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization / Proxy-Authorization headers in any rendering (dict repr, raw header).
    (
        re.compile(
            r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|token|basic)\s+)?[^'\"\s,}]+", re.I
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), r"\1 " + REDACTED),
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

# A known secret's echoed prefix is redacted from this many characters on...
MIN_FRAGMENT_CHARS = 8
# ...and, for tokens whose type prefix is public (``github_pat_``), only once it carries this
# many characters of the secret part.
_MIN_SECRET_PART_CHARS = 4
_PUBLIC_TOKEN_PREFIX = re.compile(r"(?:gh[pousr]_|github_pat_|xox[a-z]-|xapp-|pcsk_|x-access-token:)", re.I)
_WORD_CHAR = re.compile(r"\w")


def _fragment_length(secret: str) -> int:
    public = _PUBLIC_TOKEN_PREFIX.match(secret)
    return max(MIN_FRAGMENT_CHARS, (public.end() if public else 0) + _MIN_SECRET_PART_CHARS)


def _redact_secret(text: str, secret: str, *, fragments: bool) -> str:
    """Replace ``secret`` and, with ``fragments``, every echoed prefix of it.

    A prefix counts when it is at least :func:`_fragment_length` long and stands as a word of
    its own (no letter, digit or ``_`` right before or after it): a server that cut the token
    short, not another word that happens to start the same way.
    """
    minimum = _fragment_length(secret)
    if not fragments or len(secret) < minimum:
        return text.replace(secret, REDACTED)
    head = secret[:minimum]
    parts: list[str] = []
    done = 0
    start = text.find(head)
    while start != -1:
        end, matched = start + minimum, minimum
        while end < len(text) and matched < len(secret) and text[end] == secret[matched]:
            end += 1
            matched += 1
        whole = matched == len(secret)
        bounded = (start == 0 or not _WORD_CHAR.match(text[start - 1])) and (
            end == len(text) or not _WORD_CHAR.match(text[end])
        )
        if whole or bounded:
            parts += [text[done:start], REDACTED]
            done = end
            start = text.find(head, end)
        else:
            start = text.find(head, start + 1)
    return "".join(parts) + text[done:]


def _redact_literals(text: str, extra_secrets: Iterable[str], *, fragments: bool) -> str:
    for secret in sorted({s for s in extra_secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = _redact_secret(text, secret, fragments=fragments)
    return text


def _apply(text: str, patterns: Iterable[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in patterns:
        text = pattern.sub(replacement, text)
    return text


def sanitize_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Redact credentials from arbitrary text.

    ``extra_secrets`` are the literal values to hide (a connection's password and tokens):
    each one, and any prefix of it of at least :data:`MIN_FRAGMENT_CHARS` characters that a
    server echoed back truncated. Token-shaped strings and ``key=value`` credentials are
    redacted by pattern.
    """
    text = _redact_literals(text, extra_secrets, fragments=True)
    return _apply(_apply(text, _TOKEN_SHAPES), _CONTEXT_PATTERNS)


def sanitize_exception_message(exc: BaseException, extra_secrets: Iterable[str] = ()) -> str:
    """``"ExcType: message"`` with tokens, credentials and URL userinfo redacted."""
    message = str(exc)
    rendered = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return sanitize_text(rendered, extra_secrets)


def sanitize_traceback(exc: BaseException, extra_secrets: Iterable[str] = ()) -> str:
    """The formatted traceback of ``exc`` (with its chain), redacted.

    Messages get :func:`sanitize_text`. The frames' source lines come from the code on disk,
    not from runtime data, so they only lose whole secrets and token shapes: an echoed
    fragment or a ``password = ...`` pattern there would blank out unrelated code.
    """
    secrets = [s for s in extra_secrets if s]
    chunks: list[str] = []
    for chunk in traceback.TracebackException.from_exception(exc).format():
        if chunk.lstrip(" |").startswith('File "'):
            chunks.append(_apply(_redact_literals(chunk, secrets, fragments=False), _TOKEN_SHAPES))
        else:
            chunks.append(sanitize_text(chunk, secrets))
    return "".join(chunks)


# Worst first: a bug, then what needs someone to act (resources, credentials, data), then what
# a later try may fix by itself. One step that failed for several partitions or files reports
# the worst, so the retry policy and the alert follow the most serious cause.
_SEVERITY = (
    CollectorFailureCategory.UNKNOWN,
    CollectorFailureCategory.RESOURCE,
    CollectorFailureCategory.PERMISSION,
    CollectorFailureCategory.AUTH,
    CollectorFailureCategory.COMMAND,
    CollectorFailureCategory.VALIDATION,
    CollectorFailureCategory.CONFLICT,
    CollectorFailureCategory.TIMEOUT,
    CollectorFailureCategory.NETWORK,
    CollectorFailureCategory.RATE_LIMIT,
)


def worst_category(categories: Iterable[CollectorFailureCategory]) -> CollectorFailureCategory:
    """The most serious of ``categories`` (``unknown`` when there are none)."""
    present = set(categories)
    return next((c for c in _SEVERITY if c in present), CollectorFailureCategory.UNKNOWN)
