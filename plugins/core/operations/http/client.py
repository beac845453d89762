"""``HttpClient``: one ``requests.Session``, a token pool, a rate-limit policy, bounded waits
and retries, pagination strategies and conditional requests, for any JSON API.

Reads are GETs, so every retry is safe; :meth:`HttpClient.send` is the one write path
(JSON body; transient failures retried only when the caller says the write is idempotent,
rate-limit refusals always waited out, since a refused request was not acted on). Not thread-safe:
use one client per thread or task. API layers (``core.operations.github``) subclass it
to set their headers, policy, error classes and a few API-specific calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import requests.adapters
import requests.auth
import tenacity

from core.errors import DataValidationError, RateLimitError, sanitize_text
from core.operations.http.auth import Credential, HeaderAuth
from core.operations.http.config import HttpClientConfig
from core.operations.http.pagination import (
    LinkHeader,
    PageRequest,
    Paginator,
    dig,
    parse_link_header,
    require_same_origin,
)
from core.operations.http.ratelimit import RETRY_AFTER_ONLY, HeaderRateLimitPolicy, RateLimitSnapshot
from core.operations.http.responses import (
    Outcome,
    StatusErrors,
    TruncatedBodyError,
    Verdict,
    classify_response,
    classify_transport_error,
    decode_json,
)
from core.operations.http.stats import RequestStats
from core.operations.http.tokens import Token, TokenPool
from core.operations.http.validators import EtagCache, request_key
from core.redaction import redact_logger

__all__ = ["BodyTooLargeError", "HttpClient", "HttpResponse", "NotModified", "Pages"]

# urllib3 logs each request line at DEBUG, query (``?key=``, ``?access_token=``) included.
redact_logger("urllib3.connectionpool")


@dataclasses.dataclass(frozen=True)
class HttpResponse:
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
    # Set on pages yielded by a listing: the request the paginator makes next (None: the last page).
    next_page: PageRequest | None = None

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

    def __init__(
        self,
        client: HttpClient,
        first: HttpResponse,
        request: PageRequest | None = None,
        paginator: Paginator | None = None,
        items_path: str = "",
    ) -> None:
        self._client = client
        self.first = first
        self._request = request or PageRequest(first.url)
        self._paginator = paginator or client.paginator
        self._items_path = items_path
        self._consumed = False

    def __iter__(self) -> Iterator[HttpResponse]:
        if self._consumed:
            raise RuntimeError("Pages can be iterated only once")
        self._consumed = True
        return self._client._follow(self.first, self._request, self._paginator)

    def items(self) -> Iterator[Any]:
        for page in self:
            yield from list_body(page, self._items_path)

    def remember(self) -> None:
        self._client.remember(self.first)


def list_body(page: HttpResponse, items_path: str = "") -> list[Any]:
    """The JSON array at ``items_path`` of a page (the body itself by default)."""
    items = dig(page.data, items_path, endpoint=page.endpoint)
    if not isinstance(items, list):
        raise DataValidationError(
            f"expected a JSON array, got {type(items).__name__}",
            source=page.endpoint,
            location=items_path or "$",
        )
    return items


class BodyTooLargeError(DataValidationError):
    """A raw body larger than the caller's ``max_bytes`` (category ``validation``: not retried)."""


