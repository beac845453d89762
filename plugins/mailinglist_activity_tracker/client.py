"""HyperKitty over the HTTP source kit: one polite session, Retry-After honoured."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import requests.auth

from core.operations.http import RETRY_AFTER_ONLY, HttpClient, HttpClientConfig

__all__ = ["HYPERKITTY", "BasicAuth", "PoliteSession", "hyperkitty_client"]

# HyperKitty (Django REST framework throttling) refuses with 429 + ``Retry-After``; the original
# collector also honoured a body ``retry_after``: both are in this preset.
HYPERKITTY = RETRY_AFTER_ONLY


class BasicAuth(requests.auth.HTTPBasicAuth):
    """HTTP basic auth (private lists) that tells the HTTP kit its secret, so every message the
    client builds (errors, retry logs) has the password redacted even when a server echoes it."""

    label = "basic-auth"

    def secrets(self) -> list[str]:
        return [str(self.password)] if self.password else []

    def __repr__(self) -> str:
        return "<BasicAuth [REDACTED]>"


class PoliteSession(requests.Session):
    """A session that spaces requests at least ``min_interval`` seconds apart (one connection,
    keep-alive): HyperKitty publishes no limits, so the collector stays polite by itself."""

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.min_interval = min_interval
        self.clock = clock
        self.sleep = sleep
        self.waits: list[float] = []
        self._last: float | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self._last is not None:
            wait = self._last + self.min_interval - self.clock()
            if wait > 0:
                self.waits.append(wait)
                self.sleep(wait)
        try:
            return super().request(*args, **kwargs)
        finally:
            self._last = self.clock()


def hyperkitty_client(
    base_url: str,
    *,
    requests_per_second: float,
    max_rate_limit_wait: float,
    basic_auth: tuple[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    headers: Mapping[str, str] | None = None,
) -> HttpClient:
    config = HttpClientConfig(
        base_url=base_url,
        api_name="HyperKitty",
        logger="mailinglist_activity_tracker.http",
        max_rate_limit_wait=max_rate_limit_wait,
        rate_limit_default_wait=10.0,
        read_timeout=60.0,
    )
    session = PoliteSession(1.0 / requests_per_second, clock=clock, sleep=sleep)
    session.headers.update({"User-Agent": config.user_agent, "Accept": "application/json", **(headers or {})})
    tokens: list[requests.auth.AuthBase] = []
    if basic_auth is not None:
        tokens.append(BasicAuth(*basic_auth))
    return HttpClient(config, tokens=tokens, policy=HYPERKITTY, session=session, clock=clock, sleep=sleep)
