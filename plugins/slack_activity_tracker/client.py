"""The Slack Web API through ``slack_sdk.WebClient`` (the official client), configured, not rewritten.

What this module adds to the SDK:

- retry handlers of the SDK, configured: ``RateLimitErrorRetryHandler`` honours ``Retry-After``
  but only while the wait is at most ``max_rate_limit_wait`` (a longer one ends the call and
  becomes ``RateLimitError(retry_at=...)``, so Airflow retries at that time instead of a
  worker sleeping); ``ConnectionErrorRetryHandler`` and ``ServerErrorRetryHandler`` (5xx)
  with exponential backoff;
- pacing: history and replies requests of one workspace at most one per ``interval`` seconds
  (60 for non-Marketplace apps since 2025);
- errors mapped to the project's categories (``map_error``) with messages that never carry
  the token (nor the body of a non-JSON answer, which may echo it);
- the SDK's own log records redacted (``SDK_LOGGER``): ``slack_sdk`` logs the first 100
  characters of a non-JSON body at ERROR, and a proxy page echoing the ``Authorization``
  header would put the token (or, cut short, a prefix of it) into the task log;
- request counts per method (``stats``).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from core.errors import (
    AuthenticationError,
    CollectorError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    SourceTimeoutError,
)
from core.redaction import redact_logger

__all__ = ["ChannelUnavailable", "SlackApi", "SlackCallError", "map_error"]

log = logging.getLogger(__name__)

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_such_team"}
)
PERMISSION_ERRORS = frozenset({"missing_scope", "no_permission", "not_allowed_token_type", "ekm_access_denied"})
# The channel cannot be read by this bot: skip the partition and report it, do not fail the run.
UNAVAILABLE_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
SERVER_ERRORS = frozenset({"fatal_error", "internal_error", "service_unavailable", "request_timeout"})
ARGUMENT_ERRORS = frozenset({"invalid_cursor", "invalid_arguments", "invalid_ts_latest", "invalid_ts_oldest"})
PACED_METHODS = frozenset({"conversations.history", "conversations.replies"})
NON_JSON_PREFIX = "Received a response in a non-JSON format"


#: The logger ``slack_sdk`` writes to; its records are redacted (``core.redaction``): the tokens
#: of every :class:`SlackApi` of this process, whole or cut short, and token-shaped text.
SDK_LOGGER = logging.getLogger("slack_activity_tracker.sdk")
_SDK_REDACTION = redact_logger(SDK_LOGGER.name)


class SlackCallError(CollectorError):
    """A Slack error code the mapping does not know (category ``unknown``)."""


class ChannelUnavailable(PermissionDeniedError):
    """``not_in_channel``, ``channel_not_found``, ``is_archived``: the partition is skipped."""

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        super().__init__(message)


def _retry_after(response: HttpResponse) -> float | None:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


class _BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, with two settings: waits longer than ``max_wait`` are not taken
    (the call then fails and becomes ``RateLimitError(retry_at)``), and the wait goes through
    the collector's ``sleep`` (so fakes can run the clock fast)."""

    def __init__(self, *, max_retry_count: int, max_wait: float, sleep: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep
        self.waits: list[float] = []

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return (wait if wait is not None else 1.0) <= self.max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = _retry_after(response) if response is not None else None
        duration = wait if wait is not None else 1.0
        self.waits.append(duration)
        log.info("Slack asked to wait %.0f s (Retry-After); waiting", duration)
        self.sleep(duration)
        state.increment_current_attempt()


class _ServerErrorHandler(ServerErrorRetryHandler):
    """The SDK's 5xx handler for every 5xx (the SDK's default covers 500 and 503 only)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code <= 599


class _ScaledJitter(Jitter):
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def recalculate(self, duration: float) -> float:
        return duration + self.scale * random.random()


class SlackApi:
    """One workspace's Web API client (one token); see the module docstring."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        timeout: float = 30,
        max_rate_limit_wait: float = 300,
        rate_limit_max_retries: int = 3,
        transient_max_retries: int = 2,
        backoff_seconds: float = 0.5,
        paced_interval: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.paced_interval = paced_interval
        self._last_paced: float | None = None
        self.rate_limit = _BoundedRateLimitHandler(
            max_retry_count=rate_limit_max_retries, max_wait=max_rate_limit_wait, sleep=sleep
        )
        interval = BackoffRetryIntervalCalculator(backoff_seconds, jitter=_ScaledJitter(backoff_seconds))
        handlers: list[RetryHandler] = [
            self.rate_limit,
            ConnectionErrorRetryHandler(
                max_retry_count=transient_max_retries,
                interval_calculator=interval,
                error_types=[URLError, ConnectionResetError, RemoteDisconnected, ConnectionAbortedError],
            ),
            _ServerErrorHandler(max_retry_count=transient_max_retries, interval_calculator=interval),
        ]
        self.client = WebClient(
            token=token,
            base_url=base_url,
            timeout=int(max(1, timeout)),
            retry_handlers=handlers,
            logger=SDK_LOGGER,
        )
        _SDK_REDACTION.secrets.add(token)
        self.requests: collections.Counter[str] = collections.Counter()
        self.paced_seconds = 0.0

    # ------------------------------------------------------------------ calls

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One Web API call; its JSON body (``ok`` true), or a typed error (see :func:`map_error`)."""
        if method in PACED_METHODS:
            self._pace()
        self.requests[method] += 1
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            response = self.client.api_call(method, params=clean)
        except Exception as exc:  # noqa: BLE001 - every failure leaves as a typed error
            raise map_error(method, exc, now=self._clock()) from None
        data = response.data
        if not isinstance(data, dict):
            raise DataValidationError("Slack answered something that is not a JSON object", source=method)
        return data

    def pages(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a cursor-paginated method (``response_metadata.next_cursor``)."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            data = self.call(method, **params, cursor=cursor)
            yield data
            cursor = ((data.get("response_metadata") or {}).get("next_cursor") or "").strip() or None
            if cursor is None:
                return
            if cursor in seen:
                raise DataValidationError("Slack pagination loops back (a next_cursor repeated)", source=method)
            seen.add(cursor)

    def _pace(self) -> None:
        if self.paced_interval <= 0:
            return
        now = self._clock()
        if self._last_paced is not None:
            wait = self._last_paced + self.paced_interval - now
            if wait > 0:
                self.paced_seconds += wait
                self._sleep(wait)
                now = self._clock()
        self._last_paced = now

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def counts(self) -> dict[str, int]:
        counts = {f"api_{method.replace('.', '_')}": n for method, n in self.requests.items()}
        counts["api_requests"] = self.request_count
        counts["api_rate_limit_waits"] = len(self.rate_limit.waits)
        return counts


def map_error(method: str, exc: BaseException, *, now: float | None = None) -> CollectorError:
    """The project's typed error for a failed call of ``method``; never includes the token."""
    if isinstance(exc, CollectorError):
        return exc
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data: Mapping[str, Any] = response.data if isinstance(response.data, Mapping) else {}
        code = str(data.get("error") or "")
        if status == 429 or code == "ratelimited":
            headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
            raw = headers.get("retry-after")
            raw = raw[0] if isinstance(raw, list) else raw
            try:
                wait = float(raw) if raw is not None else 60.0
            except ValueError:
                wait = 60.0
            retry_at = dt.datetime.fromtimestamp((now if now is not None else time.time()) + wait, dt.UTC)
            return RateLimitError(f"Slack {method}: rate limited (Retry-After {wait:.0f} s)", retry_at=retry_at)
        if code in AUTH_ERRORS or status == 401:
            return AuthenticationError(f"Slack {method}: {code or 'HTTP 401'} (the bot token was refused)")
        if code in UNAVAILABLE_ERRORS:
            return ChannelUnavailable(f"Slack {method}: {code}", code=code)
        if code in PERMISSION_ERRORS or status == 403:
            needed = data.get("needed")
            provided = data.get("provided")
            detail = f" (needed: {needed}; provided: {provided})" if needed else ""
            return PermissionDeniedError(f"Slack {method}: {code or 'HTTP 403'}{detail}")
        if code.startswith(NON_JSON_PREFIX):  # the SDK's text quotes the body: keep it out
            code = "not JSON"
            if status < 500:
                return DataValidationError(f"Slack {method}: the answer is not JSON (HTTP {status})", source=method)
        if status >= 500 or code in SERVER_ERRORS:
            return NetworkError(f"Slack {method}: server error (HTTP {status}, {_short(code)})")
        if code in ARGUMENT_ERRORS:
            return DataValidationError(f"Slack {method}: {code}", source=method)
        return SlackCallError(f"Slack {method}: {_short(code) or f'HTTP {status}'}")
    if isinstance(exc, json.JSONDecodeError):
        return DataValidationError(
            f"Slack {method}: malformed JSON ({exc.msg} at char {exc.pos})", source=method
        )
    if isinstance(exc, (TimeoutError, socket.timeout)) or (
        isinstance(exc, URLError) and isinstance(exc.reason, (TimeoutError, socket.timeout))
    ):
        return SourceTimeoutError(f"Slack {method}: timed out")
    if isinstance(exc, (URLError, ConnectionError, RemoteDisconnected, OSError)):
        return NetworkError(f"Slack {method}: connection failed ({type(exc).__name__})")
    return SlackCallError(f"Slack {method}: {type(exc).__name__}")


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."
