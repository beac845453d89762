"""The YouTube Data API v3 on the framework's HTTP kit: the key as ``?key=``, Google's error
bodies turned into the project's categories, and the quota units each call spends.

Google reports every refusal as ``{"error": {"code", "message", "errors": [{"reason",
"domain"}], "details": [{"reason"}]}}``. What the tracker does with the reasons:

* ``quotaExceeded`` / ``dailyLimitExceeded`` (403): :class:`RateLimitError` with ``retry_at``
  at the next midnight Pacific time, when the daily quota resets;
* ``rateLimitExceeded`` / ``userRateLimitExceeded`` (403): :class:`RateLimitError`, a minute;
* ``keyInvalid`` / ``keyExpired`` / ``API_KEY_INVALID`` (400): :class:`AuthenticationError`;
* anything else keeps the kit's category (403 permission, 404 not found, 400 validation).
"""

from __future__ import annotations

import collections
import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import requests

from core.errors import AuthenticationError, CollectorError, RateLimitError
from core.operations.http import HttpClient, HttpClientConfig, HttpResponse, QueryAuth

__all__ = [
    "PACIFIC",
    "QUOTA_COST",
    "YouTubeApi",
    "error_reasons",
    "next_pacific_midnight",
    "pacific_day",
]

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
# Units per call (developers.google.com/youtube/v3/determine_quota_cost); search.list is also
# limited to about 100 calls a day.
QUOTA_COST: Mapping[str, int] = {
    "/channels": 1,
    "/playlistItems": 1,
    "/playlists": 1,
    "/videos": 1,
    "/search": 100,
}
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
SHORT_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"})


def next_pacific_midnight(now: dt.datetime) -> dt.datetime:
    """When the daily quota resets after ``now``: the next midnight in America/Los_Angeles, in UTC."""
    local = now.astimezone(PACIFIC)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=PACIFIC)
    return midnight.astimezone(dt.UTC)


def pacific_day(now: dt.datetime) -> str:
    """The quota day ``now`` belongs to (``YYYY-MM-DD`` in Pacific time)."""
    return now.astimezone(PACIFIC).date().isoformat()


def error_reasons(body: bytes) -> frozenset[str]:
    """The ``reason`` values of a Google error body (``errors[]`` and ``details[]``); empty if none."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return frozenset()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return frozenset()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        entries = error.get(key)
        if isinstance(entries, list):
            reasons.update(str(e["reason"]) for e in entries if isinstance(e, dict) and e.get("reason"))
    return frozenset(reasons)


class _YouTubeHttp(HttpClient):
    """The kit's client, remembering the error reasons of the last refused answer."""

    def __init__(self, config: HttpClientConfig, **kwargs: Any) -> None:
        self.last_reasons: frozenset[str] = frozenset()
        super().__init__(config, **kwargs)

    def _new_session(self) -> requests.Session:
        session = super()._new_session()
        session.hooks["response"].append(self._note_reasons)
        return session

    def _note_reasons(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_reasons = error_reasons(response.content) if response.status_code >= 400 else frozenset()


class YouTubeApi:
    """The list calls the tracker makes, with their quota units counted in ``units``."""

    def __init__(
        self,
        base_url: str,
        api_keys: Sequence[str],
        *,
        max_rate_limit_wait: float = 300,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        config = HttpClientConfig(
            base_url=base_url,
            api_name="YouTube Data API",
            logger="youtube_activity_tracker",
            max_rate_limit_wait=max_rate_limit_wait,
        )
        self.http = _YouTubeHttp(
            config, tokens=list(api_keys), credential=QueryAuth, clock=clock, sleep=sleep
        )
        self.clock = clock
        self.units: collections.Counter[str] = collections.Counter()

    def __enter__(self) -> YouTubeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def counts(self) -> dict[str, int]:
        """Quota units per endpoint (``quota_units_search``...), their total, and the HTTP stats."""
        counts = {f"quota_units_{path.strip('/').lower()}": n for path, n in self.units.items()}
        counts["quota_units"] = sum(self.units.values())
        return {**counts, **self.http.stats.counts("http_")}

    def get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response: HttpResponse = self.http.get(path, params)
        except CollectorError as exc:
            raise self._translate(exc, path) from exc
        self.units[path] += QUOTA_COST.get(path, 1)
        data = response.data
        return data if isinstance(data, dict) else {}

    def _translate(self, exc: CollectorError, path: str) -> CollectorError:
        reasons = self.http.last_reasons
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        if reasons & QUOTA_REASONS:
            reset = next_pacific_midnight(now)
            return RateLimitError(
                f"YouTube Data API quota exhausted ({', '.join(sorted(reasons))}) on GET {path}; "
                f"it resets at midnight Pacific time ({reset:%Y-%m-%d %H:%M} UTC)",
                retry_at=reset,
            )
        if reasons & SHORT_LIMIT_REASONS:
            return RateLimitError(
                f"YouTube Data API rate limit ({', '.join(sorted(reasons))}) on GET {path}",
                retry_at=now + dt.timedelta(minutes=1),
            )
        if reasons & KEY_REASONS:
            return AuthenticationError(f"YouTube Data API refused the API key ({', '.join(sorted(reasons))})")
        return exc

    # ------------------------------------------------------------------ the calls

    def channels(self, channel_ids: Sequence[str]) -> list[Any]:
        data = self.get("/channels", {"part": "snippet,contentDetails,statistics", "id": ",".join(channel_ids),
                                      "maxResults": 50})  # fmt: skip
        return list(data.get("items") or [])

    def playlist_page(self, playlist_id: str, page_token: str | None, page_size: int) -> dict[str, Any]:
        params = {"part": "snippet,contentDetails,status", "playlistId": playlist_id, "maxResults": page_size}
        return self.get("/playlistItems", {**params, **({"pageToken": page_token} if page_token else {})})

    def videos(self, video_ids: Sequence[str]) -> list[Any]:
        """Details of up to 50 ids; ids the API leaves out are deleted or private."""
        parts = "snippet,contentDetails,statistics,status"
        data = self.get("/videos", {"part": parts, "id": ",".join(video_ids), "maxResults": 50})
        return list(data.get("items") or [])

    def search_page(
        self, query: str, after: dt.datetime, before: dt.datetime, page_token: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "part": "id", "q": query, "type": "video", "order": "date", "maxResults": 50,
            "publishedAfter": _rfc3339(after), "publishedBefore": _rfc3339(before),
        }  # fmt: skip
        if page_token:
            params["pageToken"] = page_token
        return self.get("/search", params)


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
