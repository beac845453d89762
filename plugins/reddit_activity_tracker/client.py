"""The Reddit API client: the kit's ``HttpClient`` with app-only OAuth, the ``REDDIT``
rate-limit preset (``X-Ratelimit-*``) and pacing below the free tier's 100 queries/minute.

Pacing (:class:`PacedSession`): requests start at least ``60 / queries_per_minute`` seconds
apart, and further apart when the headers say the window's remaining queries would not last
until its reset (``reset / remaining``). A refusal (429) or a spent window is the kit's:
waited out up to ``max_rate_limit_wait``, else ``RateLimitError(retry_at)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import requests.adapters

from core.operations.http import REDDIT, HttpClient, HttpClientConfig, HttpResponse, OAuth2ClientCredentials

__all__ = ["PacedSession", "RedditClient"]

MAX_PACE_SECONDS = 60.0  # longer waits are the rate-limit policy's (a spent window: wait or retry_at)


class PacedSession(requests.Session):
    """A session whose requests start ``interval`` seconds apart at least (more when the last
    answer's ``X-Ratelimit-Remaining`` would not last its ``X-Ratelimit-Reset``)."""

    def __init__(
        self, interval: float, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        super().__init__()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.interval = interval
        self.paced_seconds = 0.0
        self._clock = clock
        self._sleep = sleep
        self._last_start: float | None = None
        self._spread = 0.0  # reset / remaining of the last answer

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        now = self._clock()
        if self._last_start is not None:
            wait = min(self._last_start + max(self.interval, self._spread) - now, MAX_PACE_SECONDS)
            if wait > 0:
                self.paced_seconds += wait
                self._sleep(wait)
        self._last_start = self._clock()
        response = super().request(method, url, *args, **kwargs)
        self._spread = _spread(response.headers)
        return response


def _spread(headers: Mapping[str, str]) -> float:
    try:
        remaining = float(headers.get("X-Ratelimit-Remaining", ""))
        reset = float(headers.get("X-Ratelimit-Reset", ""))
    except ValueError:
        return 0.0
    if not (0 <= reset <= 3600 and remaining >= 0):
        return 0.0
    return reset / max(remaining, 1.0)


class RedditClient(HttpClient):
    def __init__(
        self,
        base_url: str,
        auth: OAuth2ClientCredentials,
        *,
        user_agent: str,
        queries_per_minute: float,
        min_remaining: int,
        max_rate_limit_wait: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        config = HttpClientConfig(
            base_url=base_url,
            api_name="Reddit API",
            logger="reddit_activity_tracker",
            user_agent=user_agent,
            min_remaining=min_remaining,
            max_rate_limit_wait=max_rate_limit_wait,
        )
        self.paced = PacedSession(60.0 / queries_per_minute, clock=clock, sleep=sleep)
        self.paced.headers.update({"User-Agent": user_agent})
        super().__init__(config, tokens=[auth], policy=REDDIT, session=self.paced, clock=clock, sleep=sleep)

    def listing(self, path: str, params: Mapping[str, Any]) -> HttpResponse:
        return self.get(path, {**params, "raw_json": 1})

    def close(self) -> None:
        self.paced.close()
