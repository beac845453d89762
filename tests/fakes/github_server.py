"""A local HTTP server that speaks GitHub's REST v3 wire protocol, for tests and e2e runs.

It serves the endpoints the GitHub tracker reads, from a small in-memory :class:`Dataset`
that tests mutate (add an issue, edit a comment, remove a label...), with GitHub's real
payload shapes and headers: ``Link`` pagination (``rel="next"``/``"last"``, repository
links in the ``/repositories/{id}/...`` form like github.com), content-based ``ETag`` with
``If-None-Match`` -> 304 (a 304 costs no quota), ``X-RateLimit-*`` per token, primary
exhaustion (403 with ``X-RateLimit-Remaining: 0``), and a queue of injected faults
(5xx, secondary limits with ``Retry-After``, 401, malformed or truncated bodies, connection
resets, a next link pointing to another origin). It counts every request it served.
Built on ``tests/fakes/wire.py`` (server, fault queue, request log, clock, dataset base).

Standalone::

    python tests/fakes/github_server.py --port 8765 --dataset small --token t1:5000

Stdlib only, so it runs anywhere a Python runs (as a script too: it then imports ``wire``
from its own folder).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

try:
    from tests.fakes import wire
except ModuleNotFoundError:  # run as a script: python tests/fakes/github_server.py
    import wire  # type: ignore[no-redef]

BASE_TIME = wire.BASE_TIME
FakeClock = wire.FakeClock
Reply, Request, WireFault, WireServer = wire.Reply, wire.Request, wire.Fault, wire.WireServer
etag, link_header, not_modified, number_page = (
    wire.etag,
    wire.link_header,
    wire.not_modified,
    wire.number_page,
)

__all__ = [
    "BASE_TIME",
    "Dataset",
    "FakeClock",
    "FakeGitHubServer",
    "Fault",
    "Served",
    "build_dataset",
]

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
JSON = "application/json; charset=utf-8"
COMMIT_FILES_PER_PAGE = 300  # what GitHub returns per page of a commit's files
COMMIT_FILES_LIMIT = 3000  # files beyond this are never served by the REST API

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:FAKE."
)
USER_LINKS = (
    ("followers", "followers"),
    ("following", "following{/other_user}"),
    ("gists", "gists{/gist_id}"),
    ("starred", "starred{/owner}{/repo}"),
    ("subscriptions", "subscriptions"),
    ("organizations", "orgs"),
    ("repos", "repos"),
    ("events", "events{/privacy}"),
    ("received_events", "received_events"),
)
PULL_DETAIL_ONLY = {  # fields of GET /pulls/{n} that the list endpoint leaves out
    *("merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments", "review_comments"),
    *("maintainer_can_modify", "commits", "additions", "deletions", "changed_files"),
}
EXHAUSTED_MESSAGE = (
    "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
    "for help, please include the request ID 0000:FAKE."
)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(value: dt.datetime) -> str:
    return email.utils.format_datetime(value.astimezone(dt.UTC), usegmt=True)


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode().rstrip("=")


def fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - an id, not security


# =================================================================== dataset


@dataclasses.dataclass
class User:
    login: str
    id: int
    type: str = "User"
    name: str | None = None
    email: str | None = None


@dataclasses.dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None = None
    default: bool = False


@dataclasses.dataclass
class Milestone:
    id: int
    number: int
    title: str
    created_at: dt.datetime
    updated_at: dt.datetime
    creator: str
    state: str = "open"
    description: str | None = None
    due_on: dt.datetime | None = None
    closed_at: dt.datetime | None = None


@dataclasses.dataclass
class FileChange:
    filename: str
    status: str = "modified"
    additions: int = 1
    deletions: int = 0
    patch: str | None = "@@ -1 +1 @@\n-old\n+new"
    previous_filename: str | None = None

    @property
    def changes(self) -> int:
        return self.additions + self.deletions


@dataclasses.dataclass
class Commit:
    sha: str
    message: str
    author: str | None  # GitHub login, None when the email maps to no account
    author_name: str
    author_email: str
    authored_at: dt.datetime
    committer: str | None
    committer_name: str
    committer_email: str
    committed_at: dt.datetime
    parents: list[str]
    files: list[FileChange]
    tree_sha: str = ""


@dataclasses.dataclass
class PullInfo:
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool = False
    merged_at: dt.datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    commits: int = 1
    additions: int = 10
    deletions: int = 2
    changed_files: int = 1
    requested_reviewers: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: dt.datetime
    updated_at: dt.datetime
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = dataclasses.field(default_factory=list)
    assignees: list[str] = dataclasses.field(default_factory=list)
    milestone: int | None = None
    locked: bool = False
    closed_at: dt.datetime | None = None
    closed_by: str | None = None
    author_association: str = "CONTRIBUTOR"
    pull: PullInfo | None = None


@dataclasses.dataclass
class IssueComment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: dt.datetime
    updated_at: dt.datetime
    author_association: str = "CONTRIBUTOR"


@dataclasses.dataclass
class Review:
    id: int
    pull_number: int
    user: str
    body: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    submitted_at: dt.datetime
    commit_id: str
    author_association: str = "MEMBER"


@dataclasses.dataclass
class ReviewComment:
    id: int
    pull_number: int
    review_id: int | None
    user: str
    body: str
    path: str
    diff_hunk: str
    commit_id: str
    line: int
    created_at: dt.datetime
    updated_at: dt.datetime
    in_reply_to_id: int | None = None
    author_association: str = "MEMBER"


@dataclasses.dataclass
class Repo:
    id: int
    owner: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    pushed_at: dt.datetime
    description: str | None = None
    private: bool = False
    fork: bool = False
    archived: bool = False
    default_branch: str = "main"
    language: str | None = "C++"
    topics: list[str] = dataclasses.field(default_factory=list)
    homepage: str | None = None
    clone_url: str | None = None  # override (e.g. file:///.../bare.git) for local git fetches
    branches: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # name -> shas newest first
    commits: dict[str, Commit] = dataclasses.field(default_factory=dict)
    issues: dict[int, Issue] = dataclasses.field(default_factory=dict)
    issue_comments: list[IssueComment] = dataclasses.field(default_factory=list)
    reviews: list[Review] = dataclasses.field(default_factory=list)
    review_comments: list[ReviewComment] = dataclasses.field(default_factory=list)
    labels: dict[str, Label] = dataclasses.field(default_factory=dict)
    milestones: dict[int, Milestone] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # served by /contents
    has_issues: bool = True  # False: the issues endpoints answer 410 "Issues are disabled for this repo"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class Dataset(wire.Dataset):
    """Everything the server serves. Mutations advance a logical clock one minute each,
    and bump ``updated_at`` the way GitHub does (a new comment updates its issue)."""

    def __init__(self, start: dt.datetime = BASE_TIME) -> None:
        super().__init__(start)
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.orgs: dict[str, list[str]] = {}
        self.former_names: dict[str, int] = {}  # lower-case old full name -> repo id (renames)

    # ---------------------------------------------------------------- basics

    def user(self, login: str, *, type: str = "User") -> User:
        if login not in self.users:
            self.users[login] = User(
                login=login, id=self.next_id(), type=type, name=login.title(), email=f"{login}@example.com"
            )
        return self.users[login]

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def add_org(self, org: str) -> User:
        self.orgs.setdefault(org, [])
        return self.user(org, type="Organization")

    def add_repo(self, owner: str, name: str, **fields: Any) -> Repo:
        with self.lock:
            now = self.tick()
            if owner in self.orgs or owner not in self.users:
                self.add_org(owner)
            repo = Repo(
                id=self.next_id(),
                owner=owner,
                name=name,
                created_at=now,
                updated_at=now,
                pushed_at=now,
                **fields,
            )
            self.repos[repo.full_name.lower()] = repo
            self.orgs.setdefault(owner, []).append(repo.full_name)
            return repo

    def rename_repo(self, full_name: str, new_full_name: str) -> Repo:
        """Rename (or transfer) a repository; its old name then answers 301 like GitHub's."""
        with self.lock:
            repo = self.repos.pop(full_name.lower())
            owner, name = new_full_name.split("/")
            if owner not in self.users:
                self.add_org(owner)
            self.former_names[full_name.lower()] = repo.id
            self.former_names.pop(new_full_name.lower(), None)
            self.orgs[repo.owner].remove(repo.full_name)
            self.orgs.setdefault(owner, []).append(new_full_name)
            repo.owner, repo.name = owner, name
            repo.updated_at = self.tick()
            self.repos[new_full_name.lower()] = repo
            return repo

    def add_label_definition(
        self, full_name: str, name: str, color: str = "ededed", description: str | None = None
    ) -> Label:
        repo = self.repo(full_name)
        label = Label(id=self.next_id(), name=name, color=color, description=description)
        repo.labels[name] = label
        return label

    def add_milestone(self, full_name: str, title: str, *, creator: str) -> Milestone:
        with self.lock:
            repo = self.repo(full_name)
            now = self.tick()
            number = len(repo.milestones) + 1
            ms = Milestone(
                id=self.next_id(), number=number, title=title, created_at=now, updated_at=now, creator=creator
            )
            repo.milestones[number] = ms
            return ms

    # ---------------------------------------------------------------- commits

    def add_commit(
        self,
        full_name: str,
        message: str,
        *,
        author: str | None,
        files: int | Iterable[FileChange] = 1,
        branch: str | None = None,
        author_name: str | None = None,
        author_email: str | None = None,
        at: dt.datetime | None = None,
    ) -> Commit:
        with self.lock:
            repo = self.repo(full_name)
            when = at or self.tick()
            branch = branch or repo.default_branch
            history = repo.branches.setdefault(branch, [])
            parents = [history[0]] if history else []
            if isinstance(files, int):
                changes = [
                    FileChange(
                        filename=f"src/module_{len(repo.commits)}/file_{i:04d}.cpp",
                        status="added",
                        additions=3,
                        deletions=0,
                        patch=f"@@ -0,0 +1,3 @@\n+// {i}\n+int f{i}();\n+\n",
                    )
                    for i in range(files)
                ]
            else:
                changes = list(files)
            login_user = self.user(author) if author else None
            name = author_name or (login_user.name if login_user else "Anonymous Contributor") or "?"
            email = author_email or (login_user.email if login_user else "anon@example.org") or "?"
            sha = fake_sha(repo.full_name, len(repo.commits), message, iso(when))
            commit = Commit(
                sha=sha,
                message=message,
                author=author,
                author_name=name,
                author_email=email,
                authored_at=when,
                committer=author,
                committer_name=name,
                committer_email=email,
                committed_at=when,
                parents=parents,
                files=changes,
                tree_sha=fake_sha("tree", sha),
            )
            repo.commits[sha] = commit
            history.insert(0, sha)
            repo.pushed_at = when
            return commit

    # ---------------------------------------------------------------- issues and pulls

    def add_issue(
        self,
        full_name: str,
        title: str,
        *,
        user: str,
        body: str | None = "",
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        milestone: int | None = None,
        pull: bool = False,
        draft: bool = False,
        head_ref: str | None = None,
    ) -> Issue:
        with self.lock:
            repo = self.repo(full_name)
            now = self.tick()
            self.user(user)
            for login in assignees:
                self.user(login)
            for name in labels:
                if name not in repo.labels:
                    self.add_label_definition(full_name, name)
            number = max(repo.issues, default=0) + 1
            info = None
            if pull:
                base_sha = repo.branches.get(repo.default_branch, [fake_sha("empty")])[0]
                info = PullInfo(
                    head_ref=head_ref or f"feature/{number}",
                    head_sha=fake_sha("head", number),
                    base_ref=repo.default_branch,
                    base_sha=base_sha,
                    draft=draft,
                )
            issue = Issue(
                number=number,
                id=self.next_id(),
                title=title,
                body=body,
                user=user,
                created_at=now,
                updated_at=now,
                labels=list(labels),
                assignees=list(assignees),
                milestone=milestone,
                pull=info,
            )
            repo.issues[number] = issue
            return issue

    def _touch(self, issue: Issue) -> dt.datetime:
        issue.updated_at = self.tick()
        return issue.updated_at

    def edit_issue(self, full_name: str, number: int, **fields: Any) -> Issue:
        with self.lock:
            issue = self.repo(full_name).issues[number]
            for key, value in fields.items():
                if not hasattr(issue, key):
                    raise AttributeError(key)
                setattr(issue, key, value)
            self._touch(issue)
            return issue

    def add_label(self, full_name: str, number: int, name: str) -> Issue:
        with self.lock:
            repo = self.repo(full_name)
            if name not in repo.labels:
                self.add_label_definition(full_name, name)
            issue = repo.issues[number]
            if name not in issue.labels:
                issue.labels.append(name)
            self._touch(issue)
            return issue

    def remove_label(self, full_name: str, number: int, name: str) -> Issue:
        with self.lock:
            issue = self.repo(full_name).issues[number]
            issue.labels.remove(name)
            self._touch(issue)
            return issue

    def close_issue(self, full_name: str, number: int, *, by: str, reason: str = "completed") -> Issue:
        with self.lock:
            issue = self.repo(full_name).issues[number]
            now = self._touch(issue)
            issue.state, issue.state_reason, issue.closed_at, issue.closed_by = "closed", reason, now, by
            return issue

    def merge_pull(self, full_name: str, number: int, *, by: str) -> Issue:
        with self.lock:
            repo = self.repo(full_name)
            issue = repo.issues[number]
            assert issue.pull is not None, f"#{number} is not a pull request"
            merge = self.add_commit(
                full_name, f"Merge pull request #{number} from {issue.pull.head_ref}", author=by
            )
            now = self._touch(issue)
            issue.state, issue.closed_at, issue.closed_by = "closed", now, by
            issue.pull.merged_at, issue.pull.merged_by, issue.pull.merge_commit_sha = now, by, merge.sha
            return issue

    # ---------------------------------------------------------------- comments and reviews

    def add_comment(self, full_name: str, number: int, *, user: str, body: str) -> IssueComment:
        with self.lock:
            repo = self.repo(full_name)
            issue = repo.issues[number]
            self.user(user)
            now = self._touch(issue)
            comment = IssueComment(
                id=self.next_id(), issue_number=number, user=user, body=body, created_at=now, updated_at=now
            )
            repo.issue_comments.append(comment)
            return comment

    def edit_comment(self, full_name: str, comment_id: int, body: str) -> IssueComment:
        with self.lock:
            repo = self.repo(full_name)
            comment = next(c for c in repo.issue_comments if c.id == comment_id)
            comment.body = body
            comment.updated_at = self.tick()
            return comment

    def delete_comment(self, full_name: str, comment_id: int) -> None:
        with self.lock:
            repo = self.repo(full_name)
            repo.issue_comments = [c for c in repo.issue_comments if c.id != comment_id]

    def add_review(self, full_name: str, number: int, *, user: str, state: str, body: str = "") -> Review:
        with self.lock:
            repo = self.repo(full_name)
            issue = repo.issues[number]
            assert issue.pull is not None, f"#{number} is not a pull request"
            self.user(user)
            now = self._touch(issue)
            review = Review(
                id=self.next_id(),
                pull_number=number,
                user=user,
                body=body,
                state=state,
                submitted_at=now,
                commit_id=issue.pull.head_sha,
            )
            repo.reviews.append(review)
            return review

    def add_review_comment(
        self,
        full_name: str,
        number: int,
        *,
        user: str,
        body: str,
        path: str = "src/main.cpp",
        line: int = 1,
        review_id: int | None = None,
        in_reply_to: int | None = None,
    ) -> ReviewComment:
        with self.lock:
            repo = self.repo(full_name)
            issue = repo.issues[number]
            assert issue.pull is not None, f"#{number} is not a pull request"
            self.user(user)
            now = self._touch(issue)
            comment = ReviewComment(
                id=self.next_id(),
                pull_number=number,
                review_id=review_id,
                user=user,
                body=body,
                path=path,
                diff_hunk=f"@@ -{line},3 +{line},4 @@\n context\n+added",
                commit_id=issue.pull.head_sha,
                line=line,
                created_at=now,
                updated_at=now,
                in_reply_to_id=in_reply_to,
            )
            repo.review_comments.append(comment)
            return comment

    def edit_review_comment(self, full_name: str, comment_id: int, body: str) -> ReviewComment:
        with self.lock:
            repo = self.repo(full_name)
            comment = next(c for c in repo.review_comments if c.id == comment_id)
            comment.body = body
            comment.updated_at = self.tick()
            return comment


