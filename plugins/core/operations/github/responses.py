"""The one place that turns an HTTP outcome into "use it", "wait and retry" or "fail".

Everything the client decides about a response (rate limits, retriable failures, fatal
statuses, undecodable bodies) is decided here, so the policy can be read in one screen.
"""

from __future__ import annotations

import dataclasses
import enum
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
from core.operations.github.ratelimit import RateLimitSnapshot, mentions_secondary_limit, retry_after_seconds

__all__ = [
    "GitHubConflictError",
    "GitHubNotFoundError",
    "Outcome",
    "Verdict",
    "api_message",
    "classify_response",
    "classify_transport_error",
    "decode_json",
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


def classify_response(response: requests.Response, *, endpoint: str, now: float, redact: Redactor) -> Outcome:
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
        snapshot = RateLimitSnapshot.from_headers(headers)
        resource = snapshot.resource if snapshot else "core"
        retry_after = retry_after_seconds(headers, now)
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
    if status in {400, 410, 413, 422}:
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
    """Parsed body; an empty body is ``None``; anything undecodable names the endpoint."""
    content = response.content
    if not content.strip():
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise DataValidationError(
            f"GitHub returned a body that is not valid JSON ({exc}; {len(content)} bytes)",
            source=redact(endpoint),
        ) from None
