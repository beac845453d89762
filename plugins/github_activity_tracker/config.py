"""The GitHub collector's config (its collectors.yaml ``config:`` block) and its connection.

Repositories come from three places, merged in this order and de-duplicated
(case-insensitively): explicit ``repositories`` (``owner/name``), every repository of the
``orgs``, and the GitHub submodules listed in the ``.gitmodules`` of each ``superprojects``
entry (how Boost lists its libraries). ``exclude`` removes any of them.

The ``github_default`` connection carries the API base URL in ``host`` (empty means
``https://api.github.com``; GitHub Enterprise Server is ``https://HOST/api/v3``) and the
token(s) in ``password`` (one, or several separated by commas or newlines); its ``extra``
may also hold ``tokens: [...]``.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.config import resolve_path
from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError
from core.operations.github_ops import DEFAULT_API_URL
from core.store import local_state_dir
from core.vectors.settings import parse_vector_settings
from github_activity_tracker.filters import GitHubFilters

__all__ = [
    "ALL_STREAMS",
    "GitHubConfig",
    "GitHubConnection",
    "StreamName",
    "html_host",
    "normalize_repo",
    "parse_config",
    "parse_gitmodules",
    "resolve_connection",
]

StreamName = Literal[
    "commits", "commit_files", "issues", "pull_requests", "issue_comments", "review_comments"
]
ALL_STREAMS: tuple[StreamName, ...] = (
    "commits",
    "commit_files",
    "issues",
    "pull_requests",
    "issue_comments",
    "review_comments",
)

_NAME_PART = r"[A-Za-z0-9_.-]+"
_REPO = re.compile(rf"^({_NAME_PART})/({_NAME_PART})$")
_OWNER = re.compile(rf"^{_NAME_PART}$")


def normalize_repo(value: str) -> str:
    """``owner/name`` (also accepts a ``https://github.com/owner/name(.git)`` URL)."""
    text = value.strip()
    if "://" in text:
        path = urlsplit(text).path
        text = path.strip("/")
    text = text.removesuffix(".git")
    match = _REPO.match(text)
    if not match or match.group(2) in {".", ".."}:
        raise ValueError(f"expected 'owner/name', got {value!r}")
    return f"{match.group(1)}/{match.group(2)}"


RepoName = Annotated[str, AfterValidator(normalize_repo)]


class GitHubConfig(BaseModel):
    """What to collect and how patiently. Durations are in seconds unless named ``_minutes``."""

    model_config = ConfigDict(extra="forbid")

    repositories: list[RepoName] = Field(default_factory=list, description="explicit 'owner/name' entries")
    orgs: list[str] = Field(default_factory=list, description="every repository of these organizations")
    superprojects: list[RepoName] = Field(
        default_factory=list, description="'owner/name' whose .gitmodules lists the repositories"
    )
    exclude: list[RepoName] = Field(default_factory=list, description="'owner/name' entries to leave out")
    include_forks: bool = False
    include_archived: bool = True
    discovery_ttl_minutes: float = Field(default=360, ge=0)

    streams: list[StreamName] = Field(default_factory=lambda: list(ALL_STREAMS))
    overlap_minutes: float = Field(default=10, ge=0)
    per_page: int = Field(default=100, ge=1, le=100)
    max_rate_limit_wait: float = Field(default=900, ge=0)
    min_remaining: int = Field(default=50, ge=0)
    request_timeout: float = Field(default=60, gt=0)
    transient_max_retries: int = Field(default=4, ge=0)
    max_commit_details_per_run: int | None = Field(default=None, gt=0)
    pull_details_via: Literal["rest", "graphql"] = Field(
        default="rest", description="graphql: details and reviews of many pull requests per request"
    )
    graphql_batch: int = Field(default=20, ge=1, le=50, description="pull requests per GraphQL query")
    store_patches: bool = False

    commit_files_strategy: Literal["auto", "api", "git"] = "auto"
    git_threshold_pages: int = Field(
        default=3, ge=1, description="auto: use git when more file pages than this are still to read"
    )
    clone_cache_dir: str | None = None
    git_timeout: float = Field(default=900, gt=0)

    markdown_export_dir: str | None = None
    filters: GitHubFilters = Field(default_factory=GitHubFilters)

    connection_id: str = "github_default"
    api_url: str | None = Field(default=None, description="overrides the connection's host")
    web_host: str | None = Field(
        default=None, description="host of clone URLs (default: github.com, or the Enterprise host)"
    )

    vectors: dict[str, Any] = Field(default_factory=dict)

    @field_validator("orgs")
    @classmethod
    def _orgs(cls, value: list[str]) -> list[str]:
        for org in value:
            if not _OWNER.match(org.strip()):
                raise ValueError(f"expected an organization login, got {org!r}")
        return [org.strip() for org in value]

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: list[StreamName]) -> list[StreamName]:
        return list(dict.fromkeys(value))

    @field_validator("vectors")
    @classmethod
    def _vectors(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_vector_settings(value)
        return value

    @model_validator(mode="after")
    def _something_to_collect(self) -> GitHubConfig:
        if not (self.repositories or self.orgs or self.superprojects):
            raise ValueError("list at least one of repositories, orgs, superprojects")
        if "commit_files" in self.streams and "commits" not in self.streams:
            raise ValueError("stream commit_files needs stream commits")
        return self

    # ------------------------------------------------------------------ derived

    def enabled(self, stream: StreamName) -> bool:
        return stream in self.streams

    @property
    def clone_cache_path(self) -> Path:
        if self.clone_cache_dir:
            return resolve_path(self.clone_cache_dir)
        return local_state_dir() / "github_git"

    @property
    def markdown_export_path(self) -> Path | None:
        return resolve_path(self.markdown_export_dir) if self.markdown_export_dir else None

    def excluded(self, repo: str) -> bool:
        return repo.lower() in {e.lower() for e in self.exclude}


def parse_config(raw: Mapping[str, Any]) -> GitHubConfig:
    try:
        return GitHubConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in error['loc']) or '(section)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"github collector: {problems}") from None