def build_dataset(name: str = "small") -> Dataset:
    """Deterministic datasets: ``small`` (two repos of an org), ``large`` (pagination-heavy),
    ``empty`` (nothing but the org)."""
    ds = Dataset()
    ds.add_org("acme")
    for login in ("alice", "bob", "carol", "dave"):
        ds.user(login)
    if name == "empty":
        return ds
    if name not in {"small", "large"}:
        raise ValueError(f"unknown dataset {name!r}")

    widgets = ds.add_repo("acme", "widgets", description="Widgets library", topics=["cpp", "widgets"])
    for label, color in (("bug", "d73a4a"), ("enhancement", "a2eeef"), ("docs", "0075ca")):
        ds.add_label_definition(widgets.full_name, label, color, f"{label} label")
    ms = ds.add_milestone(widgets.full_name, "v1.0", creator="alice")
    for i, author in enumerate(["alice", "bob", "alice", "carol", None]):
        ds.add_commit(
            widgets.full_name,
            f"Commit {i}: improve widgets\n\nDetails of change {i}.",
            author=author,
            files=1 + i,
            author_name=None if author else "Ghost Writer",
            author_email=None if author else "ghost@example.org",
        )
    ds.add_commit(widgets.full_name, "WIP on a branch", author="dave", branch="feature/x")

    i1 = ds.add_issue(
        widgets.full_name,
        "Crash when resizing",
        user="bob",
        body="Steps to reproduce...",
        labels=["bug"],
        assignees=["alice"],
        milestone=ms.number,
    )
    i2 = ds.add_issue(
        widgets.full_name, "Add dark theme", user="carol", body="It would be nice.", labels=["enhancement"]
    )
    i3 = ds.add_issue(widgets.full_name, "Typo in README", user="dave", body=None, labels=["docs"])
    p4 = ds.add_issue(
        widgets.full_name,
        "Fix resize crash",
        user="alice",
        body="Fixes #1",
        pull=True,
        labels=["bug"],
        head_ref="fix/resize",
    )
    p5 = ds.add_issue(
        widgets.full_name, "Dark theme (draft)", user="carol", body="WIP", pull=True, draft=True
    )
    p6 = ds.add_issue(widgets.full_name, "Rejected idea", user="bob", body="Try this", pull=True)
    ds.add_comment(widgets.full_name, i1.number, user="alice", body="I can reproduce this.")
    ds.add_comment(widgets.full_name, i1.number, user="bob", body="Thanks!")
    ds.add_comment(widgets.full_name, i2.number, user="alice", body="Sounds good.")
    ds.add_comment(widgets.full_name, p4.number, user="bob", body="Works for me.")
    r1 = ds.add_review(widgets.full_name, p4.number, user="carol", state="CHANGES_REQUESTED", body="One nit.")
    ds.add_review_comment(
        widgets.full_name, p4.number, user="carol", body="Use size_t here.", line=12, review_id=r1.id
    )
    ds.add_review(widgets.full_name, p4.number, user="carol", state="APPROVED", body="LGTM")
    ds.merge_pull(widgets.full_name, p4.number, by="alice")
    ds.close_issue(widgets.full_name, i1.number, by="alice")
    ds.add_review(widgets.full_name, p5.number, user="bob", state="COMMENTED", body="Looks promising")
    ds.add_review_comment(widgets.full_name, p5.number, user="bob", body="Colour names?", path="theme.css")
    ds.close_issue(widgets.full_name, p6.number, by="alice", reason="not_planned")
    ds.add_comment(widgets.full_name, i3.number, user="carol", body="Fixed in docs branch.")

    gadgets = ds.add_repo("acme", "gadgets", description="Gadgets using widgets", language="Python")
    gadgets.files[".gitmodules"] = (
        '[submodule "extern/widgets"]\n\tpath = extern/widgets\n\turl = https://github.com/acme/widgets.git\n'
        '[submodule "extern/tools"]\n\tpath = extern/tools\n\turl = ../tools.git\n'
    )
    gadgets.files["README.md"] = "# Gadgets\n"
    ds.add_commit(gadgets.full_name, "Initial commit", author="bob", files=2)
    ds.add_commit(
        gadgets.full_name,
        "Add widgets submodule",
        author="bob",
        files=[FileChange(".gitmodules", status="added", additions=3)],
    )
    g1 = ds.add_issue(gadgets.full_name, "Support gizmos", user="dave", body="Please.")
    ds.add_comment(gadgets.full_name, g1.number, user="bob", body="Maybe later.")

    if name == "large":
        for n in range(250):
            issue = ds.add_issue(
                widgets.full_name,
                f"Generated issue {n}",
                user=("alice", "bob", "carol")[n % 3],
                body=f"Body {n}",
                labels=["bug"] if n % 4 == 0 else [],
                pull=n % 5 == 0,
            )
            for c in range(n % 3):
                ds.add_comment(widgets.full_name, issue.number, user="dave", body=f"Comment {c} on {n}")
        for n in range(120):
            ds.add_commit(widgets.full_name, f"Generated commit {n}", author=("alice", "bob")[n % 2], files=1)
        ds.add_commit(widgets.full_name, "Huge vendor import", author="alice", files=COMMIT_FILES_LIMIT + 250)
    return ds


