"""The one place that turns an HTTP outcome into "use it", "wait and retry" or "fail".

Everything a client decides about a response (rate limits, retriable failures, fatal
statuses, undecodable bodies) is decided here, with the API's rate-limit policy, so the
policy can be read in one screen.
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
from core.operations.http.ratelimit import BadHeader, HeaderRateLimitPolicy

__all__ = [
    "GoneError",
    "HttpConflictError",
    "NotFoundError",
    "Outcome",
    "StatusErrors",
    "TruncatedBodyError",
    "Verdict",
    "api_message",
    "classify_response",
    "classify_transport_error",
    "decode_json",
    "is_truncated_json",
]

Redactor = Callable[[str], str]


class NotFoundError(PermissionDeniedError):
    """404: the resource does not exist or the credential may not see it (many APIs do not say which).

    Callers for whom absence is normal catch this class.
    """

    status = 404


class HttpConflictError(DataValidationError):
    """409: the resource is in a state that refuses the request (e.g. an empty repository)."""

    status = 409


class GoneError(DataValidationError):
    """410: the resource or the feature behind the endpoint is gone or turned off.

    Retrying cannot help (``validation`` if it escapes); callers for whom that is normal
    catch this class, record it and go on.
    """

    status = 410


@dataclasses.dataclass(frozen=True)
class StatusErrors:
    """The error classes raised for 404, 409 and 410 (an API layer may use subclasses)."""

    not_found: type[NotFoundError] = NotFoundError
    conflict: type[HttpConflictError] = HttpConflictError
    gone: type[GoneError] = GoneError


class Verdict(enum.Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    REDIRECT = "redirect"
    TRANSIENT = "transient"  # retry with exponential backoff (idempotent requests only)
    WAIT = "wait"  # rate limited: wait Retry-After (or a default), bounded attempts
    EXHAUSTED = "exhausted"  # this credential is spent until reset_at: rotate or wait
    FATAL = "fatal"


@dataclasses.dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    error: CollectorError | None = None  # raised for FATAL, or when retries run out
    retry_after: float | None = None  # seconds, from Retry-After (or the body)
    reset_at: float | None = None  # epoch seconds, from the quota headers
    resource: str = "default"


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def api_message(response: requests.Response, body: Any = None) -> str:
    """The API's own error text or a short body excerpt.

    Reads ``message``, ``error_description``, ``error`` or ``detail`` (GitHub, OAuth2,
    Slack, Django REST framework), plus the details of a GitHub-style ``errors`` list.
    """
    if body is None:
        body = _json_or_none(response.content)
        if body is None:
            return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    message = ""
    for key in ("message", "error_description", "error", "detail"):
        if isinstance(body.get(key), str) and body[key]:
            message = body[key]
            break
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
    path: str,
    now: float,
    redact: Redactor,
    policy: HeaderRateLimitPolicy,
    api_name: str = "HTTP",
    errors: StatusErrors = StatusErrors(),
    on_bad_header: BadHeader | None = None,
    method: str = "GET",
) -> Outcome:
    """What to do with one answer. ``path`` (no query) picks the rate-limit bucket."""
    status = response.status_code
    if status == 304:
        return Outcome(Verdict.NOT_MODIFIED)
    if 200 <= status < 300:
        return Outcome(Verdict.OK)
    if status in {301, 302, 303, 307, 308} and response.headers.get("Location"):
        return Outcome(Verdict.REDIRECT)

    body = _json_or_none(response.content)
    message = redact(api_message(response, body))
    text = f"{api_name} answered {status} to {method} {redact(endpoint)}" + (
        f": {message}" if message else ""
    )

    refusal = policy.refusal(
        status, response.headers, body, message, now=now, path=path, on_bad=on_bad_header
    )
    if refusal is not None and refusal.kind == "wait":
        return Outcome(
            Verdict.WAIT, NetworkError(text), retry_after=refusal.retry_after, resource=refusal.resource
        )
    if refusal is not None:
        return Outcome(
            Verdict.EXHAUSTED, NetworkError(text), reset_at=refusal.reset_at, resource=refusal.resource
        )
    if status == 401:
        return Outcome(Verdict.FATAL, AuthenticationError(text))
    if status in {403, 429}:
        return Outcome(Verdict.FATAL, PermissionDeniedError(text))
    if status == 404:
        return Outcome(Verdict.FATAL, errors.not_found(text))
    if status == 409:
        return Outcome(Verdict.FATAL, errors.conflict(text, source=redact(endpoint)))
    if status == 410:
        return Outcome(Verdict.FATAL, errors.gone(text, source=redact(endpoint)))
    if status in {400, 413, 422}:
        return Outcome(Verdict.FATAL, DataValidationError(text, source=redact(endpoint)))
    if status in {408, 504}:
        return Outcome(Verdict.TRANSIENT, SourceTimeoutError(text))
    if status >= 500:
        return Outcome(Verdict.TRANSIENT, NetworkError(text))
    return Outcome(Verdict.FATAL, CollectorError(text))


def classify_transport_error(
    exc: requests.RequestException, *, endpoint: str, redact: Redactor, method: str = "GET"
) -> Outcome:
    """Connection resets, refused connections, truncated bodies and timeouts are retriable."""
    detail = redact(f"{type(exc).__name__}: {exc}")
    text = f"{method} {redact(endpoint)} failed: {detail}"
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


def decode_json(
    response: requests.Response, *, endpoint: str, redact: Redactor, api_name: str = "HTTP"
) -> Any:
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
            f"{api_name} returned a body that is not valid JSON ({exc}; {len(content)} bytes)",
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
