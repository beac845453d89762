"""The GitHub tracker's protocol implementations: frozen, JSON-round-trippable (XCom).

* :class:`GitHubCollectResult` - :class:`core.protocols.TrackerResult` of a collect run.
* :class:`GitHubActivity` - :class:`core.protocols.ActivityRecord` (a commit, an issue or
  pull request opened, a comment, a review).
* :class:`GitHubRepoState` - :class:`core.protocols.IncrementalState` of one repository:
  one cursor per stream (newest ``updated_at`` / committer date stored), the commit window
  still to read after an interrupted run, the repository id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, Self

from core.protocols import IncrementalState, RunResult

__all__ = ["GitHubActivity", "GitHubCollectResult", "GitHubRepoState"]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _parse(value: str | dt.datetime) -> dt.datetime:
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class GitHubCollectResult(RunResult):
    """What one collect run did: counts per stream plus request stats, per repository.

    ``disabled``: ``owner/name: stream`` for every stream GitHub reports turned off (410,
    e.g. issues disabled), skipped while the rest of the repository was collected.
    ``renamed``: ``configured -> current`` for repositories GitHub now knows by another name.
    """

    step: str | None = "collect"
    repositories: Sequence[str] = ()
    disabled: Sequence[str] = ()
    renamed: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class GitHubActivity:
    """One unit of GitHub activity in source-neutral terms."""

    external_id: str  # "owner/name@sha", "owner/name#12", "owner/name#12/comment/345"...
    occurred_at: dt.datetime
    activity_type: (
        str  # commit | issue_opened | pull_request_opened | issue_comment | review | review_comment
    )
    actor_external_id: str | None
    source_url: str | None
    summary: str
    repo: str = ""
    source_system: str = "github"

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", _parse(self.occurred_at))

    def asdict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["occurred_at"] = _iso(self.occurred_at)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_issue_row(cls, row: Mapping[str, Any]) -> Self:
        kind = "pull_request" if row["is_pull_request"] else "issue"
        return cls(
            external_id=f"{row['repo_full_name']}#{row['number']}",
            occurred_at=row["created_at"],
            activity_type=f"{kind}_opened",
            actor_external_id=row.get("user_login"),
            source_url=row.get("html_url"),
            summary=str(row.get("title") or "")[:200],
            repo=row["repo_full_name"],
        )

    @classmethod
    def from_commit_row(cls, row: Mapping[str, Any], repo: str) -> Self:
        message = str(row.get("message") or "")
        return cls(
            external_id=f"{repo}@{row['sha']}",
            occurred_at=row["committed_at"],
            activity_type="commit",
            actor_external_id=row.get("author_login") or row.get("author_email"),
            source_url=row.get("html_url"),
            summary=message.splitlines()[0][:200] if message else "",
            repo=repo,
        )

    @classmethod
    def from_comment_row(cls, row: Mapping[str, Any], repo: str, *, kind: str) -> Self:
        number = row.get("issue_number", row.get("pull_number"))
        ident = row.get("comment_id", row.get("review_id"))
        when = row.get("created_at") or row.get("submitted_at")
        if when is None:
            raise ValueError(f"{kind} {ident} has no timestamp")
        return cls(
            external_id=f"{repo}#{number}/{kind}/{ident}",
            occurred_at=when,
            activity_type=kind,
            actor_external_id=row.get("user_login"),
            source_url=row.get("html_url"),
            summary=" ".join(str(row.get("body") or "").split())[:200],
            repo=repo,
        )


@dataclasses.dataclass(frozen=True)
class GitHubRepoState:
    """Checkpoint of one repository (collector ``github``, partition ``owner/name``).

    ``cursors``: stream -> newest cursor value stored (ISO-8601). ``pending``: stream ->
    ``{since, until, top}`` of a newest-first window not read to the end yet.
    Cursors only move forward (:meth:`with_cursor` keeps the newer of old and new).
    """

    repo: str
    cursors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pending: Mapping[str, Mapping[str, str | None]] = dataclasses.field(default_factory=dict)
    repo_id: int | None = None
    read: Sequence[str] = ()  # streams read to the end at least once (their ETags may be trusted)

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", tuple(sorted(set(self.read))))
        object.__setattr__(self, "cursors", dict(self.cursors))
        object.__setattr__(self, "pending", {k: dict(v) for k, v in self.pending.items()})

    # -- IncrementalState
    @property
    def checkpoint_token(self) -> str | None:
        if not self.cursors:
            return None
        return json.dumps(dict(sorted(self.cursors.items())), separators=(",", ":"))

    @property
    def human_readable_marker(self) -> str | None:
        if not self.cursors and not self.pending:
            return None
        parts = [f"{name} up to {value}" for name, value in sorted(self.cursors.items())]
        parts += [f"{name} resuming below {w.get('until')}" for name, w in sorted(self.pending.items())]
        return f"{self.repo}: " + "; ".join(parts)

    @property
    def extras(self) -> Mapping[str, Any]:
        return {
            "repo": self.repo,
            "repo_id": self.repo_id,
            "cursors": dict(self.cursors),
            "pending": {k: dict(v) for k, v in self.pending.items()},
            "read": list(self.read),
        }

    # -- round trips
    def asdict(self) -> dict[str, Any]:
        return dict(self.extras)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            repo=str(data["repo"]),
            cursors=dict(data.get("cursors") or {}),
            pending=dict(data.get("pending") or {}),
            repo_id=data.get("repo_id"),
            read=tuple(data.get("read") or ()),
        )

    @classmethod
    def from_state(cls, repo: str, state: IncrementalState | None) -> Self:
        if state is None or not state.extras:
            return cls(repo=repo)
        return cls.from_dict({**state.extras, "repo": repo})

    # -- cursors
    def cursor(self, stream: str) -> dt.datetime | None:
        value = self.cursors.get(stream)
        return _parse(value) if value else None

    def with_cursor(self, stream: str, value: dt.datetime | None) -> GitHubRepoState:
        """The newer of the stored cursor and ``value`` (a cursor never moves back)."""
        if value is None:
            return self
        current = self.cursor(stream)
        if current is not None and current >= value:
            return self
        return dataclasses.replace(self, cursors={**self.cursors, stream: _iso(value)})

    def with_read(self, stream: str) -> GitHubRepoState:
        """``stream`` was read to the end: a 304 to its newest-page request now means "unchanged"."""
        if stream in self.read:
            return self
        return dataclasses.replace(self, read=(*self.read, stream))

    def was_read(self, stream: str) -> bool:
        return stream in self.read

    def with_pending(
        self, stream: str, *, since: dt.datetime | None, until: dt.datetime, top: dt.datetime
    ) -> GitHubRepoState:
        window = {"since": _iso(since) if since else None, "until": _iso(until), "top": _iso(top)}
        return dataclasses.replace(self, pending={**self.pending, stream: window})

    def without_pending(self, stream: str) -> GitHubRepoState:
        return dataclasses.replace(self, pending={k: v for k, v in self.pending.items() if k != stream})

    def pending_window(self, stream: str) -> tuple[dt.datetime | None, dt.datetime, dt.datetime] | None:
        window = self.pending.get(stream)
        if not window or not window.get("until") or not window.get("top"):
            return None
        since = window.get("since")
        return (_parse(since) if since else None, _parse(str(window["until"])), _parse(str(window["top"])))

    def with_repo_id(self, repo_id: int) -> GitHubRepoState:
        return self if self.repo_id == repo_id else dataclasses.replace(self, repo_id=repo_id)
