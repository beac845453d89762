"""Pagination strategies, the same-origin rule and the kit's settings, without a server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.errors import ConfigError, DataValidationError
from core.operations.github_ops import GitHubClientConfig
from core.operations.http import (
    CursorField,
    HttpClientConfig,
    HttpResponse,
    LinkHeader,
    NextUrlField,
    Offset,
    PageNumber,
    PageRequest,
    TimeWindow,
    dig,
    parse_link_header,
    require_same_origin,
)


def page(data: Any, links: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        url="https://api.example.test/x",
        endpoint="/x",
        status=200,
        headers={},
        data=data,
        links=links or {},
        token="anonymous",
        rate=None,
    )


def test_link_header_parsing() -> None:
    value = '<https://a.test/p?page=2>; rel="next", <https://a.test/p?page=9>; rel="last first"'
    assert parse_link_header(value) == {
        "next": "https://a.test/p?page=2",
        "last": "https://a.test/p?page=9",
        "first": "https://a.test/p?page=9",
    }
    assert LinkHeader().next(page([], parse_link_header(value)), PageRequest("/p")) == PageRequest(
        "https://a.test/p?page=2"
    )
    assert LinkHeader().next(page([]), PageRequest("/p")) is None


def test_same_origin_rule() -> None:
    base = "https://api.example.test/api/v3"
    assert require_same_origin("/repos", base, endpoint="/x", what="w") == "https://api.example.test/repos"
    assert require_same_origin("https://API.example.test:443/y", base, endpoint="/x", what="w")
    for bad in (
        "http://api.example.test/y",
        "https://api.example.test:8443/y",
        "https://u:p@api.example.test/y",
        "https://evil.test/y",
    ):
        with pytest.raises(DataValidationError, match="another origin"):
            require_same_origin(bad, base, endpoint="/x", what="w")


def test_dig_names_the_path() -> None:
    assert dig({"a": {"b": [1]}}, "a.b", endpoint="/x") == [1]
    assert dig({"a": None}, "a.b", endpoint="/x") is None
    assert dig([1], "", endpoint="/x") == [1]
    with pytest.raises(DataValidationError) as info:
        dig({"a": [1]}, "a.b", endpoint="/x")
    assert info.value.location == "a.b"


def test_cursor_stops_on_empty_cursor_or_has_more_false() -> None:
    strategy = CursorField("meta.next", param="cursor", has_more="more")
    request = PageRequest("/h", {"channel": "C"})
    assert strategy.next(page({"meta": {"next": "abc"}, "more": True}), request) == PageRequest(
        "/h", {"channel": "C", "cursor": "abc"}
    )
    assert strategy.next(page({"meta": {"next": "abc"}, "more": False}), request) is None
    assert strategy.next(page({"meta": {"next": ""}, "more": True}), request) is None


def test_page_number_and_offset_stop_rules() -> None:
    numbers = PageNumber(size=2, items_path="items")
    first = numbers.first(PageRequest("/p"))
    assert first.params == {"page": 1}
    assert numbers.next(page({"items": [1, 2]}), first) == PageRequest("/p", {"page": 2})
    assert numbers.next(page({"items": [1]}), first) is None
    assert numbers.next(page({"items": []}), first) is None
    offsets = Offset(limit=2, total_path="count", items_path="results")
    start = offsets.first(PageRequest("/o"))
    assert start.params == {"offset": 0, "limit": 2}
    assert offsets.next(page({"count": 4, "results": [1, 2]}), start) == PageRequest(
        "/o", {"offset": 2, "limit": 2}
    )
    assert offsets.next(page({"count": 2, "results": [1, 2]}), start) is None
    with pytest.raises(DataValidationError):
        offsets.next(page({"results": {"not": "a list"}}), start)


def test_next_url_field_and_time_window() -> None:
    assert NextUrlField().next(page({"next": None}), PageRequest("/l")) is None
    with pytest.raises(DataValidationError):
        NextUrlField().next(page({"next": 3}), PageRequest("/l"))
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    window = TimeWindow(
        start, start + dt.timedelta(hours=5), dt.timedelta(hours=2), since_param="after", until_param="before"
    )
    request = window.first(PageRequest("/s", {"q": "x"}))
    seen = [request.params]
    while (request := window.next(page([]), request)) is not None:  # type: ignore[assignment]
        seen.append(request.params)
    assert [(p["after"], p["before"]) for p in seen] == [  # type: ignore[index]
        ("2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z"),
        ("2024-01-01T02:00:00Z", "2024-01-01T04:00:00Z"),
        ("2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z"),
    ]
    assert all(p["q"] == "x" for p in seen)  # type: ignore[index]
    with pytest.raises(ValueError):
        TimeWindow(start, start, dt.timedelta(0))


def test_settings_are_checked_and_github_maps_onto_the_kit() -> None:
    for bad in ("ftp://h", "https://u:p@h", "https://h/?q=1", "no-scheme"):
        with pytest.raises(ConfigError, match="base_url"):
            HttpClientConfig(base_url=bad)
    with pytest.raises(ConfigError, match="jitter"):
        HttpClientConfig(base_url="https://h", jitter=-1)
    with pytest.raises(ConfigError, match="max_pages"):
        HttpClientConfig(base_url="https://h", max_pages=0)
    github = GitHubClientConfig(
        base_url="https://ghe.test/api/v3/", secondary_max_retries=7, secondary_default_wait=9
    )
    assert github.http.base_url == "https://ghe.test/api/v3" and github.http.api_name == "GitHub"
    assert (github.http.rate_limit_max_retries, github.http.rate_limit_default_wait) == (7, 9)
    assert ("X-GitHub-Api-Version", github.api_version) in github.http.headers
