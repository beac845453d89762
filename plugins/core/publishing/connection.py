"""The publishing connection (``github_publish`` by default): a token that may write to the
target repository and nothing else. Only this connection is read: never the scraping
connections, never ``$GITHUB_TOKEN``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from core.connections import connection_extra
from core.errors import ConfigError
from core.operations.github import DEFAULT_API_URL, GitHubClient, GitHubClientConfig
from core.operations.github.gitdata import GitDataWriter
from core.publishing.settings import PublishSettings

__all__ = ["publish_client", "publish_token", "publish_writer"]


def publish_token(fields: Mapping[str, Any] | None, conn_id: str) -> tuple[str, str]:
    """(base_url, token) of the publishing connection; ``ConfigError`` naming it when unusable."""
    if not fields:
        raise ConfigError(
            f"publish: connection {conn_id!r} is not defined (a token with contents:write on the "
            "target repository, in the password field)"
        )
    token = str(fields.get("password") or "").strip()
    if not token:
        raise ConfigError(f"publish: connection {conn_id!r} has no token in its password field")
    extra = connection_extra(fields, conn_id)
    host = str(fields.get("host") or "").strip()
    base = str(extra.get("base_url") or "").strip() or (
        host if host.startswith(("http://", "https://")) else ""
    )
    return base or DEFAULT_API_URL, token


def publish_client(
    settings: PublishSettings,
    fields: Mapping[str, Any] | None,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> GitHubClient:
    base_url, token = publish_token(fields, settings.connection_id)
    config = GitHubClientConfig(
        base_url=base_url,
        tokens=(token,),
        user_agent="community-collectors-publish/0.1",
        min_remaining=0,
        max_rate_limit_wait=settings.max_rate_limit_wait,
    )
    return GitHubClient(config, session=session, clock=clock, sleep=sleep, rng=rng)


def publish_writer(settings: PublishSettings, client: GitHubClient) -> GitDataWriter:
    """The writer to ``settings.target``'s branch, with the settings' attempts, request size and pace."""
    return GitDataWriter(
        client,
        settings.target,
        settings.branch,
        max_attempts=settings.max_attempts,
        max_tree_request_bytes=settings.max_tree_request_bytes,
        write_interval=settings.write_interval_seconds,
    )