# =================================================================== payloads


class Payloads:
    """GitHub JSON shapes. ``api`` is the server's base URL (for ``url`` fields)."""

    def __init__(self, ds: Dataset, api: str) -> None:
        self.ds = ds
        self.api = api

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        u = self.ds.user(login)
        url = f"{self.api}/users/{u.login}"
        return {
            "login": u.login,
            "id": u.id,
            "node_id": node_id("User", u.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{HTML}/{u.login}",
            **{f"{key}_url": f"{url}/{rest}" for key, rest in USER_LINKS},
            "type": u.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def repo(self, r: Repo) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}"
        open_issues = sum(1 for i in r.issues.values() if i.state == "open")
        return {
            "id": r.id,
            "node_id": node_id("Repository", r.id),
            "name": r.name,
            "full_name": r.full_name,
            "private": r.private,
            "owner": self.user(r.owner),
            "html_url": f"{HTML}/{r.full_name}",
            "description": r.description,
            "fork": r.fork,
            "url": url,
            "commits_url": f"{url}/commits{{/sha}}",
            "issues_url": f"{url}/issues{{/number}}",
            "pulls_url": f"{url}/pulls{{/number}}",
            "contents_url": f"{url}/contents/{{+path}}",
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
            "pushed_at": iso(r.pushed_at),
            "git_url": f"git://github.com/{r.full_name}.git",
            "ssh_url": f"git@github.com:{r.full_name}.git",
            "clone_url": r.clone_url or f"{HTML}/{r.full_name}.git",
            "svn_url": f"{HTML}/{r.full_name}",
            "homepage": r.homepage,
            "size": 100 + len(r.commits),
            "stargazers_count": 7,
            "watchers_count": 7,
            "language": r.language,
            "has_issues": r.has_issues,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 1,
            "mirror_url": None,
            "archived": r.archived,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": list(r.topics),
            "visibility": "private" if r.private else "public",
            "forks": 1,
            "open_issues": open_issues,
            "watchers": 7,
            "default_branch": r.default_branch,
        }

    def label(self, r: Repo, name: str) -> dict[str, Any]:
        lb = r.labels[name]
        return {
            "id": lb.id,
            "node_id": node_id("Label", lb.id),
            "url": f"{self.api}/repos/{r.full_name}/labels/{quote(lb.name)}",
            "name": lb.name,
            "color": lb.color,
            "default": lb.default,
            "description": lb.description,
        }

    def milestone(self, r: Repo, number: int | None) -> dict[str, Any] | None:
        if number is None:
            return None
        m = r.milestones[number]
        url = f"{self.api}/repos/{r.full_name}/milestones/{m.number}"
        in_ms = [i for i in r.issues.values() if i.milestone == m.number]
        return {
            "url": url,
            "html_url": f"{HTML}/{r.full_name}/milestone/{m.number}",
            "labels_url": f"{url}/labels",
            "id": m.id,
            "node_id": node_id("Milestone", m.id),
            "number": m.number,
            "title": m.title,
            "description": m.description,
            "creator": self.user(m.creator),
            "open_issues": sum(1 for i in in_ms if i.state == "open"),
            "closed_issues": sum(1 for i in in_ms if i.state == "closed"),
            "state": m.state,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at),
            "due_on": iso(m.due_on),
            "closed_at": iso(m.closed_at),
        }

    @staticmethod
    def reactions(url: str) -> dict[str, Any]:
        kinds = ("total_count", "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
        return {"url": f"{url}/reactions", **dict.fromkeys(kinds, 0)}

    def issue(self, r: Repo, i: Issue) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/issues/{i.number}"
        kind = "pull" if i.pull else "issues"
        data: dict[str, Any] = {
            "url": url,
            "repository_url": f"{self.api}/repos/{r.full_name}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{HTML}/{r.full_name}/{kind}/{i.number}",
            "id": i.id,
            "node_id": node_id("PullRequest" if i.pull else "Issue", i.id),
            "number": i.number,
            "title": i.title,
            "user": self.user(i.user),
            "labels": [self.label(r, n) for n in i.labels],
            "state": i.state,
            "locked": i.locked,
            "assignee": self.user(i.assignees[0]) if i.assignees else None,
            "assignees": [self.user(a) for a in i.assignees],
            "milestone": self.milestone(r, i.milestone),
            "comments": sum(1 for c in r.issue_comments if c.issue_number == i.number),
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at),
            "author_association": i.author_association,
            "active_lock_reason": None,
            "body": i.body,
            "closed_by": self.user(i.closed_by),
            "reactions": self.reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": i.state_reason,
        }
        if i.pull:
            pulls = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
            data["draft"] = i.pull.draft
            data["pull_request"] = {
                "url": pulls,
                "html_url": f"{HTML}/{r.full_name}/pull/{i.number}",
                "diff_url": f"{HTML}/{r.full_name}/pull/{i.number}.diff",
                "patch_url": f"{HTML}/{r.full_name}/pull/{i.number}.patch",
                "merged_at": iso(i.pull.merged_at),
            }
        return data

    def pull(self, r: Repo, i: Issue) -> dict[str, Any]:
        p = i.pull
        assert p is not None
        url = f"{self.api}/repos/{r.full_name}/pulls/{i.number}"
        html = f"{HTML}/{r.full_name}/pull/{i.number}"
        issue_url = f"{self.api}/repos/{r.full_name}/issues/{i.number}"
        repo_obj = self.repo(r)

        def ref(name: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{r.owner}:{name}",
                "ref": name,
                "sha": sha,
                "user": self.user(r.owner),
                "repo": repo_obj,
            }

        return {
            "url": url,
            "id": i.id,
            "node_id": node_id("PullRequest", i.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.api}/repos/{r.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}",
            "number": i.number,
            "state": i.state,
            "locked": i.locked,
            "title": i.title,
            "user": self.user(i.user),
            "body": i.body,
            "labels": [self.label(r, n) for n in i.labels],
            "milestone": self.milestone(r, i.milestone),
            "active_lock_reason": None,
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at),
            "merged_at": iso(p.merged_at),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": self.user(i.assignees[0]) if i.assignees else None,
            "assignees": [self.user(a) for a in i.assignees],
            "requested_reviewers": [self.user(u) for u in p.requested_reviewers],
            "requested_teams": [],
            "head": ref(p.head_ref, p.head_sha),
            "base": ref(p.base_ref, p.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}"},
            },
            "author_association": i.author_association,
            "auto_merge": None,
            "draft": p.draft,
            "merged": p.merged_at is not None,
            "mergeable": None if i.state == "closed" else True,
            "rebaseable": None if i.state == "closed" else True,
            "mergeable_state": "unknown" if i.state == "closed" else "clean",
            "merged_by": self.user(p.merged_by),
            "comments": sum(1 for c in r.issue_comments if c.issue_number == i.number),
            "review_comments": sum(1 for c in r.review_comments if c.pull_number == i.number),
            "maintainer_can_modify": False,
            "commits": p.commits,
            "additions": p.additions,
            "deletions": p.deletions,
            "changed_files": p.changed_files,
        }

    def actor(self, login: str | None) -> dict[str, Any] | None:
        user = self.user(login)
        if user is None:
            return None
        return {
            "__typename": user["type"],
            "login": user["login"],
            "url": user["html_url"],
            "databaseId": user["id"],
        }

    def pull_node(self, r: Repo, i: Issue, *, reviews_first: int) -> dict[str, Any]:
        """The GraphQL ``pullRequest`` node of the fields the tracker asks for."""
        p = i.pull
        assert p is not None
        reviews = sorted((rv for rv in r.reviews if rv.pull_number == i.number), key=lambda rv: rv.id)
        state = "MERGED" if p.merged_at else i.state.upper()
        return {
            "number": i.number,
            "databaseId": i.id,
            "state": state,
            "title": i.title,
            "updatedAt": iso(i.updated_at),
            "isDraft": p.draft,
            "mergedAt": iso(p.merged_at),
            "mergeCommit": {"oid": p.merge_commit_sha} if p.merge_commit_sha else None,
            "mergedBy": self.actor(p.merged_by),
            "headRefName": p.head_ref,
            "headRefOid": p.head_sha,
            "headRepository": {"nameWithOwner": r.full_name},
            "baseRefName": p.base_ref,
            "baseRefOid": p.base_sha,
            "additions": p.additions,
            "deletions": p.deletions,
            "changedFiles": p.changed_files,
            "commits": {"totalCount": p.commits},
            "reviewRequests": {
                "nodes": [{"requestedReviewer": self.actor(u)} for u in p.requested_reviewers]
            },
            "reviews": {
                "pageInfo": {"hasNextPage": len(reviews) > reviews_first},
                "nodes": [
                    {
                        "databaseId": rv.id,
                        "id": node_id("PullRequestReview", rv.id),
                        "author": self.actor(rv.user),
                        "authorAssociation": rv.author_association,
                        "state": rv.state,
                        "body": rv.body,
                        "commit": {"oid": rv.commit_id},
                        "url": f"{HTML}/{r.full_name}/pull/{i.number}#pullrequestreview-{rv.id}",
                        "submittedAt": iso(rv.submitted_at),
                    }
                    for rv in reviews[:reviews_first]
                ],
            },
        }

    def pull_summary(self, r: Repo, i: Issue) -> dict[str, Any]:
        """``GET /pulls`` items: the PR object without the counters of the single GET."""
        return {k: v for k, v in self.pull(r, i).items() if k not in PULL_DETAIL_ONLY}

    def issue_comment(self, r: Repo, c: IssueComment) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/issues/comments/{c.id}"
        kind = "pull" if r.issues[c.issue_number].pull else "issues"
        return {
            "url": url,
            "html_url": f"{HTML}/{r.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
            "issue_url": f"{self.api}/repos/{r.full_name}/issues/{c.issue_number}",
            "id": c.id,
            "node_id": node_id("IssueComment", c.id),
            "user": self.user(c.user),
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "author_association": c.author_association,
            "body": c.body,
            "reactions": self.reactions(url),
            "performed_via_github_app": None,
        }

    def review(self, r: Repo, rv: Review) -> dict[str, Any]:
        html = f"{HTML}/{r.full_name}/pull/{rv.pull_number}#pullrequestreview-{rv.id}"
        pr_url = f"{self.api}/repos/{r.full_name}/pulls/{rv.pull_number}"
        return {
            "id": rv.id,
            "node_id": node_id("PullRequestReview", rv.id),
            "user": self.user(rv.user),
            "body": rv.body,
            "state": rv.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": rv.author_association,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "submitted_at": iso(rv.submitted_at),
            "commit_id": rv.commit_id,
        }

    def review_comment(self, r: Repo, c: ReviewComment) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/pulls/comments/{c.id}"
        html = f"{HTML}/{r.full_name}/pull/{c.pull_number}#discussion_r{c.id}"
        pr_url = f"{self.api}/repos/{r.full_name}/pulls/{c.pull_number}"
        data = {
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PullRequestReviewComment", c.id),
            "diff_hunk": c.diff_hunk,
            "path": c.path,
            "position": c.line,
            "original_position": c.line,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": self.user(c.user),
            "body": c.body,
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": c.author_association,
            "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr_url}},
            "reactions": self.reactions(url),
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": c.line,
            "original_line": c.line,
            "side": "RIGHT",
            "subject_type": "line",
        }
        if c.in_reply_to_id is not None:
            data["in_reply_to_id"] = c.in_reply_to_id
        return data

    def commit(self, r: Repo, c: Commit, files: list[FileChange] | None = None) -> dict[str, Any]:
        url = f"{self.api}/repos/{r.full_name}/commits/{c.sha}"
        data: dict[str, Any] = {
            "sha": c.sha,
            "node_id": node_id("Commit", int(c.sha[:8], 16)),
            "commit": {
                "author": {"name": c.author_name, "email": c.author_email, "date": iso(c.authored_at)},
                "committer": {
                    "name": c.committer_name,
                    "email": c.committer_email,
                    "date": iso(c.committed_at),
                },
                "message": c.message,
                "tree": {"sha": c.tree_sha, "url": f"{self.api}/repos/{r.full_name}/git/trees/{c.tree_sha}"},
                "url": f"{self.api}/repos/{r.full_name}/git/commits/{c.sha}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "url": url,
            "html_url": f"{HTML}/{r.full_name}/commit/{c.sha}",
            "comments_url": f"{url}/comments",
            "author": self.user(c.author),
            "committer": self.user(c.committer),
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.api}/repos/{r.full_name}/commits/{p}",
                    "html_url": f"{HTML}/{r.full_name}/commit/{p}",
                }
                for p in c.parents
            ],
        }
        if files is not None:
            additions = sum(f.additions for f in c.files)
            deletions = sum(f.deletions for f in c.files)
            data["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
            data["files"] = [self.file_change(r, c, f) for f in files]
        return data

    def file_change(self, r: Repo, c: Commit, f: FileChange) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sha": fake_sha("blob", c.sha, f.filename),
            "filename": f.filename,
            "status": f.status,
            "additions": f.additions,
            "deletions": f.deletions,
            "changes": f.changes,
            "blob_url": f"{HTML}/{r.full_name}/blob/{c.sha}/{quote(f.filename)}",
            "raw_url": f"{HTML}/{r.full_name}/raw/{c.sha}/{quote(f.filename)}",
            "contents_url": f"{self.api}/repos/{r.full_name}/contents/{quote(f.filename)}?ref={c.sha}",
        }
        if f.patch is not None:
            data["patch"] = f.patch
        if f.previous_filename is not None:
            data["previous_filename"] = f.previous_filename
        return data

    def content_file(self, r: Repo, path: str, text: str, ref: str) -> dict[str, Any]:
        raw = text.encode()
        blob_sha = hashlib.sha1(b"blob %d\x00" % len(raw) + raw).hexdigest()  # noqa: S324 - git's blob id
        encoded = base64.b64encode(raw).decode()
        content = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
        url = f"{self.api}/repos/{r.full_name}/contents/{path}?ref={ref}"
        html = f"{HTML}/{r.full_name}/blob/{ref}/{path}"
        git = f"{self.api}/repos/{r.full_name}/git/blobs/{blob_sha}"
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": blob_sha,
            "size": len(raw),
            "url": url,
            "html_url": html,
            "git_url": git,
            "download_url": f"https://raw.githubusercontent.com/{r.full_name}/{ref}/{path}",
            "type": "file",
            "content": content,
            "encoding": "base64",
            "_links": {"self": url, "git": git, "html": html},
        }


