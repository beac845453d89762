"""GitHub REST v3 client: the HTTP source kit with GitHub's headers, token pool and limits.

Read-only by design (every request is a GET, so every retry is safe). Not thread-safe:
use one client per thread or task.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from core.errors import DataValidationError
from core.operations.github.config import GitHubClientConfig
from core.operations.github.errors import GITHUB_ERRORS
from core.operations.github.ratelimit import GITHUB_RATE_LIMITS
from core.operations.http import EtagCache, HttpClient, HttpResponse, RequestStats

__all__ = ["GitHubClient", "GitHubResponse"]

GitHubResponse = HttpResponse
"""A decoded 2xx answer of the GitHub API (the kit's :class:`HttpResponse`)."""


class GitHubClient(HttpClient):
    """GETs against the GitHub REST API (github.com or an Enterprise Server ``/api/v3``).

    ``clock``/``sleep``/``rng`` are injectable so waits are testable without sleeping.
    """

    errors = GITHUB_ERRORS

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
        super().__init__(
            config.http,
            tokens=config.tokens,
            policy=GITHUB_RATE_LIMITS,
            etag_cache=etag_cache,
            session=session,
            stats=RequestStats(prefix="github_"),
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    def __enter__(self) -> GitHubClient:
        return self

    def iter_items(self, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Items of a list endpoint across pages; adds ``per_page`` from the config if absent."""
        merged = dict(params or {})
        merged.setdefault("per_page", self.config.per_page)
        return super().iter_items(path, merged, **kwargs)

    def rate_limit(self) -> dict[str, Any]:
        """``GET /rate_limit`` (free of charge); also refreshes the pool's view of the current token."""
        data = self.get("/rate_limit").data
        if not isinstance(data, dict):
            raise DataValidationError("expected a JSON object", source="/rate_limit")
        return data