# --------------------------------------------------------------------------- the connection


class GitHubConnection(BaseModel):
    """The resolved ``github_default`` connection. ``tokens`` never appear in reprs."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    tokens: tuple[str, ...] = Field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"GitHubConnection(base_url={self.base_url!r}, tokens=<{len(self.tokens)} redacted>)"

    __str__ = __repr__


_TOKEN_SPLIT = re.compile(r"[\s,]+")


def _split_tokens(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [t for t in _TOKEN_SPLIT.split(value) if t]
    if isinstance(value, Iterable):
        found: list[str] = []
        for item in value:
            found.extend(_split_tokens(item))
        return found
    raise ConfigError("github connection: tokens must be a string or a list of strings")


def _base_url(fields: Mapping[str, Any]) -> str:
    host = str(fields.get("host") or "").strip()
    if not host:
        return DEFAULT_API_URL
    if "://" in host:
        url = host
    else:
        extra = fields.get("extra") or {}
        scheme = str(extra.get("scheme") or "https") if isinstance(extra, Mapping) else "https"
        port = fields.get("port")
        schema = str(fields.get("schema") or "").strip("/")
        url = f"{scheme}://{host}" + (f":{port}" if port else "") + (f"/{schema}" if schema else "")
    return url.rstrip("/")


def resolve_connection(
    connection: Mapping[str, Any] | None, *, conn_id: str, api_url: str | None = None
) -> GitHubConnection:
    """Base URL and tokens from the connection fields (or ``AIRFLOW_CONN_<ID>``, or ``GITHUB_TOKEN``)."""
    fields: Mapping[str, Any] = connection or connection_from_env(conn_id) or {}
    extra = connection_extra(fields, conn_id)
    tokens = _split_tokens(fields.get("password")) + _split_tokens(extra.get("tokens"))
    if not fields and not tokens:
        tokens = _split_tokens(os.environ.get("GITHUB_TOKEN"))
    base = (api_url or _base_url({**fields, "extra": extra})).rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"connection {conn_id}: host must be the API base URL, got {base!r}")
    if parts.username or parts.password:
        raise ConfigError(f"connection {conn_id}: put tokens in the password field, not in the host URL")
    return GitHubConnection(base_url=base, tokens=tuple(dict.fromkeys(tokens)))


def html_host(api_base_url: str) -> str:
    """The web host whose clone URLs belong to this API (``github.com`` for ``api.github.com``)."""
    host = (urlsplit(api_base_url).hostname or "").lower()
    if host == "api.github.com":
        return "github.com"
    return host.removeprefix("api.")


# --------------------------------------------------------------------------- .gitmodules

_SCP_URL = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")


def parse_gitmodules(text: str, *, superproject: str, host: str = "github.com") -> list[str]:
    """``owner/name`` of every submodule whose URL points at ``host`` (relative URLs resolve
    against the superproject, as ``../config.git`` does in boostorg/boost)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ConfigError(f"{superproject}/.gitmodules: cannot parse ({type(exc).__name__})") from None
    owner = superproject.split("/", 1)[0]
    found: list[str] = []
    for section in parser.sections():
        if not section.startswith("submodule"):
            continue
        url = parser.get(section, "url", fallback="").strip()
        repo = _submodule_repo(url, owner=owner, superproject=superproject, host=host)
        if repo and repo.lower() not in {f.lower() for f in found}:
            found.append(repo)
    return found


def _submodule_repo(url: str, *, owner: str, superproject: str, host: str) -> str | None:
    if not url:
        return None
    if url.startswith(("./", "../")):
        base = ["", *superproject.split("/")]
        for part in url.split("/"):
            if part == "..":
                base.pop()
            elif part not in {"", "."}:
                base.append(part)
        path = "/".join(p for p in base if p)
    elif "://" in url:
        parts = urlsplit(url)
        if (parts.hostname or "").lower() != host:
            return None
        path = parts.path
    else:
        match = _SCP_URL.match(url)
        if not match or match.group(1).lower() != host:
            return None
        path = match.group(2)
    try:
        return normalize_repo(path.strip("/"))
    except ValueError:
        return None
