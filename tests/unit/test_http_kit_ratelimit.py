"""Rate-limit policies of the HTTP source kit: header parsing and refusal decisions."""

from __future__ import annotations

import email.utils

import pytest

from core.operations.github_ops import GITHUB_RATE_LIMITS
from core.operations.http import DISCORD, REDDIT, RETRY_AFTER_ONLY, SLACK, retry_after_seconds

NOW = 1_750_000_000.0


def collect() -> tuple[list[tuple[str, str]], object]:
    bad: list[tuple[str, str]] = []
    return bad, lambda header, reason: bad.append((header, reason))


def test_epoch_reset_in_milliseconds_is_ignored_and_reported() -> None:
    bad, on_bad = collect()
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "7",
        "X-RateLimit-Reset": str(int(NOW * 1000)),
    }
    snap = GITHUB_RATE_LIMITS.snapshot(headers, now=NOW, on_bad=on_bad)  # type: ignore[arg-type]
    assert snap is not None and snap.remaining == 7 and snap.reset_at is None and snap.resource == "core"
    assert bad == [("X-RateLimit-Reset", "not epoch seconds (milliseconds?)")]


def test_github_resource_header_names_the_bucket() -> None:
    headers = {
        "X-RateLimit-Remaining": "9",
        "X-RateLimit-Resource": "search",
        "X-RateLimit-Reset": str(int(NOW) + 30),
    }
    snap = GITHUB_RATE_LIMITS.snapshot(headers, now=NOW)
    assert snap is not None and snap.resource == "search" and snap.reset_at == NOW + 30


def test_reddit_float_remaining_and_reset_in_seconds() -> None:
    headers = {"X-Ratelimit-Remaining": "12.7", "X-Ratelimit-Reset": "42", "X-Ratelimit-Used": "87"}
    snap = REDDIT.snapshot(headers, now=NOW)
    assert snap is not None and snap.remaining == 12 and snap.used == 87 and snap.reset_at == NOW + 42


def test_discord_bucket_is_the_route_and_reset_after_keeps_its_decimals() -> None:
    headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.25"}
    snap = DISCORD.snapshot(headers, now=NOW, path="/channels/9/messages")
    assert snap is not None and snap.resource == "/channels/9/messages" and snap.reset_at == NOW + 1.25
    assert DISCORD.resource_for("/channels/9/messages") != DISCORD.resource_for("/channels/8/messages")


@pytest.mark.parametrize("value", ["soon", "-3", "nan", "1e400"])
def test_unusable_numbers_are_ignored(value: str) -> None:
    bad, on_bad = collect()
    snap = REDDIT.snapshot({"X-Ratelimit-Remaining": "5", "X-Ratelimit-Reset": value}, now=NOW, on_bad=on_bad)  # type: ignore[arg-type]
    assert snap is not None and snap.reset_at is None and len(bad) == 1


def test_no_quota_headers_no_snapshot() -> None:
    assert GITHUB_RATE_LIMITS.snapshot({}, now=NOW) is None
    assert SLACK.snapshot({"X-RateLimit-Remaining": "0"}, now=NOW) is None  # Slack sends none


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "7"}, NOW) == 7.0
    assert retry_after_seconds({"Retry-After": "1.5"}, NOW) == 1.5
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, NOW) == pytest.approx(90, abs=1)
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(NOW - 90, usegmt=True)}, NOW) == 0.0
    for broken in ("tomorrow", "nan", str(10**9)):
        assert retry_after_seconds({"Retry-After": broken}, NOW) is None
    assert retry_after_seconds({}, NOW) is None


def test_github_refusals() -> None:
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 600)}
    exhausted = GITHUB_RATE_LIMITS.refusal(403, spent, None, "API rate limit exceeded", now=NOW)
    assert exhausted is not None and exhausted.kind == "exhausted" and exhausted.reset_at == NOW + 600
    secondary = GITHUB_RATE_LIMITS.refusal(403, {}, None, "You have exceeded a secondary rate limit", now=NOW)
    assert secondary is not None and secondary.kind == "wait" and secondary.retry_after is None
    waited = GITHUB_RATE_LIMITS.refusal(403, {**spent, "Retry-After": "30"}, None, "", now=NOW)
    assert waited is not None and waited.kind == "wait" and waited.retry_after == 30
    assert (
        GITHUB_RATE_LIMITS.refusal(403, {}, None, "Resource not accessible by integration", now=NOW) is None
    )
    assert GITHUB_RATE_LIMITS.refusal(404, spent, None, "", now=NOW) is None


def test_body_retry_after_is_read_only_when_it_is_a_sane_number() -> None:
    assert RETRY_AFTER_ONLY.refusal(429, {}, {"retry_after": 10}, "", now=NOW).retry_after == 10  # type: ignore[union-attr]
    for junk in (True, "10", float("inf"), -1, 10**9):
        refusal = RETRY_AFTER_ONLY.refusal(429, {}, {"retry_after": junk}, "", now=NOW)
        assert refusal is not None and refusal.kind == "wait" and refusal.retry_after is None
    assert (
        RETRY_AFTER_ONLY.refusal(403, {}, {"retry_after": 10}, "", now=NOW) is None
    )  # 403 is not a limit here


def test_what_is_charged() -> None:
    assert GITHUB_RATE_LIMITS.charges("/repos/a/b", refused=False, not_modified=False)
    assert not GITHUB_RATE_LIMITS.charges("/rate_limit", refused=False, not_modified=False)
    assert not GITHUB_RATE_LIMITS.charges("/repos/a/b", refused=False, not_modified=True)
    assert not GITHUB_RATE_LIMITS.charges("/repos/a/b", refused=True, not_modified=False)
