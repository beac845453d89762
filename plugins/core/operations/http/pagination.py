"""Pagination strategies and the same-origin rule for any URL an API hands us.

A strategy turns the page just read (and the request that read it) into the next request,
or ``None`` at the end: :class:`LinkHeader` (RFC 8288 ``rel="next"``, GitHub),
:class:`NextUrlField` (a body field holding the next URL, Django REST framework's ``next``),
:class:`CursorField` (a body field holding an opaque cursor sent back as a parameter,
Slack's ``response_metadata.next_cursor``, YouTube's ``nextPageToken``, Reddit's
``data.after``), :class:`PageNumber`, :class:`Offset` and :class:`TimeWindow` (fixed
windows over a time range, each paged by an inner strategy). The client checks every
next URL against the API's origin, whatever the strategy, and stops a strategy that
loops back to a request already made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from core.errors import DataValidationError

if TYPE_CHECKING:
    from core.operations.http.client import HttpResponse

__all__ = [
    "CursorField",
    "LinkHeader",
    "NextUrlField",
    "Offset",
    "PageNumber",
    "PageRequest",
    "Paginator",
    "TimeWindow",
    "dig",
    "origin",
    "parse_link_header",
    "require_same_origin",
]

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";,]+)"?""", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_link_header(value: str | None) -> dict[str, str]:
    """``{rel: url}`` from an RFC 8288 ``Link`` header (``rel="next"`` etc.)."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK.finditer(value):
        url, params = match.group(1).strip(), match.group(2)
        rel_match = _REL.search(params)
        if rel_match:
            for rel in rel_match.group(1).split():
                links.setdefault(rel.lower(), url)
    return links


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` with default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def require_same_origin(url: str, base_url: str, *, endpoint: str, what: str) -> str:
    """Resolve ``url`` against ``base_url`` and refuse it unless it stays on the API's origin.

    Following a link to another origin would send the credential there (or silently read
    data from a server we were not configured to trust), and retrying cannot make the
    response valid, so this is a ``validation`` failure of the API payload, not a network one.
    """
    absolute = urljoin(base_url + "/", url)
    if origin(absolute) != origin(base_url) or urlsplit(absolute).username or urlsplit(absolute).password:
        scheme, host, port = origin(absolute)
        raise DataValidationError(
            f"refusing to follow {what} to another origin ({scheme}://{host}:{port}); "
            "only the configured API origin is trusted",
            source=endpoint,
            location=what,
        )
    return absolute


def dig(data: Any, path: str, *, endpoint: str) -> Any:
    """The value at dotted ``path`` in a JSON body (``None`` when a key is absent).

    ``""`` is the body itself. A step into something that is not an object is a
    ``validation`` error naming the endpoint and the path.
    """
    value = data
    for key in path.split(".") if path else ():
        if value is None:
            return None
        if not isinstance(value, dict):
            raise DataValidationError(
                f"expected a JSON object at {path!r}, got {type(value).__name__}",
                source=endpoint,
                location=path,
            )
        value = value.get(key)
    return value


@dataclasses.dataclass(frozen=True)
class PageRequest:
    """One page to GET: a path or same-origin URL, its parameters, and a strategy's own state."""

    url: str
    params: Mapping[str, Any] | None = None
    state: Any = None

    def with_params(self, **changes: Any) -> PageRequest:
        return PageRequest(self.url, {**(self.params or {}), **changes}, self.state)


class Paginator(Protocol):
    """``first(request)`` shapes the first request; ``next(page, request)`` the one after ``page``."""

    def first(self, request: PageRequest) -> PageRequest: ...

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None: ...


def _items(page: HttpResponse, items_path: str) -> list[Any]:
    items = dig(page.data, items_path, endpoint=page.endpoint)
    if items is None:
        return []
    if not isinstance(items, list):
        raise DataValidationError(
            f"expected a JSON array at {items_path or '$'!r}, got {type(items).__name__}",
            source=page.endpoint,
            location=items_path or "$",
        )
    return items


@dataclasses.dataclass(frozen=True)
class LinkHeader:
    """``Link: <url>; rel="next"`` (GitHub, GitLab, many REST APIs)."""

    rel: str = "next"

    def first(self, request: PageRequest) -> PageRequest:
        return request

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        url = page.links.get(self.rel)
        return PageRequest(url) if url else None


