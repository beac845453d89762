"""Pydantic models of the GitHub REST payloads the tracker stores.

Models ignore keys they do not know (GitHub adds fields all the time); the fields we store
are checked: ids are integers, timestamps ISO-8601 with an offset, text is text. A payload
that breaks its model raises :class:`core.errors.DataValidationError` naming the endpoint
and the JSON path of the first bad field (``[3].user.login``), before anything from that
page is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from core.errors import DataValidationError

__all__ = [
    "Commit",
    "CommitFile",
    "ContentFile",
    "Issue",
    "IssueComment",
    "Label",
    "Milestone",
    "PullRequest",
    "Repository",
    "Review",
    "ReviewComment",
    "SimpleUser",
    "parse_list",
    "parse_object",
    "parse_pull_list",
]

_M = TypeVar("_M", bound=BaseModel)


def _iso(value: object) -> object:
    # GitHub writes ISO-8601 text; pydantic would also take numbers as unix times.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("expected an ISO-8601 timestamp string, got a number")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso)]
Sha = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SimpleUser(_Model):
    login: StrictStr = Field(min_length=1)
    id: StrictInt
    node_id: StrictStr | None = None
    type: StrictStr = "User"
    site_admin: StrictBool = False
    html_url: StrictStr | None = None


class Label(_Model):
    id: StrictInt | None = None
    name: StrictStr
    color: StrictStr | None = None
    description: StrictStr | None = None


class Milestone(_Model):
    number: StrictInt
    title: StrictStr
    state: StrictStr = "open"
    due_on: Timestamp | None = None


class Repository(_Model):
    id: StrictInt
    node_id: StrictStr | None = None
    name: StrictStr
    full_name: StrictStr = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    owner: SimpleUser
    private: StrictBool = False
    fork: StrictBool = False
    archived: StrictBool = False
    description: StrictStr | None = None
    default_branch: StrictStr | None = None
    language: StrictStr | None = None
    topics: list[StrictStr] = Field(default_factory=list)
    homepage: StrictStr | None = None
    html_url: StrictStr
    clone_url: StrictStr | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    pushed_at: Timestamp | None = None


class IssuePullRequestRef(_Model):
    url: StrictStr | None = None
    merged_at: Timestamp | None = None


class Issue(_Model):
    """An issue, or a pull request as the issues endpoints show it (``pull_request`` set)."""

    id: StrictInt
    node_id: StrictStr | None = None
    number: StrictInt = Field(gt=0)
    title: StrictStr
    body: StrictStr | None = None
    user: SimpleUser | None = None
    labels: list[Label] = Field(default_factory=list)
    state: StrictStr = Field(pattern=r"^(open|closed)$")
    state_reason: StrictStr | None = None
    locked: StrictBool = False
    assignees: list[SimpleUser] | None = None
    milestone: Milestone | None = None
    comments: StrictInt = 0
    author_association: StrictStr | None = None
    html_url: StrictStr
    created_at: Timestamp
    updated_at: Timestamp
    closed_at: Timestamp | None = None
    closed_by: SimpleUser | None = None
    draft: StrictBool | None = None
    pull_request: IssuePullRequestRef | None = None

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None


class PullRef(_Model):
    ref: StrictStr
    sha: Sha
    label: StrictStr | None = None
    repo: dict[str, Any] | None = None  # null when the head fork was deleted

    @property
    def repo_full_name(self) -> str | None:
        name = (self.repo or {}).get("full_name")
        return name if isinstance(name, str) else None


class PullRequest(_Model):
    """``GET /repos/{o}/{r}/pulls/{number}``."""

    id: StrictInt
    number: StrictInt = Field(gt=0)
    state: StrictStr = Field(pattern=r"^(open|closed)$")
    title: StrictStr
    updated_at: Timestamp
    draft: StrictBool | None = None
    merged_at: Timestamp | None = None
    merge_commit_sha: Sha | None = None
    merged_by: SimpleUser | None = None
    head: PullRef
    base: PullRef
    additions: StrictInt | None = None
    deletions: StrictInt | None = None
    changed_files: StrictInt | None = None
    commits: StrictInt | None = None
    requested_reviewers: list[SimpleUser] = Field(default_factory=list)


class IssueComment(_Model):
    id: StrictInt
    node_id: StrictStr | None = None
    body: StrictStr | None = None
    user: SimpleUser | None = None
    author_association: StrictStr | None = None
    html_url: StrictStr | None = None
    issue_url: StrictStr = Field(pattern=r"/issues/[0-9]+$")
    created_at: Timestamp
    updated_at: Timestamp

    @property
    def issue_number(self) -> int:
        return int(self.issue_url.rsplit("/", 1)[-1])


class ReviewComment(_Model):
    id: StrictInt
    node_id: StrictStr | None = None
    pull_request_review_id: StrictInt | None = None
    in_reply_to_id: StrictInt | None = None
    body: StrictStr | None = None
    path: StrictStr | None = None
    diff_hunk: StrictStr | None = None
    commit_id: Sha | None = None
    original_commit_id: Sha | None = None
    line: StrictInt | None = None
    original_line: StrictInt | None = None
    side: StrictStr | None = None
    user: SimpleUser | None = None
    author_association: StrictStr | None = None
    html_url: StrictStr | None = None
    pull_request_url: StrictStr = Field(pattern=r"/pulls/[0-9]+$")
    created_at: Timestamp
    updated_at: Timestamp

    @property
    def pull_number(self) -> int:
        return int(self.pull_request_url.rsplit("/", 1)[-1])


class Review(_Model):
    id: StrictInt
    node_id: StrictStr | None = None
    user: SimpleUser | None = None
    body: StrictStr | None = None
    state: StrictStr
    html_url: StrictStr | None = None
    author_association: StrictStr | None = None
    submitted_at: Timestamp | None = None
    commit_id: Sha | None = None


class GitActor(_Model):
    name: StrictStr | None = None
    email: StrictStr | None = None
    date: Timestamp | None = None


class CommitDetail(_Model):
    author: GitActor | None = None
    committer: GitActor | None = None
    message: StrictStr


class ParentRef(_Model):
    sha: Sha


class CommitStats(_Model):
    total: StrictInt = 0
    additions: StrictInt = 0
    deletions: StrictInt = 0


class CommitFile(_Model):
    sha: StrictStr | None = None  # null for some submodule and empty-blob changes
    filename: StrictStr = Field(min_length=1)
    status: StrictStr
    additions: StrictInt = 0
    deletions: StrictInt = 0
    changes: StrictInt = 0
    patch: StrictStr | None = None
    previous_filename: StrictStr | None = None


def _empty_user_is_none(value: object) -> object:
    # GitHub sends {} as author/committer of some commits (no matching account).
    return None if value == {} else value


class Commit(_Model):
    """A commit from ``GET /commits`` (no files) or ``GET /commits/{sha}`` (with a page of files)."""

    sha: Sha
    node_id: StrictStr | None = None
    commit: CommitDetail
    author: Annotated[SimpleUser | None, BeforeValidator(_empty_user_is_none)] = None
    committer: Annotated[SimpleUser | None, BeforeValidator(_empty_user_is_none)] = None
    parents: list[ParentRef] = Field(default_factory=list)
    html_url: StrictStr | None = None
    stats: CommitStats | None = None
    files: list[CommitFile] | None = None

    @model_validator(mode="after")
    def _has_a_date(self) -> Commit:
        if not any(a is not None and a.date is not None for a in (self.commit.committer, self.commit.author)):
            raise ValueError("commit has neither a committer nor an author date")
        return self

    @property
    def committed_at(self) -> dt.datetime:
        for actor in (self.commit.committer, self.commit.author):
            if actor is not None and actor.date is not None:
                return actor.date
        raise AssertionError("validated: a commit has a date")  # pragma: no cover


class ContentFile(_Model):
    type: StrictStr
    path: StrictStr
    encoding: StrictStr | None = None
    content: StrictStr | None = None


# --------------------------------------------------------------------------- parsing


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def _error(exc: ValidationError, *, endpoint: str, model: str) -> DataValidationError:
    first = exc.errors()[0]
    where = _location(first["loc"])
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return DataValidationError(
        f"GitHub payload breaks the {model} schema: {first['msg']}{extra}",
        source=endpoint,
        location=where,
    )


def parse_list(model: type[_M], data: Any, *, endpoint: str) -> list[_M]:
    """Validate a JSON array of ``model`` items; raise ``DataValidationError`` otherwise."""
    if not isinstance(data, list):
        raise DataValidationError(
            f"expected a JSON array of {model.__name__}, got {type(data).__name__}",
            source=endpoint,
            location="$",
        )
    try:
        return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise _error(exc, endpoint=endpoint, model=model.__name__) from None


def parse_object(model: type[_M], data: Any, *, endpoint: str) -> _M:
    if not isinstance(data, dict):
        raise DataValidationError(
            f"expected a JSON object ({model.__name__}), got {type(data).__name__}",
            source=endpoint,
            location="$",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, endpoint=endpoint, model=model.__name__) from None


def parse_pull_list(data: Any, *, endpoint: str) -> list[Issue]:
    """``GET /repos/{o}/{r}/pulls`` items as :class:`Issue` rows with ``pull_request`` set.

    The fallback when a repository's issues are disabled (its ``/issues`` answers 410, so
    pull requests cannot be listed there): the pull list carries every column the issue row
    needs. Items that are not objects are left as they are, for ``parse_list`` to reject.
    """
    if isinstance(data, list):
        data = [
            {**item, "pull_request": {"url": item.get("url"), "merged_at": item.get("merged_at")}}
            if isinstance(item, dict)
            else item
            for item in data
        ]
    return parse_list(Issue, data, endpoint=endpoint)
