"""GitHub REST v3 client: one ``requests.Session``, a token pool, bounded waits and retries.

Read-only by design (every request is a GET, so every retry is safe). Not thread-safe:
use one client per thread or task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth

from core.errors import DataValidationError, RateLimitError, sanitize_text
from core.operations.github.config import GitHubClientConfig
from core.operations.github.etag import EtagCache, request_key
from core.operations.github.pagination import parse_link_header, require_same_origin
from core.operations.github.ratelimit import RateLimitSnapshot
from core.operations.github.responses import (
    Outcome,
    TruncatedBodyError,
    Verdict,
    classify_response,
    classify_transport_error,
    decode_json,
)
from core.operations.github.stats import RequestStats
from core.operations.github.tokens import Token, TokenPool

__all__ = ["GitHubClient", "GitHubResponse", "NotModified", "Pages"]

log = logging.getLogger("core.operations.github")

# Endpoints GitHub never charges against the primary quota.
_FREE_PATHS = ("/rate_limit",)


class _BearerAuth(requests.auth.AuthBase):
    """Adds the token at send time; keeps it out of header dicts we build and of reprs."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._secret}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth [REDACTED]>"


@dataclasses.dataclass(frozen=True)
class GitHubResponse:
    """A decoded 2xx answer. ``data`` is the parsed JSON body (``None`` when empty)."""

    url: str
    endpoint: str
    status: int
    headers: Mapping[str, str]
    data: Any
    links: Mapping[str, str]
    token: str
    rate: RateLimitSnapshot | None
    cache_scope: str | None = None
    cache_key: str | None = None

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("Last-Modified")

    @property
    def next_url(self) -> str | None:
        return self.links.get("next")


@dataclasses.dataclass(frozen=True)
class NotModified:
    """304: the resource is unchanged since the validators were remembered. No data, no quota."""

    url: str
    endpoint: str
    cache_scope: str
    cache_key: str


class Pages:
    """The pages of a list, first page already fetched; iterate once.

    ``remember()`` stores the first page's validators: call it after everything read from
    the pages is persisted (a crash before that must not turn the data into a 304).
    """

    def __init__(self, client: GitHubClient, first: GitHubResponse) -> None:
        self._client = client
        self.first = first
        self._consumed = False

    def __iter__(self) -> Iterator[GitHubResponse]:
        if self._consumed:
            raise RuntimeError("Pages can be iterated only once")
        self._consumed = True
        return self._client._follow(self.first)

    def items(self) -> Iterator[Any]:
        for page in self:
            yield from _list_body(page)

    def remember(self) -> None:
        self._client.remember(self.first)


def _list_body(page: GitHubResponse) -> list[Any]:
    if not isinstance(page.data, list):
        raise DataValidationError(
            f"expected a JSON array, got {type(page.data).__name__}", source=page.endpoint, location="$"
        )
    return page.data


