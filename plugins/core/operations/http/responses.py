"""The one place that turns an HTTP outcome into "use it", "wait and retry" or "fail".

Everything the client decides about a response (rate limits, retriable failures, fatal
statuses, undecodable bodies) is decided here, so the policy can be read in one screen.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from typing import Any

import orjson
import requests

from core.errors import (
    AuthenticationError,
    CollectorError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    SourceTimeoutError,
)
from core.operations.github.ratelimit import (
    BadHeader,
    RateLimitSnapshot,
    mentions_secondary_limit,
    retry_after_seconds,
)

__all__ = [
    "GitHubConflictError",
    "GitHubGoneError",
    "GitHubNotFoundError",
    "Outcome",
    "TruncatedBodyError",
    "Verdict",
    "api_message",
    "classify_response",
    "classify_transport_error",
    "decode_json",
    "is_truncated_json",
]

Redactor = Callable[[str], str]


class GitHubNotFoundError(PermissionDeniedError):
    """404: the resource does not exist or the token may not see it (GitHub does not say which).

    Callers for whom absence is normal (``contents/.gitmodules``) catch this class.
    """

    status = 404


class GitHubConflictError(DataValidationError):
    """409: e.g. listing commits of an empty repository ("Git Repository is empty.")."""

    status = 409


class GitHubGoneError(DataValidationError):
    """410: the feature behind the endpoint is turned off ("Issues are disabled for this repo").

    Retrying cannot help (``validation`` if it escapes); callers for whom a disabled feature
    is normal (the tracker's issue streams) catch this class, record it and go on.
    """

    status = 410


class Verdict(enum.Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    REDIRECT = "redirect"
    TRANSIENT = "transient"  # retry with exponential backoff (idempotent requests only)
    SECONDARY_LIMIT = "secondary_limit"  # wait Retry-After (or a default), bounded attempts
    PRIMARY_LIMIT = "primary_limit"  # this token is spent until reset_at: rotate or wait
    FATAL = "fatal"


@dataclasses.dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    error: CollectorError | None = None  # raised for FATAL, or when retries run out
    retry_after: float | None = None  # seconds, from Retry-After
    reset_at: float | None = None  # epoch seconds, from X-RateLimit-Reset
    resource: str = "core"


def api_message(response: requests.Response) -> str:
    """GitHub's ``{"message": ...}`` (plus validation ``errors``) or a short body excerpt."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    message = str(body.get("message") or "")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        details = []
        for item in errors[:5]:
            if isinstance(item, dict):
                details.append(
                    str(item.get("message") or ":".join(str(item.get(k, "")) for k in ("field", "code")))
                )
            else:
                details.append(str(item))
        message = f"{message} ({'; '.join(details)})"
    return message[:500]


class TruncatedBodyError(NetworkError):
    """A 2xx body that stops inside its JSON document: a transport fault, retried like a reset."""


def classify_response(
    response: requests.Response,
    *,
    endpoint: str,
    now: float,
    redact: Redactor,
    on_bad_header: BadHeader | None = None,
) -> Outcome:
    status = response.status_code
    if status == 304:
        return Outcome(Verdict.NOT_MODIFIED)
    if 200 <= status < 300:
        return Outcome(Verdict.OK)
    if status in {301, 302, 303, 307, 308} and response.headers.get("Location"):
        return Outcome(Verdict.REDIRECT)

    message = redact(api_message(response))
    text = f"GitHub answered {status} to GET {redact(endpoint)}" + (f": {message}" if message else "")
    headers = response.headers

    if status in {403, 429}:
        snapshot = RateLimitSnapshot.from_headers(headers, now=now, on_bad=on_bad_header)
        resource = snapshot.resource if snapshot else "core"
        retry_after = retry_after_seconds(headers, now, on_bad=on_bad_header)
        if retry_after is not None:
            return Outcome(
                Verdict.SECONDARY_LIMIT, NetworkError(text), retry_after=retry_after, resource=resource
            )
        if snapshot is not None and snapshot.remaining == 0:
            return Outcome(
                Verdict.PRIMARY_LIMIT, NetworkError(text), reset_at=snapshot.reset_at, resource=resource
            )
        if status == 429 or mentions_secondary_limit(message):
            return Outcome(Verdict.SECONDARY_LIMIT, NetworkError(text), resource=resource)
        return Outcome(Verdict.FATAL, PermissionDeniedError(text))
    if status == 401:
        return Outcome(Verdict.FATAL, AuthenticationError(text))
    if status == 404:
        return Outcome(Verdict.FATAL, GitHubNotFoundError(text))
    if status == 409:
        return Outcome(Verdict.FATAL, GitHubConflictError(text, source=redact(endpoint)))
    if status == 410:
        return Outcome(Verdict.FATAL, GitHubGoneError(text, source=redact(endpoint)))
    if status in {400, 413, 422}:
        return Outcome(Verdict.FATAL, DataValidationError(text, source=redact(endpoint)))
    if status in {408, 504}:
        return Outcome(Verdict.TRANSIENT, SourceTimeoutError(text))
    if status >= 500:
        return Outcome(Verdict.TRANSIENT, NetworkError(text))
    return Outcome(Verdict.FATAL, CollectorError(text))


def classify_transport_error(exc: requests.RequestException, *, endpoint: str, redact: Redactor) -> Outcome:
    """Connection resets, refused connections, truncated bodies and timeouts are retriable."""
    detail = redact(f"{type(exc).__name__}: {exc}")
    text = f"GET {redact(endpoint)} failed: {detail}"
    if isinstance(exc, requests.Timeout):
        return Outcome(Verdict.TRANSIENT, SourceTimeoutError(text))
    if isinstance(
        exc,
        (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ),
    ):
        return Outcome(Verdict.TRANSIENT, NetworkError(text))
    return Outcome(Verdict.FATAL, NetworkError(text))


def decode_json(response: requests.Response, *, endpoint: str, redact: Redactor) -> Any:
    """Parsed body; an empty body is ``None``; anything undecodable names the endpoint.

    A body that is the beginning of a JSON document (cut off by a proxy or a dropped
    connection, even with a ``Content-Length`` that matches what arrived) raises
    :class:`TruncatedBodyError` (``network``, retriable); any other undecodable body is
    :class:`DataValidationError` (retrying cannot fix it).
    """
    content = response.content
    if not content.strip():
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        if is_truncated_json(content):
            raise TruncatedBodyError(
                f"GET {redact(endpoint)}: the JSON body stops before its end "
                f"({len(content)} bytes received, Content-Length "
                f"{response.headers.get('Content-Length', 'absent')})"
            ) from None
        raise DataValidationError(
            f"GitHub returned a body that is not valid JSON ({exc}; {len(content)} bytes)",
            source=redact(endpoint),
        ) from None


# A string literal (closed), a structural character, or the quote opening a string never closed.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}"]', re.S)
_LITERALS = (b"true", b"false", b"null")
_OPEN_ESCAPE = re.compile(rb"(\\+)(?:u[0-9A-Fa-f]{0,3})?$")
_NUMBER_TAIL = re.compile(rb"(?:(?<![0-9A-Za-z])-|[0-9]\.|[0-9][eE][-+]?)$")


def is_truncated_json(content: bytes) -> bool:
    """True when ``content`` is a proper prefix of some valid JSON document.

    Checked by completing it (close the open string and containers, finish a cut literal,
    number or key) and parsing the result: a body with garbage anywhere (HTML after half a
    page, a stray character) cannot be completed and is not called truncated.
    """
    data = content.rstrip()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # cut inside a multi-byte character
        if exc.end != len(data) or exc.reason != "unexpected end of data":
            return False
        data = data[: exc.start]
    stack: list[bytes] = []
    open_string = False
    for match in _JSON_TOKENS.finditer(data):
        token = match.group()
        if token == b'"':
            open_string = True
            break
        if token[:1] == b'"':  # a complete string
            continue
        if token in (b"[", b"{"):
            stack.append(b"]" if token == b"[" else b"}")
        elif not stack or stack.pop() != token:  # a closer that closes nothing open
            return False
    if not stack and not open_string:
        return False  # the document ended: whatever is wrong with it is not a cut
    if open_string:
        escape = _OPEN_ESCAPE.search(data)
        if escape and len(escape.group(1)) % 2:  # an escape cut short: drop it
            data = data[: escape.start()] + escape.group(1)[:-1]
        data += b'"'
    else:
        data = data.rstrip()
        for literal in _LITERALS:
            for cut in range(1, len(literal)):
                if data.endswith(literal[:cut]) and not data[:-cut][-1:].isalnum():
                    data += literal[cut:]
                    break
        if _NUMBER_TAIL.search(data):
            data += b"0"
        data = data.rstrip(b", \t\r\n")
    closers = b"".join(reversed(stack))
    for filler in (b"", b"null", b":null"):
        try:
            orjson.loads(data + filler + closers)
        except orjson.JSONDecodeError:
            continue
        return True
    return False
