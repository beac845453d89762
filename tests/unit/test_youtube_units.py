"""Pure parts of the YouTube tracker: caption clean-up and paragraphs, speakers from titles,
ISO-8601 durations, Google error reasons, the Pacific quota day, config errors naming the field,
the proxy connection."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import ConfigError
from youtube_activity_tracker.api import error_reasons, next_pacific_midnight, pacific_day
from youtube_activity_tracker.api_schemas import iso_duration_seconds
from youtube_activity_tracker.captions import clean_line, speakers_from_title, transcript_paragraphs
from youtube_activity_tracker.config import YouTubeConfig, resolve_api, resolve_proxy


def test_inline_timing_and_style_tags_are_removed() -> None:
    raw = "so<00:00:01.199><c> the</c><00:00:01.480><c> move</c> &amp; <i>copy</i>"
    assert clean_line(raw) == "so the move & copy"


def test_rolling_duplicate_lines_collapse_and_paragraphs_carry_time_markers() -> None:
    segments = [
        [0.0, 2.0, "hello everyone"],
        [2.0, 2.0, "hello everyone\nwelcome to the talk"],
        [4.0, 2.0, "welcome to the talk\ntoday: coroutines"],
        [61.5, 2.0, "second minute"],
        [3725.0, 2.0, "an hour in"],
    ]
    text = transcript_paragraphs(segments)
    assert text == (
        "[00:00] hello everyone welcome to the talk today: coroutines\n\n"
        "[01:01] second minute\n\n[1:02:05] an hour in"
    )


@pytest.mark.parametrize(
    ("title", "channel", "speakers"),
    [
        ("Back to Basics: Templates - Jane Doe - CppCon 2024", "CppCon", ["Jane Doe"]),
        (
            "Contracts \u2013 John Smith & Ann Lee \u2013 Meeting C++ 2023",
            "Meeting C++",
            ["John Smith", "Ann Lee"],
        ),
        ("C++ Weekly - Ep 400 - Some Topic", "C++ Weekly With Jason Turner", []),
        ("Just a title", "TheCherno", []),
    ],
)
def test_speakers_from_conference_titles(title: str, channel: str, speakers: list[str]) -> None:
    assert speakers_from_title(title, channel) == speakers


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("PT1H2M3S", 3723), ("PT45S", 45), ("P0D", 0), ("P1DT1S", 86401), ("", None), ("1:00", None)],
)
def test_iso_durations(value: str, seconds: int | None) -> None:
    assert iso_duration_seconds(value) == seconds


def test_google_error_reasons_from_errors_and_details() -> None:
    body = (
        b'{"error": {"code": 400, "errors": [{"reason": "badRequest"}],'
        b' "details": [{"@type": "x", "reason": "API_KEY_INVALID"}]}}'
    )
    assert error_reasons(body) == {"badRequest", "API_KEY_INVALID"}
    assert error_reasons(b"<html>") == frozenset() and error_reasons(b'{"error": "x"}') == frozenset()


def test_quota_resets_at_midnight_pacific_in_winter_and_summer() -> None:
    winter = dt.datetime(2026, 11, 29, 7, 59, tzinfo=dt.UTC)  # 23:59 PST the day before
    assert next_pacific_midnight(winter) == dt.datetime(2026, 11, 29, 8, tzinfo=dt.UTC)
    assert pacific_day(winter) == "2026-11-28"
    summer = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
    assert next_pacific_midnight(summer) == dt.datetime(2026, 7, 2, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"channels": ["@CppCon"]}, "channels"),
        ({"channels": ["UCMlGfpWw-RUdWX_JbLCukXg"], "page_sise": 5}, "page_sise"),
        ({"search": {"queries": ["x"], "max_search_calls_per_day": 0}}, "search.max_search_calls_per_day"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"youtube config: {field}"):
        YouTubeConfig.parse(raw)


def test_the_api_key_is_required_and_the_proxy_is_built_from_its_connection() -> None:
    settings = YouTubeConfig.parse({"channels": ["UCMlGfpWw-RUdWX_JbLCukXg"]})
    with pytest.raises(ConfigError, match="youtube_default has no password"):
        resolve_api({"host": "https://x"}, settings)
    assert resolve_api({"password": "k"}, settings) == ("https://www.googleapis.com/youtube/v3", ["k"])
    proxy = resolve_proxy(
        {"host": "proxy.example", "port": 8080, "login": "u", "password": "p@ss"}, "yt_proxy"
    )
    assert (
        proxy is not None
        and proxy.https_url == "http://u:p%40ss@proxy.example:8080"
        and proxy.secrets == ("p@ss",)
    )
    assert resolve_proxy(None, None) is None
    with pytest.raises(ConfigError, match="proxy connection missing_proxy is not defined"):
        resolve_proxy(None, "missing_proxy")