class GitHubClient:
    """GETs against the GitHub REST API (github.com or an Enterprise Server ``/api/v3``).

    ``clock``/``sleep``/``rng`` are injectable so waits are testable without sleeping.
    """

    def __init__(
        self,
        config: GitHubClientConfig,
        *,
        etag_cache: EtagCache | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.stats = RequestStats()
        self.etag_cache = etag_cache
        self._clock = clock
        self._sleep_fn = sleep
        self._rng = rng
        self.tokens = TokenPool(
            config.tokens,
            min_remaining=config.min_remaining,
            max_wait=config.max_rate_limit_wait,
            clock=clock,
            sleep=lambda seconds: self._sleep(seconds, rate_limit=True),
        )
        self._owns_session = session is None
        self._session = session or self._new_session()
        self._bad_headers: set[str] = set()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {
                "User-Agent": self.config.user_agent,
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": self.config.api_version,
            }
        )
        return session

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for an API path (``/repos/o/r``) or a same-origin absolute URL."""
        if path_or_url.startswith(("http://", "https://")):
            return require_same_origin(path_or_url, self.config.base_url, endpoint=path_or_url, what="URL")
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.config.base_url + path_or_url

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> GitHubResponse:
        """One GET, decoded. Raises the typed errors of :mod:`core.errors`."""
        response = self._fetch(self.url_for(path), params)
        if isinstance(response, NotModified):  # pragma: no cover - no validators were sent
            raise DataValidationError("unexpected 304 to an unconditional request", source=response.endpoint)
        return response

    def get_if_changed(
        self, path: str, params: Mapping[str, Any] | None = None, *, scope: str
    ) -> GitHubResponse | NotModified:
        """Conditional GET with the validators remembered under ``scope``; see :meth:`remember`."""
        return self._fetch(self.url_for(path), params, scope=scope)

    def remember(self, response: GitHubResponse) -> None:
        """Store the response's validators (after its data is persisted)."""
        if self.etag_cache is None or response.cache_scope is None or response.cache_key is None:
            return
        if response.etag is None and response.last_modified is None:
            return
        self.etag_cache.put(response.cache_scope, response.cache_key, response.etag, response.last_modified)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[GitHubResponse]:
        """Every page of a paginated endpoint, following ``Link: rel="next"`` on the API's origin."""
        first = self.get(path, params)
        return self._follow(first)

    def pages_if_changed(
        self, path: str, params: Mapping[str, Any] | None = None, *, scope: str
    ) -> Pages | NotModified:
        """Conditional on the first page: :class:`NotModified` when it is unchanged.

        Only sound when "first page unchanged" implies "nothing new", e.g. a ``since``
        window that fits on one page, or a newest-first ordering.
        """
        first = self.get_if_changed(path, params, scope=scope)
        if isinstance(first, NotModified):
            return first
        return Pages(self, first)

    def iter_items(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Items of a list endpoint across pages; adds ``per_page`` from the config if absent."""
        merged = dict(params or {})
        merged.setdefault("per_page", self.config.per_page)
        for page in self.pages(path, merged):
            yield from _list_body(page)

    def rate_limit(self) -> dict[str, Any]:
        """``GET /rate_limit`` (free of charge); also refreshes the pool's view of the current token."""
        data = self.get("/rate_limit").data
        if not isinstance(data, dict):
            raise DataValidationError("expected a JSON object", source="/rate_limit")
        return data

    def quota_report(self, resource: str = "core") -> list[dict[str, object]]:
        return self.tokens.quota_report(resource)

    # ------------------------------------------------------------------ internals

    def _redact(self, text: str) -> str:
        return sanitize_text(text, self.tokens.secrets())

    def _endpoint(self, url: str) -> str:
        parts = urlsplit(url)
        base_path = urlsplit(self.config.base_url).path
        path = parts.path[len(base_path) :] if base_path and parts.path.startswith(base_path) else parts.path
        return path + (f"?{parts.query}" if parts.query else "")

    def _sleep(self, seconds: float, *, rate_limit: bool = False) -> None:
        if seconds <= 0:
            return
        if rate_limit:
            self.stats.rate_limit_waits += 1
        self.stats.slept_seconds += seconds
        self._sleep_fn(seconds)

    def _bad_header(self, header: str, reason: str) -> None:
        """A rate-limit header value was ignored (safe default used); logged once per client and header."""
        if header in self._bad_headers:
            return
        self._bad_headers.add(header)
        self.stats.bad_headers += 1
        log.warning(
            "GitHub sent an unusable %s header (%s) at %s; ignoring it and using the safe default",
            header,
            reason,
            self._redact(urlsplit(self.config.base_url).netloc),
        )

    def _snapshot(self, response: requests.Response) -> RateLimitSnapshot | None:
        return RateLimitSnapshot.from_headers(response.headers, now=self._clock(), on_bad=self._bad_header)

    def _jitter(self) -> float:
        return self.config.jitter * self._rng()

    def _follow(self, first: GitHubResponse) -> Iterator[GitHubResponse]:
        seen = {first.url}
        page = first
        count = 1
        while True:
            next_url = None
            if page.next_url:
                next_url = require_same_origin(
                    page.next_url, self.config.base_url, endpoint=page.endpoint, what='Link rel="next"'
                )
            yield page
            if next_url is None:
                return
            if next_url in seen:
                raise DataValidationError(
                    "pagination loops back to a page already read", source=page.endpoint
                )
            if self.config.max_pages is not None and count >= self.config.max_pages:
                raise DataValidationError(
                    f"more than max_pages={self.config.max_pages} pages", source=self._redact(first.endpoint)
                )
            seen.add(next_url)
            count += 1
            fetched = self._fetch(next_url, None)
            if isinstance(fetched, NotModified):  # pragma: no cover - no validators were sent
                raise DataValidationError("unexpected 304 while paginating", source=fetched.endpoint)
            page = fetched

    def _fetch(
        self, url: str, params: Mapping[str, Any] | None, *, scope: str | None = None
    ) -> GitHubResponse | NotModified:
        key = None
        validators = None
        if scope is not None:
            parts = urlsplit(url)
            key = request_key(self._endpoint(parts._replace(query="").geturl()), params, parts.query)
            if self.etag_cache is not None:
                validators = self.etag_cache.get(scope, key)
        response, token, data = self._send(url, params, validators)
        endpoint = self._redact(self._endpoint(response.url))
        if response.status_code == 304:
            return NotModified(
                url=response.url, endpoint=endpoint, cache_scope=scope or "", cache_key=key or ""
            )
        return GitHubResponse(
            url=response.url,
            endpoint=endpoint,
            status=response.status_code,
            headers=response.headers,
            data=data,
            links=parse_link_header(response.headers.get("Link")),
            token=token.fingerprint,
            rate=self._snapshot(response),
            cache_scope=scope,
            cache_key=key,
        )

    def _send(
        self, url: str, params: Mapping[str, Any] | None, validators: tuple[str | None, str | None] | None
    ) -> tuple[requests.Response, Token, Any]:
        """The request loop: every retry, wait and rotation decision for one logical GET.

        Returns the final response, the token that got it and its decoded body (``None``
        for a 304 or an empty body). A body cut short is retried like a connection reset.
        """
        headers: dict[str, str] = {}
        if validators is not None:
            etag, last_modified = validators
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        transient = secondary = primary = redirects = 0
        resource = "core"  # the quota bucket; a primary-limit refusal names its own
        endpoint = self._endpoint(url)
        while True:
            token = self.tokens.acquire(resource)
            self.stats.requests += 1
            self.stats.by_token[token.fingerprint] += 1
            try:
                response = self._session.get(
                    url,
                    params=params,
                    headers=headers,
                    auth=_BearerAuth(token.secret) if token.secret else None,
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self.stats.transport_errors += 1
                outcome = classify_transport_error(exc, endpoint=endpoint, redact=self._redact)
                transient += 1
                self._retry_transient(outcome, transient, token)
                continue

            snapshot = self._snapshot(response)
            self.tokens.observe(token, snapshot)
            outcome = classify_response(
                response,
                endpoint=endpoint,
                now=self._clock(),
                redact=self._redact,
                on_bad_header=self._bad_header,
            )
            self._count(response, outcome)

            if outcome.verdict is Verdict.NOT_MODIFIED:
                return response, token, None
            if outcome.verdict is Verdict.OK:
                try:
                    data = decode_json(
                        response, endpoint=self._redact(self._endpoint(response.url)), redact=self._redact
                    )
                except TruncatedBodyError as exc:
                    self.stats.transport_errors += 1
                    transient += 1
                    self._retry_transient(Outcome(Verdict.TRANSIENT, exc), transient, token)
                    continue
                return response, token, data
            if outcome.verdict is Verdict.REDIRECT:
                redirects += 1
                self.stats.redirects += 1
                if redirects > self.config.max_redirects:
                    raise DataValidationError("too many redirects", source=self._redact(endpoint))
                url = require_same_origin(
                    response.headers["Location"], self.config.base_url, endpoint=endpoint, what="redirect"
                )
                params = None
                endpoint = self._endpoint(url)
                continue
            if outcome.verdict is Verdict.TRANSIENT:
                transient += 1
                self._retry_transient(outcome, transient, token)
                continue
            if outcome.verdict is Verdict.SECONDARY_LIMIT:
                secondary += 1
                self._wait_secondary(outcome, secondary, token, endpoint)
                continue
            if outcome.verdict is Verdict.PRIMARY_LIMIT:
                primary += 1
                resource = outcome.resource
                self.tokens.mark_exhausted(token, resource, outcome.reset_at)
                if primary > len(self.tokens) + 1:
                    reset = outcome.reset_at or self._clock()
                    raise RateLimitError(
                        f"GitHub keeps refusing {endpoint} for its primary rate limit",
                        retry_at=dt.datetime.fromtimestamp(reset, dt.UTC),
                    )
                continue  # acquire() rotates, waits (bounded) or raises RateLimitError
            assert outcome.error is not None
            raise outcome.error

    def _count(self, response: requests.Response, outcome: Outcome) -> None:
        self.stats.by_status[response.status_code] += 1
        if outcome.verdict is Verdict.NOT_MODIFIED:
            self.stats.not_modified += 1
        elif outcome.verdict is not Verdict.PRIMARY_LIMIT and not self._endpoint(response.url).startswith(
            _FREE_PATHS
        ):
            self.stats.quota_consuming += 1

    def _retry_transient(self, outcome: Outcome, attempt: int, token: Token) -> None:
        assert outcome.error is not None
        if attempt > self.config.transient_max_retries:
            log.warning("giving up after %d attempts: %s", attempt, outcome.error)
            raise outcome.error
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1)) + self._jitter()
        log.warning(
            "retry %d/%d in %.1fs (token %s): %s",
            attempt,
            self.config.transient_max_retries,
            delay,
            token.fingerprint,
            outcome.error,
        )
        self.stats.retries += 1
        self._sleep(delay)

    def _wait_secondary(self, outcome: Outcome, attempt: int, token: Token, endpoint: str) -> None:
        if outcome.retry_after is not None:
            wait = outcome.retry_after
        else:
            wait = self.config.secondary_default_wait * 2 ** (attempt - 1)
        retry_at = dt.datetime.fromtimestamp(self._clock() + wait, dt.UTC)
        if attempt > self.config.secondary_max_retries or wait > self.config.max_rate_limit_wait:
            raise RateLimitError(
                f"GitHub secondary rate limit on {self._redact(endpoint)} (attempt {attempt})",
                retry_at=retry_at,
            )
        delay = wait + self._jitter()
        log.warning(
            "GitHub secondary rate limit (token %s) on %s; waiting %.1fs (attempt %d/%d)",
            token.fingerprint,
            self._redact(endpoint),
            delay,
            attempt,
            self.config.secondary_max_retries,
        )
        self.stats.retries += 1
        self._sleep(delay, rate_limit=True)