@dataclasses.dataclass(frozen=True)
class NextUrlField:
    """The next page's URL in the body (``{"next": "https://...?offset=100"}``)."""

    path: str = "next"

    def first(self, request: PageRequest) -> PageRequest:
        return request

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        url = dig(page.data, self.path, endpoint=page.endpoint)
        if url in (None, ""):
            return None
        if not isinstance(url, str):
            raise DataValidationError(
                "the next-page URL is not a string", source=page.endpoint, location=self.path
            )
        return PageRequest(url)


@dataclasses.dataclass(frozen=True)
class CursorField:
    """An opaque cursor in the body, sent back as ``param``; empty or absent ends the list.

    ``has_more``: a boolean field that must also be true to go on (Slack sends both).
    """

    path: str
    param: str = "cursor"
    has_more: str | None = None

    def first(self, request: PageRequest) -> PageRequest:
        return request

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        if self.has_more is not None and dig(page.data, self.has_more, endpoint=page.endpoint) is not True:
            return None
        cursor = dig(page.data, self.path, endpoint=page.endpoint)
        if cursor in (None, ""):
            return None
        if not isinstance(cursor, str | int):
            raise DataValidationError("the cursor is not a string", source=page.endpoint, location=self.path)
        return request.with_params(**{self.param: cursor})


@dataclasses.dataclass(frozen=True)
class PageNumber:
    """``?page=N`` from ``start``; ends on an empty page or one shorter than ``size``."""

    param: str = "page"
    start: int = 1
    size: int | None = None
    size_param: str | None = None
    items_path: str = ""

    def first(self, request: PageRequest) -> PageRequest:
        extra = {self.size_param: self.size} if self.size_param and self.size else {}
        return request.with_params(**{self.param: self.start}, **extra)

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        items = _items(page, self.items_path)
        if not items or (self.size is not None and len(items) < self.size):
            return None
        current = int((request.params or {}).get(self.param, self.start))
        return request.with_params(**{self.param: current + 1})


@dataclasses.dataclass(frozen=True)
class Offset:
    """``?offset=N&limit=L``; ends on a short page or when ``total_path`` says all were read."""

    limit: int = 100
    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = None
    items_path: str = ""

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.offset_param: 0, self.limit_param: self.limit})

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        items = _items(page, self.items_path)
        offset = int((request.params or {}).get(self.offset_param, 0)) + len(items)
        if len(items) < self.limit:
            return None
        if self.total_path is not None:
            total = dig(page.data, self.total_path, endpoint=page.endpoint)
            if isinstance(total, int) and offset >= total:
                return None
        return request.with_params(**{self.offset_param: offset})


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class TimeWindow:
    """Windows ``[start, start+step)``, ``[start+step, ...)`` up to ``end``, each paged by ``inner``.

    ``since_param``/``until_param`` carry each window's bounds, formatted by ``fmt``
    (ISO 8601 UTC by default; pass e.g. ``lambda t: str(t.timestamp())`` for epoch APIs).
    For APIs that cap a result set (GitHub search's 1,000 results) or want bounded scans.
    """

    start: dt.datetime
    end: dt.datetime
    step: dt.timedelta
    since_param: str = "since"
    until_param: str = "until"
    inner: Paginator = dataclasses.field(default_factory=LinkHeader)
    fmt: Callable[[dt.datetime], str] = _iso

    def __post_init__(self) -> None:
        if self.step <= dt.timedelta(0):
            raise ValueError("TimeWindow step must be positive")

    def _window(self, base: PageRequest, since: dt.datetime) -> PageRequest:
        until = min(since + self.step, self.end)
        window = base.with_params(**{self.since_param: self.fmt(since), self.until_param: self.fmt(until)})
        return dataclasses.replace(self.inner.first(window), state=(since, base))

    def first(self, request: PageRequest) -> PageRequest:
        return self._window(request, self.start)

    def next(self, page: HttpResponse, request: PageRequest) -> PageRequest | None:
        since, base = request.state
        following = self.inner.next(page, request)
        if following is not None:
            return dataclasses.replace(following, state=request.state)
        since += self.step  # this window is done: the next one starts where it ended
        return self._window(base, since) if since < self.end else None