# =================================================================== server


def Fault(
    kind: str,
    status: int = 500,
    path: str | None = None,
    retry_after: int | None = None,
    message: str | None = None,
    times: int = 1,
    location: str | None = None,
) -> WireFault:
    """One injected failure for the next ``times`` requests whose path starts with ``path``.

    kinds: ``status`` (answer ``status`` with GitHub's error body), ``secondary`` (403/429
    secondary rate limit, ``Retry-After: retry_after`` when given), ``malformed`` (a 200 whose
    body is not JSON), ``truncated`` (a 200 whose body stops half way, then the connection
    closes), ``cut`` (a 200 whose JSON body stops half way with a ``Content-Length`` that
    matches what is sent, as a misbehaving proxy does), ``reset`` (close the connection with a
    TCP reset, no answer), ``cross_origin_next`` (the real answer, but ``Link: rel="next"``
    points to another origin), ``redirect`` (``status`` 301/302/307 to ``location``; a path is
    taken relative to the API root).
    """
    wire: dict[str, Any] = {
        "malformed": {"body": lambda b: b[: max(1, len(b) // 2)] + b"\x00<html>oops"},  # never a mere cut
        "cut": {"body": lambda b: b[: max(1, len(b) // 2)]},
        "truncated": {"disconnect": "mid_body"},
    }.get(kind, {})
    params = {"status": status, "retry_after": retry_after, "message": message, "location": location}
    return WireFault(path=path, times=times, kind=kind, params=params, **wire)


@dataclasses.dataclass
class TokenQuota:
    limit: int
    remaining: int
    reset: int
    used: int = 0


@dataclasses.dataclass(frozen=True)
class Served:
    path: str
    query: str
    token: str  # the token string ("" when anonymous): this is a test server, tests may see it
    status: int
    consumed_quota: bool
    conditional: bool
    fault: str | None = None


class _HTTPProblem(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _parse_time(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _HTTPProblem(
            422, "Validation Failed", errors=[{"resource": "Search", "field": name, "code": "invalid"}]
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise _HTTPProblem(
            422,
            "Validation Failed",
            errors=[{"resource": "Issue", "field": name, "code": "invalid", "value": value}],
        )
    return value


class FakeGitHubServer(WireServer):
    """Threaded HTTP/1.1 server on 127.0.0.1; ``base_url`` is what a client uses as API root.

    ``tokens`` maps accepted tokens to their hourly limit (``None``: accept any token with
    5000/hour). Requests without ``Authorization`` share the ``anonymous_limit`` quota.
    ``clock`` (epoch seconds) drives rate-limit resets; share it with the client's sleeper to
    test waits without sleeping. Faults: :meth:`inject` with :func:`Fault`; every answer is in
    :attr:`served` (and ``log``, the toolkit's request log).
    """

    methods = ("GET", "POST")  # POST: GraphQL only
    server_name = "GitHub.com"
    default_headers = {
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-GitHub-Media-Type": "github.v3; format=json",
        "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
    }
    thread_name = "fake-github"

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        tokens: Mapping[str, int] | None = None,
        anonymous_limit: int = 60,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        link_style: str = "repositories",
        reset_period: int = 3600,
        path_prefix: str = "",
    ) -> None:
        super().__init__(host, port, clock=clock)
        self.path_prefix = path_prefix.rstrip("/")  # "/api/v3" to look like GitHub Enterprise Server
        self.dataset = dataset or build_dataset("small")
        self.reset_period = reset_period
        self.link_style = link_style
        self.accept_any_token = tokens is None
        self.quotas: dict[str, TokenQuota] = {}
        for token, limit in (tokens or {}).items():
            self.quotas[token] = self._fresh_quota(limit)
        self.quotas[""] = self._fresh_quota(anonymous_limit)
        # Misbehaving rate-limit headers: the reset in milliseconds, or literal replacements.
        self.reset_in_milliseconds = False
        self.graphql_queries: list[str] = []  # every GraphQL query received, in order
        self.graphql_errors: list[dict[str, Any]] = []  # the next GraphQL answer: these errors, no data
        self.rate_header_overrides: dict[str, str] = {}
        self.lock = self.dataset.lock

    @property
    def base_url(self) -> str:
        return self.root + self.path_prefix

    # ---------------------------------------------------------------- test controls

    def _fresh_quota(self, limit: int) -> TokenQuota:
        return TokenQuota(limit=limit, remaining=limit, reset=int(self.clock()) + self.reset_period)

    def set_quota(
        self,
        token: str,
        *,
        remaining: int | None = None,
        reset_in: float | None = None,
        limit: int | None = None,
    ) -> TokenQuota:
        with self.lock:
            quota = self.quotas.setdefault(token, self._fresh_quota(limit or 5000))
            if limit is not None:
                quota.limit = limit
            if remaining is not None:
                quota.remaining = remaining
                quota.used = quota.limit - remaining
            if reset_in is not None:
                quota.reset = int(self.clock() + reset_in)
            return quota

    @property
    def served(self) -> list[Served]:
        return [
            Served(
                e.path,
                e.query,
                e.notes.get("token", ""),
                e.status,
                e.notes.get("consumed", False),
                e.notes.get("conditional", False),
                e.fault,
            )
            for e in self.log
        ]

    def count(
        self,
        *,
        path: str | None = None,
        token: str | None = None,
        consumed: bool | None = None,
        status: int | None = None,
    ) -> int:
        return sum(
            1
            for s in self.served
            if (path is None or s.path.startswith(path))
            and (token is None or s.token == token)
            and (consumed is None or s.consumed_quota == consumed)
            and (status is None or s.status == status)
        )

    def clear_log(self) -> None:
        self.log.clear()

    # ---------------------------------------------------------------- the request

    def quota_for(self, token: str) -> TokenQuota | None:
        quota = self.quotas.get(token)
        if quota is None and self.accept_any_token:
            quota = self.quotas[token] = self._fresh_quota(5000)
        if quota is not None and self.clock() >= quota.reset:
            quota.remaining, quota.used = quota.limit, 0
            quota.reset = int(self.clock()) + self.reset_period
        return quota

    def _rate_headers(self, quota: TokenQuota) -> dict[str, str]:
        reset = quota.reset * 1000 if self.reset_in_milliseconds else quota.reset
        return {
            "X-RateLimit-Limit": str(quota.limit),
            "X-RateLimit-Remaining": str(quota.remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(quota.used),
            "X-RateLimit-Resource": "core",
            **self.rate_header_overrides,
        }

    @staticmethod
    def _consume(quota: TokenQuota, path: str) -> bool:
        if path == "/rate_limit":
            return False
        quota.remaining = max(quota.remaining - 1, 0)
        quota.used += 1
        return True

    def error(self, status: int, request: Request, message: str | None = None, **extra: Any) -> Reply:
        payload = {
            "message": message or _reason(status),
            **extra,
            "documentation_url": DOCS,
            "status": str(status),
        }
        return Reply.json(status, payload, content_type=JSON)

    def respond(self, request: Request) -> Reply:
        raw = request.path + (f"?{request.raw_query}" if request.raw_query else "")
        reply = self._respond(request)
        reply.headers["X-GitHub-Request-Id"] = hashlib.md5(raw.encode()).hexdigest()[:16].upper()  # noqa: S324
        return reply

    def _respond(self, req: Request) -> Reply:
        path = req.path.rstrip("/") or "/"
        if self.path_prefix:
            if not path.startswith(self.path_prefix + "/"):
                req.logged = False
                return self.error(404, req, "Not Found")
            path = path[len(self.path_prefix) :]
        req.path, query = path, req.query
        auth = req.headers.get("Authorization", "")
        m = re.fullmatch(r"(?i)(?:token|bearer)\s+(\S+)", auth.strip())
        conditional = bool(req.headers.get("If-None-Match") or req.headers.get("If-Modified-Since"))
        req.notes.update(token=m.group(1) if m else "", consumed=False, conditional=conditional)

        with self.lock:
            quota = None if auth and not m else self.quota_for(req.notes["token"])
            if quota is None:
                return self.error(401, req, "Bad credentials")
            rate = self._rate_headers(quota)
            fault = req.fault = self.faults.take(req.method, path)
            kind, params = (fault.kind, fault.params) if fault else (None, {})
            if kind == "reset":
                return Reply(0, disconnect="reset")
            if kind == "secondary":
                retry = {} if params["retry_after"] is None else {"Retry-After": str(params["retry_after"])}
                status = params["status"] if params["status"] in (403, 429) else 403
                return self._with(
                    self.error(status, req, params["message"] or SECONDARY_MESSAGE), rate, retry
                )
            if path != "/rate_limit" and quota.remaining <= 0:
                return self._with(self.error(403, req, EXHAUSTED_MESSAGE), rate)
            if kind == "redirect":
                location = params["location"] or "/"
                location = self.base_url + location if location.startswith("/") else location
                reply = self.error(params["status"], req, "Moved Permanently", url=location)
                return self._with(reply, rate, {"Location": location})
            if kind == "status":
                req.notes["consumed"] = self._consume(quota, path)
                return self._with(
                    self.error(params["status"], req, params["message"]), self._rate_headers(quota)
                )

            if req.method == "POST" and path != "/graphql":
                return self.error(404, req, "Not Found")
            if req.method == "POST":
                req.notes["consumed"] = self._consume(quota, path)
                answer = self._graphql(req, quota)
                body = json.dumps(answer, separators=(",", ":")).encode()
                headers = {
                    "Content-Type": JSON,
                    **self._rate_headers(quota),
                    "X-RateLimit-Resource": "graphql",
                }
                reply = Reply(200, body, headers)  # GitHub answers GraphQL errors with 200 too
                return fault.apply(reply) if fault else reply
            try:
                payload, links, last_modified = self.route(path, query)
            except _HTTPProblem as problem:
                req.notes["consumed"] = self._consume(quota, path)
                moved = {"Location": problem.extra["url"]} if problem.status in (301, 302, 307, 308) else {}
                reply = self.error(problem.status, req, problem.message, **problem.extra)
                return self._with(reply, self._rate_headers(quota), moved)
            if path == "/rate_limit":
                payload = self._rate_limit_payload(quota)

            body = json.dumps(payload, separators=(",", ":")).encode()
            tag = etag(body)
            headers: dict[str, str] = {"ETag": tag, "Cache-Control": "private, max-age=60, s-maxage=60"}
            if last_modified is not None:
                headers["Last-Modified"] = http_date(last_modified)
            if kind == "cross_origin_next":
                split = urlsplit(links.get("next") or f"{self.base_url}{path}?page=2")
                links["next"] = f"http://evil.invalid:{self.port}{split.path}?{split.query}"
            if links:
                headers["Link"] = link_header(links)
            if not_modified(req.headers, tag, last_modified):  # a 304 is free: the quota is not touched
                return Reply(304, None, {**headers, **rate})
            req.notes["consumed"] = self._consume(quota, path)
            reply = Reply(200, body, {"Content-Type": JSON, **headers, **self._rate_headers(quota)})
        return fault.apply(reply) if fault else reply

    @staticmethod
    def _with(reply: Reply, *headers: Mapping[str, str]) -> Reply:
        for extra in headers:
            reply.headers.update(extra)
        return reply

    def _rate_limit_payload(self, quota: TokenQuota) -> dict[str, Any]:
        core = {"limit": quota.limit, "used": quota.used, "remaining": quota.remaining, "reset": quota.reset}
        other = {"limit": 30, "used": 0, "remaining": 30, "reset": int(self.clock()) + 60}
        return {
            "resources": {
                "core": {**core, "resource": "core"},
                "search": {**other, "resource": "search"},
                "graphql": {**core, "resource": "graphql"},
            },
            "rate": core,
        }

    # ---------------------------------------------------------------- GraphQL

    def _graphql(self, req: Request, quota: TokenQuota) -> dict[str, Any]:
        """The one query shape the tracker sends: ``p<n>: pullRequest(number: n)`` aliases
        of ``repository(owner: $owner, name: $name)``, plus ``rateLimit``. A pull request that
        does not exist is ``null`` with a ``NOT_FOUND`` error on its alias, as GitHub does."""
        try:
            request = req.json()
            query, variables = str(request["query"]), dict(request.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return {"errors": [{"message": "Problems parsing JSON"}]}
        wanted = re.findall(r"(\w+):\s*pullRequest\(number:\s*(\d+)\)", query)
        first = re.search(r"reviews\(first:\s*(\d+)\)", query)
        if "repository(owner: $owner, name: $name)" not in query or not wanted:
            return {"errors": [{"type": "PARSE", "message": "the fake knows one query shape only"}]}
        self.graphql_queries.append(query)
        if self.graphql_errors:  # an answer the test scripted (e.g. RATE_LIMITED)
            scripted, self.graphql_errors = self.graphql_errors, []
            return {"errors": scripted}
        try:
            repo = self.dataset.repo(f"{variables.get('owner')}/{variables.get('name')}")
        except KeyError:
            return {"data": {"repository": None}, "errors": [{"type": "NOT_FOUND", "path": ["repository"]}]}
        payloads = Payloads(self.dataset, self.base_url)
        nodes: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, number in wanted:
            issue = repo.issues.get(int(number))
            if issue is None or issue.pull is None:
                nodes[alias] = None
                errors.append(
                    {"type": "NOT_FOUND", "path": ["repository", alias], "message": "Could not resolve"}
                )
                continue
            nodes[alias] = payloads.pull_node(
                repo, issue, reviews_first=int(first.group(1)) if first else 100
            )
        reset = dt.datetime.fromtimestamp(quota.reset, dt.UTC)
        data = {
            "rateLimit": {"cost": 1, "remaining": quota.remaining, "resetAt": iso(reset)},
            "repository": nodes,
        }
        return {"data": data, **({"errors": errors} if errors else {})}

    # ---------------------------------------------------------------- routes

    def route(self, path: str, query: dict[str, str]) -> tuple[Any, dict[str, str], dt.datetime | None]:
        """``(payload, links, last_modified)`` for a GET, or raise :class:`_HTTPProblem`."""
        payloads = Payloads(self.dataset, self.base_url)
        if path == "/rate_limit":
            return None, {}, None  # handled by the handler (needs the token's quota)
        m = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        if m:
            repo = self.dataset.repo_by_id(int(m.group(1)))
            if repo is None:
                raise _HTTPProblem(404, "Not Found")
            return self._repo_route(payloads, repo, m.group(2) or "", query)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if m:
            try:
                repo = self.dataset.repo(f"{m.group(1)}/{m.group(2)}")
            except KeyError:
                moved = self.dataset.former_names.get(f"{m.group(1)}/{m.group(2)}".lower())
                if moved is None:
                    raise _HTTPProblem(404, "Not Found") from None
                # GitHub answers a renamed repository's old name with 301 to /repositories/{id}/...
                location = f"{self.base_url}/repositories/{moved}{m.group(3) or ''}"
                if query:
                    location += "?" + urlencode(query)
                raise _HTTPProblem(301, "Moved Permanently", url=location) from None
            return self._repo_route(payloads, repo, m.group(3) or "", query)
        m = re.fullmatch(r"/orgs/([^/]+)/repos", path)
        if m:
            return self._org_repos(payloads, m.group(1), query)
        m = re.fullmatch(r"/users/([^/]+)", path)
        if m and m.group(1) in self.dataset.users:
            return payloads.user(m.group(1)), {}, None
        raise _HTTPProblem(404, "Not Found")

    # ---- pagination

    def _link_base(self, repo: Repo | None, rest: str) -> str:
        if repo is not None and self.link_style == "repositories":
            return f"{self.base_url}/repositories/{repo.id}{rest}"
        if repo is not None:
            return f"{self.base_url}/repos/{repo.full_name}{rest}"
        return f"{self.base_url}{rest}"

    _page = staticmethod(number_page)

    # ---- repository endpoints

    def _repo_route(
        self, p: Payloads, repo: Repo, rest: str, q: dict[str, str]
    ) -> tuple[Any, dict[str, str], dt.datetime | None]:
        if rest == "":
            return p.repo(repo), {}, repo.updated_at
        if rest.startswith("/issues") and not repo.has_issues:
            raise _HTTPProblem(410, "Issues are disabled for this repo")
        if rest == "/commits":
            return self._list_commits(p, repo, q)
        m = re.fullmatch(r"/commits/([^/]+)", rest)
        if m:
            return self._get_commit(p, repo, m.group(1), q)
        if rest == "/issues":
            return self._list_issues(p, repo, q)
        if rest == "/issues/comments":
            comments = self._sorted_comments(repo.issue_comments, q)
            chunk, links = self._page(comments, q, self._link_base(repo, rest))
            return [p.issue_comment(repo, c) for c in chunk], links, None
        m = re.fullmatch(r"/issues/(\d+)(/comments)?", rest)
        if m:
            issue = repo.issues.get(int(m.group(1)))
            if issue is None:
                raise _HTTPProblem(404, "Not Found")
            if m.group(2):
                comments = self._sorted_comments(
                    [c for c in repo.issue_comments if c.issue_number == issue.number], q
                )
                chunk, links = self._page(comments, q, self._link_base(repo, rest))
                return [p.issue_comment(repo, c) for c in chunk], links, None
            return p.issue(repo, issue), {}, issue.updated_at
        if rest == "/pulls":
            return self._list_pulls(p, repo, q)
        if rest == "/pulls/comments":
            comments = self._sorted_comments(repo.review_comments, q)
            chunk, links = self._page(comments, q, self._link_base(repo, rest))
            return [p.review_comment(repo, c) for c in chunk], links, None
        m = re.fullmatch(r"/pulls/(\d+)(/reviews|/comments)?", rest)
        if m:
            issue = repo.issues.get(int(m.group(1)))
            if issue is None or issue.pull is None:
                raise _HTTPProblem(404, "Not Found")
            if m.group(2) == "/reviews":
                reviews = sorted(
                    (r for r in repo.reviews if r.pull_number == issue.number), key=lambda r: r.id
                )
                chunk, links = self._page(reviews, q, self._link_base(repo, rest))
                return [p.review(repo, r) for r in chunk], links, None
            if m.group(2) == "/comments":
                comments = self._sorted_comments(
                    [c for c in repo.review_comments if c.pull_number == issue.number], q
                )
                chunk, links = self._page(comments, q, self._link_base(repo, rest))
                return [p.review_comment(repo, c) for c in chunk], links, None
            return p.pull(repo, issue), {}, issue.updated_at
        m = re.fullmatch(r"/contents/(.+)", rest)
        if m:
            path = m.group(1)
            if path not in repo.files:
                raise _HTTPProblem(404, "Not Found")
            return p.content_file(repo, path, repo.files[path], q.get("ref", repo.default_branch)), {}, None
        raise _HTTPProblem(404, "Not Found")

    def _list_commits(self, p: Payloads, repo: Repo, q: dict[str, str]):
        if not repo.commits:
            raise _HTTPProblem(409, "Git Repository is empty.")
        ref = q.get("sha", repo.default_branch)
        if ref in repo.branches:
            history = repo.branches[ref]
        else:
            branch = next((b for b in repo.branches.values() if any(s.startswith(ref) for s in b)), None)
            if branch is None or len(ref) < 4:
                raise _HTTPProblem(404, "Not Found")
            start = next(i for i, s in enumerate(branch) if s.startswith(ref))
            history = branch[start:]
        commits = [repo.commits[s] for s in history]
        if "since" in q:
            since = _parse_time(q["since"], "since")
            commits = [c for c in commits if c.committed_at >= since]
        if "until" in q:
            until = _parse_time(q["until"], "until")
            commits = [c for c in commits if c.committed_at <= until]
        if q.get("path"):  # one path (file or directory) per request, like GitHub
            path = q["path"].strip("/")
            commits = [
                c
                for c in commits
                if any(f.filename == path or f.filename.startswith(f"{path}/") for f in c.files)
            ]
        chunk, links = self._page(commits, q, self._link_base(repo, "/commits"))
        return [p.commit(repo, c) for c in chunk], links, None

    def _get_commit(self, p: Payloads, repo: Repo, ref: str, q: dict[str, str]):
        sha = (
            repo.branches[ref][0]
            if ref in repo.branches
            else next((s for s in repo.commits if len(ref) >= 7 and s.startswith(ref)), None)
        )
        if sha is None:
            raise _HTTPProblem(422, f"No commit found for SHA: {ref}")
        commit = repo.commits[sha]
        files, links = self._page(
            commit.files,
            q,
            self._link_base(repo, f"/commits/{sha}"),
            default=COMMIT_FILES_PER_PAGE,
            maximum=COMMIT_FILES_PER_PAGE,
            cap=COMMIT_FILES_LIMIT,
        )
        return p.commit(repo, commit, files), links, commit.committed_at

    def _list_issues(self, p: Payloads, repo: Repo, q: dict[str, str]):
        state = _choice(q, "state", ("open", "closed", "all"), "open")
        sort = _choice(q, "sort", ("created", "updated", "comments"), "created")
        direction = _choice(q, "direction", ("asc", "desc"), "desc")
        issues = [i for i in repo.issues.values() if state == "all" or i.state == state]
        if "since" in q:
            since = _parse_time(q["since"], "since")
            issues = [i for i in issues if i.updated_at >= since]
        if q.get("labels"):
            wanted = set(q["labels"].split(","))
            issues = [i for i in issues if wanted <= set(i.labels)]

        def key(i: Issue) -> tuple[Any, int]:
            if sort == "updated":
                return (i.updated_at, i.number)
            if sort == "comments":
                return (sum(1 for c in repo.issue_comments if c.issue_number == i.number), i.number)
            return (i.created_at, i.number)

        issues.sort(key=key, reverse=direction == "desc")
        chunk, links = self._page(issues, q, self._link_base(repo, "/issues"))
        return [p.issue(repo, i) for i in chunk], links, None

    def _list_pulls(self, p: Payloads, repo: Repo, q: dict[str, str]):
        state = _choice(q, "state", ("open", "closed", "all"), "open")
        sort = _choice(q, "sort", ("created", "updated", "popularity", "long-running"), "created")
        direction = _choice(q, "direction", ("asc", "desc"), "desc")
        pulls = [i for i in repo.issues.values() if i.pull and (state == "all" or i.state == state)]
        pulls.sort(
            key=lambda i: (i.updated_at if sort == "updated" else i.created_at, i.number),
            reverse=direction == "desc",
        )
        chunk, links = self._page(pulls, q, self._link_base(repo, "/pulls"))
        return [p.pull_summary(repo, i) for i in chunk], links, None

    @staticmethod
    def _sorted_comments(comments: list[Any], q: dict[str, str]) -> list[Any]:
        sort = _choice(q, "sort", ("created", "updated"), "created")
        direction = _choice(q, "direction", ("asc", "desc"), "asc") if "sort" in q else "asc"
        items = list(comments)
        if "since" in q:
            since = _parse_time(q["since"], "since")
            items = [c for c in items if c.updated_at >= since]
        items.sort(
            key=lambda c: (c.updated_at if sort == "updated" else c.created_at, c.id),
            reverse=direction == "desc",
        )
        return items

    def _org_repos(self, p: Payloads, org: str, q: dict[str, str]):
        if org not in self.dataset.orgs:
            raise _HTTPProblem(404, "Not Found")
        kind = _choice(q, "type", ("all", "public", "private", "forks", "sources", "member"), "all")
        sort = _choice(q, "sort", ("created", "updated", "pushed", "full_name"), "created")
        direction = _choice(q, "direction", ("asc", "desc"), "asc" if sort == "full_name" else "desc")
        repos = [self.dataset.repo(n) for n in self.dataset.orgs[org]]
        if kind == "public":
            repos = [r for r in repos if not r.private]
        elif kind == "private":
            repos = [r for r in repos if r.private]
        elif kind == "forks":
            repos = [r for r in repos if r.fork]
        elif kind == "sources":
            repos = [r for r in repos if not r.fork]
        attr = {
            "created": "created_at",
            "updated": "updated_at",
            "pushed": "pushed_at",
            "full_name": "full_name",
        }
        repos.sort(key=lambda r: (getattr(r, attr[sort]), r.id), reverse=direction == "desc")
        chunk, links = self._page(repos, q, self._link_base(None, f"/orgs/{org}/repos"))
        return [p.repo(r) for r in chunk], links, None


def _reason(status: int) -> str:
    return {
        401: "Bad credentials",
        403: "Resource not accessible by personal access token",
        404: "Not Found",
        409: "Conflict",
        422: "Validation Failed",
        500: "Server Error",
        502: "Server Error",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--dataset", default="small", choices=("small", "large", "empty"))
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="accepted token, optionally TOKEN:LIMIT (repeatable; none = accept any token)",
    )
    parser.add_argument(
        "--clone-url-root",
        help="serve every clone_url as file://ROOT/owner/name.git (local git only, never github.com)",
    )
    args = parser.parse_args(argv)
    tokens = None
    if args.token:
        tokens = {}
        for item in args.token:
            name, _, limit = item.partition(":")
            tokens[name] = int(limit or 5000)
    dataset = build_dataset(args.dataset)
    if args.clone_url_root:
        root = Path(args.clone_url_root).resolve()
        for repo in dataset.repos.values():
            repo.clone_url = (root / f"{repo.full_name}.git").as_uri()
    server = FakeGitHubServer(dataset, tokens=tokens, host=args.host, port=args.port)
    print(f"fake GitHub API serving dataset {args.dataset!r} on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