class _Transient(Exception):
    """One attempt failed in a way a retry may fix (carries the error to raise when they run out)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class HttpClient:
    """GETs against one API origin; see the module docstring.

    ``tokens``: secrets (attached by ``credential``, a bearer header by default) or ready
    ``requests`` auth objects (:class:`~core.operations.http.auth.OAuth2ClientCredentials`);
    several rotate as a pool. ``clock``/``sleep``/``rng`` are injectable so waits are
    testable without sleeping.
    """

    paginator: Paginator = LinkHeader()
    errors: StatusErrors = StatusErrors()

    def __init__(
        self,
        config: HttpClientConfig,
        *,
        tokens: Sequence[str | requests.auth.AuthBase] = (),
        credential: Credential = HeaderAuth,
        policy: HeaderRateLimitPolicy = RETRY_AFTER_ONLY,
        paginator: Paginator | None = None,
        etag_cache: EtagCache | None = None,
        session: requests.Session | None = None,
        stats: RequestStats | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.http_config = config
        self.policy = policy
        if paginator is not None:
            self.paginator = paginator
        self.stats = stats or RequestStats()
        self.etag_cache = etag_cache
        self.log = logging.getLogger(config.logger)
        self._clock = clock
        self._sleep_fn = sleep
        self._rng = rng
        self.tokens = TokenPool(
            tokens,
            credential=credential,
            min_remaining=config.min_remaining,
            max_wait=config.max_rate_limit_wait,
            clock=clock,
            sleep=lambda seconds: self._sleep(seconds, rate_limit=True),
            label=config.api_name,
            logger=config.logger,
        )
        self._owns_session = session is None
        self._session = session or self._new_session()
        self._bad_headers: set[str] = set()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"User-Agent": self.http_config.user_agent, **dict(self.http_config.headers)})
        return session

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    @property
    def base_url(self) -> str:
        return self.http_config.base_url

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for an API path (``/repos/o/r``) or a same-origin absolute URL."""
        if path_or_url.startswith(("http://", "https://")):
            return require_same_origin(path_or_url, self.base_url, endpoint=path_or_url, what="URL")
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.base_url + path_or_url

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> HttpResponse:
        """One GET, decoded. Raises the typed errors of :mod:`core.errors`."""
        response = self._fetch(self.url_for(path), params)
        if isinstance(response, NotModified):  # pragma: no cover - no validators were sent
            raise DataValidationError("unexpected 304 to an unconditional request", source=response.endpoint)
        return response

    def get_raw(
        self, path: str, params: Mapping[str, Any] | None = None, *, max_bytes: int | None = None
    ) -> HttpResponse:
        """One GET whose body is kept as bytes (``data``), not parsed as JSON: a file download
        (an mbox export, an archive). Same retries, waits and errors as :meth:`get`; a body cut
        short on the wire is retried as a transient failure. With ``max_bytes`` the body is
        streamed and a larger one (announced or sent) raises :class:`BodyTooLargeError`
        (``validation``) after reading at most ``max_bytes + 1`` bytes of it."""
        response = self._fetch(self.url_for(path), params, raw=True, max_bytes=max_bytes)
        if isinstance(response, NotModified):  # pragma: no cover - no validators were sent
            raise DataValidationError("unexpected 304 to an unconditional request", source=response.endpoint)
        return response

    def send(self, method: str, path: str, payload: Any = None, *, idempotent: bool) -> HttpResponse:
        """One write (``POST``/``PATCH``/``PUT``/``DELETE``) with ``payload`` as its JSON body.

        Rate-limit refusals (``Retry-After``, a spent quota) are waited out and the request
        sent again within the same bounds as a GET: the API did not act on a refused request.
        5xx, resets, timeouts and bodies cut short are retried only when ``idempotent`` (a
        content-addressed create, a compare-and-set); otherwise the error is raised and the
        caller reconciles (re-reads what the write would have changed). Redirects are refused.
        """
        method = method.upper()
        if method == "GET":
            raise ValueError("send() is for writes; use get()")
        body = None if payload is None else orjson.dumps(payload)
        response, token, data = self._send(
            self.url_for(path), None, None, method=method, body=body, transient_retries=idempotent
        )
        return HttpResponse(
            url=response.url,
            endpoint=self._redact(self._endpoint(response.url)),
            status=response.status_code,
            headers=response.headers,
            data=data,
            links=parse_link_header(response.headers.get("Link")),
            token=token.fingerprint,
            rate=self._snapshot(response),
        )

    def get_if_changed(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        scope: str,
        raw: bool = False,
        max_bytes: int | None = None,
    ) -> HttpResponse | NotModified:
        """Conditional GET with the validators remembered under ``scope``; see :meth:`remember`.
        ``raw``/``max_bytes``: the body as bytes, as :meth:`get_raw`."""
        return self._fetch(self.url_for(path), params, scope=scope, raw=raw, max_bytes=max_bytes)

    def remember(self, response: HttpResponse) -> None:
        """Store the response's validators (after its data is persisted)."""
        if self.etag_cache is None or response.cache_scope is None or response.cache_key is None:
            return
        if response.etag is None and response.last_modified is None:
            return
        self.etag_cache.put(response.cache_scope, response.cache_key, response.etag, response.last_modified)

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, paginator: Paginator | None = None
    ) -> Iterator[HttpResponse]:
        """Every page of a list, following ``paginator`` (the client's default) on the API's origin."""
        strategy = paginator or self.paginator
        request = strategy.first(PageRequest(path, params))
        first = self.get(request.url, request.params)
        return self._follow(first, request, strategy)

    def pages_if_changed(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        scope: str,
        paginator: Paginator | None = None,
        items_path: str = "",
    ) -> Pages | NotModified:
        """Conditional on the first page: :class:`NotModified` when it is unchanged.

        Only sound when "first page unchanged" implies "nothing new", e.g. a ``since``
        window that fits on one page, or a newest-first ordering.
        """
        strategy = paginator or self.paginator
        request = strategy.first(PageRequest(path, params))
        first = self.get_if_changed(request.url, request.params, scope=scope)
        if isinstance(first, NotModified):
            return first
        return Pages(self, first, request, strategy, items_path)

    def iter_items(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        paginator: Paginator | None = None,
        items_path: str = "",
    ) -> Iterator[Any]:
        """Items of a list endpoint across pages (the JSON array at ``items_path``)."""
        for page in self.pages(path, params, paginator=paginator):
            yield from list_body(page, items_path)

    def quota_report(self, resource: str | None = None) -> list[dict[str, object]]:
        return self.tokens.quota_report(resource or self.policy.default_resource)

    # ------------------------------------------------------------------ internals

    def _redact(self, text: str) -> str:
        return sanitize_text(text, self.tokens.secrets())

    def _endpoint(self, url: str) -> str:
        parts = urlsplit(url)
        base_path = urlsplit(self.base_url).path
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
        self.log.warning(
            "%s sent an unusable %s header (%s) at %s; ignoring it and using the safe default",
            self.http_config.api_name,
            header,
            reason,
            self._redact(urlsplit(self.base_url).netloc),
        )

    def _snapshot(self, response: requests.Response) -> RateLimitSnapshot | None:
        path = self._endpoint(response.url).split("?", 1)[0]
        return self.policy.snapshot(response.headers, now=self._clock(), path=path, on_bad=self._bad_header)

    def _jitter(self) -> float:
        return self.http_config.jitter * self._rng()

    def _follow(
        self, first: HttpResponse, request: PageRequest, paginator: Paginator
    ) -> Iterator[HttpResponse]:
        seen = {request_key(self.url_for(request.url), request.params)}
        page = first
        count = 1
        while True:
            following = paginator.next(page, request)
            next_url = None
            if following is not None:
                next_url = require_same_origin(
                    following.url,
                    self.base_url,
                    endpoint=page.endpoint,
                    what="the next page" if not isinstance(paginator, LinkHeader) else 'Link rel="next"',
                )
            yield dataclasses.replace(page, next_page=following)
            if following is None or next_url is None:
                return
            key = request_key(next_url, following.params)
            if key in seen:
                raise DataValidationError(
                    "pagination loops back to a page already read", source=page.endpoint
                )
            max_pages = self.http_config.max_pages
            if max_pages is not None and count >= max_pages:
                raise DataValidationError(
                    f"more than max_pages={max_pages} pages", source=self._redact(first.endpoint)
                )
            seen.add(key)
            count += 1
            request = dataclasses.replace(following, url=next_url)
            fetched = self._fetch(next_url, following.params)
            if isinstance(fetched, NotModified):  # pragma: no cover - no validators were sent
                raise DataValidationError("unexpected 304 while paginating", source=fetched.endpoint)
            page = fetched

    def _fetch(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        *,
        scope: str | None = None,
        raw: bool = False,
        max_bytes: int | None = None,
    ) -> HttpResponse | NotModified:
        key = None
        validators = None
        if scope is not None:
            parts = urlsplit(url)
            key = request_key(self._endpoint(parts._replace(query="").geturl()), params, parts.query)
            if self.etag_cache is not None:
                validators = self.etag_cache.get(scope, key)
        response, token, data = self._send(url, params, validators, raw=raw, max_bytes=max_bytes)
        endpoint = self._redact(self._endpoint(response.url))
        if response.status_code == 304:
            return NotModified(
                url=response.url, endpoint=endpoint, cache_scope=scope or "", cache_key=key or ""
            )
        return HttpResponse(
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
        self,
        url: str,
        params: Mapping[str, Any] | None,
        validators: tuple[str | None, str | None] | None,
        *,
        raw: bool = False,
        max_bytes: int | None = None,
        method: str = "GET",
        body: bytes | None = None,
        transient_retries: bool = True,
    ) -> tuple[requests.Response, Token, Any]:
        """Every retry, wait and rotation decision for one logical GET.

        Transient failures (5xx, resets, timeouts, bodies cut short) are retried by
        ``tenacity`` with exponential backoff and jitter; rate-limit refusals and
        same-origin redirects are handled here around it. Returns the final response, the
        token that got it and its decoded body (``None`` for a 304 or an empty body).
        """
        headers: dict[str, str] = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if validators is not None:
            etag, last_modified = validators
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        waits = exhausted = redirects = 0
        refreshed = False
        endpoint = self._endpoint(url)
        resource = self.policy.resource_for(endpoint.split("?", 1)[0])
        retrying = self._retrying(transient_retries)
        while True:
            response, token, outcome, data = retrying(
                self._attempt, url, params, headers, resource, raw, max_bytes, method, body
            )
            if outcome.verdict in (Verdict.OK, Verdict.NOT_MODIFIED):
                return response, token, data
            if outcome.verdict is Verdict.REDIRECT and method != "GET":
                raise DataValidationError(
                    f"{self.http_config.api_name} redirected {method} {self._redact(endpoint)}; "
                    "writes do not follow redirects",
                    source=self._redact(endpoint),
                )
            if outcome.verdict is Verdict.REDIRECT:
                redirects += 1
                self.stats.redirects += 1
                if redirects > self.http_config.max_redirects:
                    raise DataValidationError("too many redirects", source=self._redact(endpoint))
                url = require_same_origin(
                    response.headers["Location"], self.base_url, endpoint=endpoint, what="redirect"
                )
                params = None
                endpoint = self._endpoint(url)
                continue
            if outcome.verdict is Verdict.WAIT:
                waits += 1
                self._wait(outcome, waits, token, endpoint)
                continue
            if outcome.verdict is Verdict.EXHAUSTED:
                exhausted += 1
                resource = outcome.resource
                self.tokens.mark_exhausted(token, resource, outcome.reset_at)
                if exhausted > len(self.tokens) + 1:
                    reset = outcome.reset_at or self._clock()
                    raise RateLimitError(
                        f"{self.http_config.api_name} keeps refusing {self._redact(endpoint)} "
                        "for its rate limit",
                        retry_at=dt.datetime.fromtimestamp(reset, dt.UTC),
                    )
                continue  # acquire() rotates, waits (bounded) or raises RateLimitError
            assert outcome.error is not None
            refresh = getattr(token.auth, "refresh", None)
            if response.status_code == 401 and callable(refresh) and not refreshed:
                refreshed = True  # an expired OAuth2 access token: mint a new one, once
                refresh()
                continue
            raise outcome.error

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        resource: str,
        raw: bool = False,
        max_bytes: int | None = None,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[requests.Response, Token, Outcome, Any]:
        """One request: raises :class:`_Transient` for what a retry may fix."""
        token = self.tokens.acquire(resource)
        self.stats.requests += 1
        self.stats.by_token[token.fingerprint] += 1
        endpoint = self._endpoint(url)
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=body,
                headers=headers,
                auth=token.auth,
                timeout=(self.http_config.connect_timeout, self.http_config.read_timeout),
                allow_redirects=False,
                stream=raw and max_bytes is not None,
            )
        except requests.RequestException as exc:
            self.stats.transport_errors += 1
            outcome = classify_transport_error(exc, endpoint=endpoint, redact=self._redact, method=method)
            assert outcome.error is not None
            if outcome.verdict is Verdict.TRANSIENT:
                raise _Transient(outcome.error) from None
            raise outcome.error from None
        self.tokens.observe(token, self._snapshot(response))
        outcome = classify_response(
            response,
            endpoint=endpoint,
            path=endpoint.split("?", 1)[0],
            now=self._clock(),
            redact=self._redact,
            policy=self.policy,
            api_name=self.http_config.api_name,
            errors=self.errors,
            on_bad_header=self._bad_header,
            method=method,
        )
        self._count(response, outcome)
        if outcome.verdict is Verdict.TRANSIENT:
            assert outcome.error is not None
            raise _Transient(outcome.error)
        data = None
        if outcome.verdict is Verdict.OK and raw and max_bytes is not None:
            data = self._read_capped(response, max_bytes, endpoint)
        elif outcome.verdict is Verdict.OK and raw:
            data = response.content
        elif outcome.verdict is Verdict.OK:
            try:
                data = decode_json(
                    response,
                    endpoint=self._redact(self._endpoint(response.url)),
                    redact=self._redact,
                    api_name=self.http_config.api_name,
                )
            except TruncatedBodyError as exc:
                self.stats.transport_errors += 1
                raise _Transient(exc) from None
            self.accept(response, data)
        return response, token, outcome, data

    def _read_capped(self, response: requests.Response, max_bytes: int, endpoint: str) -> bytes:
        """A streamed body of at most ``max_bytes``; larger (announced or sent) is refused."""
        too_large = BodyTooLargeError(
            f"{self.http_config.api_name}: the body of {self._redact(endpoint)} is larger than "
            f"max_bytes={max_bytes}",
            source=self._redact(endpoint),
        )
        try:
            announced = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            announced = 0  # unusable: the streamed count below still bounds the body
        try:
            if announced > max_bytes:
                raise too_large
            body = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
            return bytes(body)
        except requests.RequestException as exc:  # cut short on the wire: retried like a reset
            self.stats.transport_errors += 1
            outcome = classify_transport_error(exc, endpoint=endpoint, redact=self._redact)
            assert outcome.error is not None
            raise _Transient(outcome.error) from None
        finally:
            response.close()

    def accept(self, response: requests.Response, data: Any) -> None:
        """Hook for API layers: raise a typed error for a 2xx body that reports a failure
        (Slack's ``{"ok": false}``). The default accepts every 2xx."""

    def _retrying(self, transient_retries: bool = True) -> Callable[..., Any]:
        """A ``tenacity`` retrier for transient failures, with the client's sleep, bounds and jitter
        (one attempt only when the request may not be repeated)."""
        config = self.http_config
        attempts = config.transient_max_retries + 1 if transient_retries else 1
        retrier = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_combine(
                tenacity.wait_exponential(multiplier=config.backoff_base, max=config.backoff_max, min=0),
                lambda _state: self._jitter(),
            ),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )

        def call(*args: Any) -> Any:
            try:
                return retrier(*args)
            except _Transient as failed:
                self.log.warning("giving up after %d attempts: %s", attempts, failed.error)
                raise failed.error from None

        return call

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        error = failure.error if isinstance(failure, _Transient) else failure
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        self.log.warning(
            "retry %d/%d in %.1fs (token %s): %s",
            state.attempt_number,
            self.http_config.transient_max_retries,
            delay,
            self.tokens.current.fingerprint,
            error,
        )
        self.stats.retries += 1

    def _count(self, response: requests.Response, outcome: Outcome) -> None:
        self.stats.by_status[response.status_code] += 1
        not_modified = outcome.verdict is Verdict.NOT_MODIFIED
        if not_modified:
            self.stats.not_modified += 1
        path = self._endpoint(response.url).split("?", 1)[0]
        if self.policy.charges(path, refused=outcome.verdict is Verdict.EXHAUSTED, not_modified=not_modified):
            self.stats.quota_consuming += 1

    def _wait(self, outcome: Outcome, attempt: int, token: Token, endpoint: str) -> None:
        config = self.http_config
        if outcome.retry_after is not None:
            wait = outcome.retry_after
        else:
            wait = config.rate_limit_default_wait * 2 ** (attempt - 1)
        retry_at = dt.datetime.fromtimestamp(self._clock() + wait, dt.UTC)
        if attempt > config.rate_limit_max_retries or wait > config.max_rate_limit_wait:
            raise RateLimitError(
                f"{config.api_name} rate limit on {self._redact(endpoint)} (attempt {attempt})",
                retry_at=retry_at,
            )
        delay = wait + self._jitter()
        self.log.warning(
            "%s rate limit (token %s) on %s; waiting %.1fs (attempt %d/%d)",
            config.api_name,
            token.fingerprint,
            self._redact(endpoint),
            delay,
            attempt,
            config.rate_limit_max_retries,
        )
        self.stats.retries += 1
        self._sleep(delay, rate_limit=True)
