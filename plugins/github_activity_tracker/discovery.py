"""Which repositories to collect: explicit entries, organizations, superprojects' ``.gitmodules``.

Cheap and cached: the resolved list of each organization and superproject is kept in the
store (``collector_checkpoints``, collector ``github:discovery``) for ``discovery_ttl_minutes``;
after that it is refreshed with conditional requests (a 304 costs no quota) when the
source fits on one page, and re-listed otherwise.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from core.errors import DataValidationError
from core.operations.github_ops import GitHubClient, GitHubResponse, NotModified, Pages
from core.protocols import Checkpoint
from core.store import Store, load_checkpoint, save_checkpoint
from github_activity_tracker.api_schemas import ContentFile, Repository, parse_list, parse_object
from github_activity_tracker.config import GitHubConfig, html_host, parse_gitmodules
from github_activity_tracker.http_validators import remember_in, tracked

__all__ = ["DISCOVERY_KEY", "RepositoryDiscovery"]

log = logging.getLogger(__name__)

DISCOVERY_KEY = "github:discovery"
_SCOPE = "github:discovery"


@dataclasses.dataclass
class _Source:
    repos: list[str]
    fetched_at: float
    single_page: bool

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RepositoryDiscovery:
    def __init__(
        self, client: GitHubClient, store: Store, settings: GitHubConfig, *, clock: Callable[[], float]
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.clock = clock
        self.requests_saved = 0

    def resolve(self) -> list[str]:
        cached = self._load()
        fresh: dict[str, _Source] = {}
        remember: list[GitHubResponse] = []
        for org in self.settings.orgs:
            key = f"org:{org.lower()}"
            fresh[key] = self._org(org, cached.get(key), remember)
        for superproject in self.settings.superprojects:
            key = f"superproject:{superproject.lower()}"
            fresh[key] = self._superproject(superproject, cached.get(key), remember)
        if fresh != cached or remember:
            with self.store.transaction() as conn:
                extras = {"sources": {k: v.asdict() for k, v in fresh.items()}}
                save_checkpoint(conn, DISCOVERY_KEY, Checkpoint(None, f"{len(fresh)} sources", extras))
                for response in remember:
                    remember_in(conn, response)

        repos: list[str] = []
        seen: set[str] = set()
        candidates = list(self.settings.repositories)
        for key in fresh:
            candidates += fresh[key].repos
        for repo in candidates:
            lowered = repo.lower()
            if lowered in seen or self.settings.excluded(repo):
                continue
            seen.add(lowered)
            repos.append(repo)
        return repos

    # ------------------------------------------------------------------ cache

    def _load(self) -> dict[str, _Source]:
        with self.store.engine.connect() as conn:
            state = load_checkpoint(conn, DISCOVERY_KEY)
        sources = dict((state.extras if state else {}).get("sources") or {})
        loaded: dict[str, _Source] = {}
        for key, value in sources.items():
            try:
                loaded[key] = _Source(
                    repos=[str(r) for r in value["repos"]],
                    fetched_at=float(value["fetched_at"]),
                    single_page=bool(value["single_page"]),
                )
            except (KeyError, TypeError, ValueError):
                continue
        return loaded

    def _fresh(self, source: _Source | None) -> bool:
        if source is None:
            return False
        return self.clock() - source.fetched_at < self.settings.discovery_ttl_minutes * 60

    # ------------------------------------------------------------------ organizations

    def _org(self, org: str, cached: _Source | None, remember: list[GitHubResponse]) -> _Source:
        if cached is not None and self._fresh(cached):
            return cached
        path = f"/orgs/{org}/repos"
        params = {"type": "all", "sort": "full_name", "direction": "asc", "per_page": self.settings.per_page}
        result = self.client.pages_if_changed(path, params, scope=_SCOPE)
        if isinstance(result, NotModified):
            if cached is not None and cached.single_page:
                return dataclasses.replace(cached, fetched_at=self.clock())
            # Validators without a list they describe: read it again.
            first = tracked(self.client.get(path, params), scope=_SCOPE, path=path, params=params)
            result = Pages(self.client, first)
        repos: list[str] = []
        pages = 0
        for page in result:
            pages += 1
            for repo in parse_list(Repository, page.data, endpoint=page.endpoint):
                if repo.fork and not self.settings.include_forks:
                    continue
                if repo.archived and not self.settings.include_archived:
                    continue
                repos.append(repo.full_name)
        if pages == 1:
            remember.append(result.first)
        log.info("Organization %s: %d repositories (%d page(s))", org, len(repos), pages)
        return _Source(repos=repos, fetched_at=self.clock(), single_page=pages == 1)

    # ------------------------------------------------------------------ superprojects

    def _superproject(
        self, superproject: str, cached: _Source | None, remember: list[GitHubResponse]
    ) -> _Source:
        if cached is not None and self._fresh(cached):
            return cached
        path = f"/repos/{superproject}/contents/.gitmodules"
        response = self.client.get_if_changed(path, scope=_SCOPE)
        if isinstance(response, NotModified):
            if cached is not None:
                return dataclasses.replace(cached, fetched_at=self.clock())
            response = tracked(self.client.get(path), scope=_SCOPE, path=path, params=None)
        content = parse_object(ContentFile, response.data, endpoint=response.endpoint)
        if content.type != "file" or content.encoding != "base64" or content.content is None:
            raise DataValidationError(
                "expected a base64-encoded file", source=response.endpoint, location="encoding"
            )
        try:
            text = base64.b64decode(content.content, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise DataValidationError(
                ".gitmodules is not base64-encoded UTF-8 text", source=response.endpoint, location="content"
            ) from None
        repos = parse_gitmodules(
            text,
            superproject=superproject,
            host=self.settings.web_host or html_host(self.client.config.base_url),
        )
        remember.append(response)
        log.info("Superproject %s: %d GitHub submodules", superproject, len(repos))
        return _Source(repos=repos, fetched_at=self.clock(), single_page=True)
