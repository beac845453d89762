"""Git Data API writer: publish a set of files to a branch in at most one commit per run.

``GitDataWriter.publish(files, deletes, message=...)``:

1. read the branch head (``GET git/ref/heads/B``, ``GET git/commits/SHA``) and the remote tree
   (``GET git/trees/T?recursive=1``; when GitHub answers ``truncated``, only the directories on
   the way to the paths at stake are listed, one ``GET git/trees/DIR`` each);
2. plan: each file's git blob sha is computed locally and compared with the remote one; only
   changed files are sent, only deletions of paths that exist are kept; nothing left, no commit;
3. commit: text files inline in ``POST git/trees`` (no blob request), binary files as
   ``POST git/blobs``; big plans in several chained tree requests under a body cap; one
   ``POST git/commits``; then ``PATCH git/refs/heads/B`` with ``force: false``;
4. a ref update refused because the branch moved (a concurrent push) re-plans against the
   new head and tries again, ``max_attempts`` times in all, then :class:`ConflictError`.

Blobs, trees and commits are content-addressed, so their requests are retried on transient
failures; the ref update is not retried blindly: after a failure the ref is read back (moved
to our commit: done; moved elsewhere: a race; unmoved: the error stands). Content-creating
requests are paced ``write_interval`` seconds apart (GitHub's guidance for its secondary
limits); a secondary-limit refusal waits ``Retry-After`` within the client's bound, beyond it
it is :class:`~core.errors.RateLimitError` with ``retry_at``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import orjson
from pydantic import BaseModel, ValidationError

from core.errors import ConflictError, DataValidationError, NetworkError, SourceTimeoutError
from core.operations.http import HttpClient, NotFoundError

__all__ = [
    "FILE_MODE",
    "Content",
    "FileData",
    "GitDataWriter",
    "Head",
    "Plan",
    "PublishOutcome",
    "git_blob_sha",
    "is_text",
]

log = logging.getLogger("core.operations.github.gitdata")

FILE_MODE = "100644"
DEFAULT_MAX_TREE_REQUEST_BYTES = 4_000_000
Adopt = Callable[[Mapping[str, str]], Iterable[str]]


@runtime_checkable
class Content(Protocol):
    """A file's bytes kept elsewhere (a spool on disk): its git blob ``sha``, read on demand, so a
    big publish holds one tree request's worth of content in memory, not every file."""

    @property
    def sha(self) -> str: ...

    def read(self) -> bytes: ...


FileData = bytes | Content


def _sha_of(data: FileData) -> str:
    return git_blob_sha(data) if isinstance(data, bytes) else data.sha


def _bytes_of(data: FileData) -> bytes:
    return data if isinstance(data, bytes) else data.read()


def git_blob_sha(data: bytes) -> str:
    """The sha git gives a blob of ``data`` (``sha1("blob <len>\\0" + data)``)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def is_text(data: bytes) -> bool:
    """UTF-8 without NUL bytes: sent inline in the tree request (the same bytes, the same sha)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Object(BaseModel):
    sha: str


class _Ref(BaseModel):
    object: _Object


class _Commit(BaseModel):
    sha: str
    tree: _Object


class _TreeEntry(BaseModel):
    path: str
    type: str
    sha: str | None = None
    mode: str | None = None


class _Tree(BaseModel):
    sha: str
    tree: list[_TreeEntry]
    truncated: bool = False


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], data: Any, endpoint: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "$." + ".".join(str(p) for p in first["loc"])
        raise DataValidationError(
            f"unexpected answer ({first['msg']})", source=endpoint, location=where
        ) from None


@dataclasses.dataclass(frozen=True)
class Head:
    commit: str
    tree: str


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one commit would change: ``writes`` (path -> bytes) and ``deletes`` (existing paths)."""

    base: Head
    writes: Mapping[str, FileData]
    deletes: tuple[str, ...]
    unchanged: int
    skipped_deletes: tuple[str, ...]  # asked for, but not in the remote tree: nothing to do

    @property
    def empty(self) -> bool:
        return not self.writes and not self.deletes


@dataclasses.dataclass(frozen=True)
class PublishOutcome:
    """``commit`` is the new commit (``None``: nothing changed, or a dry run); ``head`` the
    branch head afterwards (for a dry run or no change, the head the plan was made against)."""

    commit: str | None
    head: str
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int
    skipped_deletes: int
    attempts: int
    blob_requests: int
    tree_requests: int
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "files_written": len(self.written),
            "files_deleted": len(self.deleted),
            "files_unchanged": self.unchanged,
            "deletes_skipped": self.skipped_deletes,
            "commits": 0 if self.commit is None else 1,
            "attempts": self.attempts,
            "blob_requests": self.blob_requests,
            "tree_requests": self.tree_requests,
        }


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class GitDataWriter:
    """Writes to ``repository`` (``owner/name``) on ``branch`` through ``client`` (a
    :class:`~core.operations.github.GitHubClient` holding a token with ``contents:write`` on
    that repository only). ``clock``/``sleep`` pace the content-creating requests."""

    def __init__(
        self,
        client: HttpClient,
        repository: str,
        branch: str,
        *,
        max_attempts: int = 3,
        max_tree_request_bytes: int = DEFAULT_MAX_TREE_REQUEST_BYTES,
        write_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.repository = repository
        self.branch = branch
        self.max_attempts = max_attempts
        self.max_tree_request_bytes = max_tree_request_bytes
        self.write_interval = write_interval
        self._clock = clock
        self._sleep = sleep
        self._last_write: float | None = None
        self._blob_requests = 0
        self._tree_requests = 0

    # ------------------------------------------------------------------ reading

    @property
    def _repo(self) -> str:
        return f"/repos/{self.repository}"

    def head(self) -> Head:
        """The branch's commit and its tree."""
        endpoint = f"{self._repo}/git/ref/heads/{self.branch}"
        try:
            ref = _parse(_Ref, self.client.get(endpoint).data, endpoint)
        except NotFoundError:
            raise NotFoundError(
                f"branch {self.branch!r} of {self.repository} not found, or not visible to the "
                "publishing token (create the branch; check the token's repository access)"
            ) from None
        commit_endpoint = f"{self._repo}/git/commits/{ref.object.sha}"
        commit = _parse(_Commit, self.client.get(commit_endpoint).data, commit_endpoint)
        return Head(commit=commit.sha, tree=commit.tree.sha)

    def remote_files(self, tree: str, paths: Collection[str] = ()) -> dict[str, str]:
        """Blob paths -> shas of ``tree``. Complete when GitHub lists it whole; when it answers
        ``truncated``, complete for the directories on the way to ``paths`` (and their files)."""
        endpoint = f"{self._repo}/git/trees/{tree}"
        listing = _parse(_Tree, self.client.get(endpoint, {"recursive": "1"}).data, endpoint)
        if not listing.truncated:
            return {e.path: e.sha for e in listing.tree if e.type == "blob" and e.sha}
        wanted = {parent for path in paths for parent in _parents(path)}
        log.info(
            "%s: the recursive tree is truncated; listing %d directories one by one",
            self.repository,
            len(wanted) + 1,
        )
        files: dict[str, str] = {}
        pending = [("", tree)]
        while pending:
            prefix, sha = pending.pop()
            endpoint = f"{self._repo}/git/trees/{sha}"
            level = _parse(_Tree, self.client.get(endpoint).data, endpoint)
            for entry in level.tree:
                path = f"{prefix}/{entry.path}" if prefix else entry.path
                if entry.type == "blob" and entry.sha:
                    files[path] = entry.sha
                elif entry.type == "tree" and entry.sha and path in wanted:
                    pending.append((path, entry.sha))
        return files

    # ------------------------------------------------------------------ planning

    def plan(
        self, files: Mapping[str, FileData], deletes: Collection[str] = (), *, adopt: Adopt | None = None
    ) -> Plan:
        """The plan against the current head (see :meth:`publish` for ``adopt``)."""
        return self._plan(self.head(), files, deletes, adopt)

    def _plan(
        self, head: Head, files: Mapping[str, FileData], deletes: Collection[str], adopt: Adopt | None
    ) -> Plan:
        at_stake = [*files, *deletes]
        remote = self.remote_files(head.tree, at_stake)
        writes = {path: data for path, data in files.items() if remote.get(path) != _sha_of(data)}
        wanted_deletes = set(deletes)
        if adopt is not None:
            wanted_deletes.update(adopt(remote))
        wanted_deletes.difference_update(files)  # a path both written and deleted is written
        existing = sorted(p for p in wanted_deletes if p in remote)
        skipped = sorted(wanted_deletes.difference(existing))
        return Plan(
            base=head,
            writes=dict(sorted(writes.items())),
            deletes=tuple(existing),
            unchanged=len(files) - len(writes),
            skipped_deletes=tuple(skipped),
        )

    # ------------------------------------------------------------------ writing

    def publish(
        self,
        files: Mapping[str, FileData],
        deletes: Collection[str] = (),
        *,
        message: str | Callable[[Plan], str],
        adopt: Adopt | None = None,
        dry_run: bool = False,
    ) -> PublishOutcome:
        """Make the branch hold ``files`` and not ``deletes``, in one commit or none.

        ``adopt(remote)`` may name more paths to delete once the remote tree is known (first
        adoption of a repository: stale names of the same items); it is asked again on every
        attempt. ``message`` may be a function of the plan. ``dry_run`` plans against the real
        head and writes nothing.
        """
        self._blob_requests = self._tree_requests = 0
        for attempt in range(1, self.max_attempts + 1):
            head = self.head()
            plan = self._plan(head, files, deletes, adopt)
            if plan.empty or dry_run:
                return self._outcome(plan, None, head.commit, attempt, dry_run=dry_run)
            commit = self._commit(plan, message(plan) if callable(message) else message)
            if self._move_ref(head.commit, commit):
                return self._outcome(plan, commit, commit, attempt)
            log.warning(
                "%s@%s moved during the publish (attempt %d/%d); planning again on the new head",
                self.repository,
                self.branch,
                attempt,
                self.max_attempts,
            )
        raise ConflictError(
            f"{self.repository}@{self.branch} moved during each of {self.max_attempts} publish "
            "attempts (concurrent pushes); nothing was published, the next run tries again"
        )

    def _outcome(
        self, plan: Plan, commit: str | None, head: str, attempts: int, *, dry_run: bool = False
    ) -> PublishOutcome:
        return PublishOutcome(
            commit=commit,
            head=head,
            written=tuple(plan.writes),
            deleted=plan.deletes,
            unchanged=plan.unchanged,
            skipped_deletes=len(plan.skipped_deletes),
            attempts=attempts,
            blob_requests=self._blob_requests,
            tree_requests=self._tree_requests,
            dry_run=dry_run,
        )

    def _pace(self) -> None:
        if self._last_write is not None and self.write_interval > 0:
            wait = self._last_write + self.write_interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_write = self._clock()

    def _create(self, path: str, payload: Mapping[str, Any]) -> str:
        """A content-addressed object (blob, tree, commit): safe to retry. Returns its sha."""
        self._pace()
        endpoint = f"{self._repo}/git/{path}"
        created = _parse(_Object, self.client.send("POST", endpoint, payload, idempotent=True).data, endpoint)
        return created.sha

    def _entries(self, plan: Plan) -> Iterator[dict[str, Any]]:
        """Tree entries, content read one file at a time (binary files become blobs first)."""
        for path, stored in plan.writes.items():
            data = _bytes_of(stored)
            entry: dict[str, Any] = {"path": path, "mode": FILE_MODE, "type": "blob"}
            if is_text(data):
                entry["content"] = data.decode("utf-8")
            else:
                self._blob_requests += 1
                entry["sha"] = self._create(
                    "blobs", {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
                )
            yield entry
        for path in plan.deletes:
            yield {"path": path, "mode": FILE_MODE, "type": "blob", "sha": None}

    def _chunks(self, entries: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            entry_size = len(orjson.dumps(entry)) + 1
            if chunk and size + entry_size > self.max_tree_request_bytes:
                yield chunk
                chunk, size = [], 0
            chunk.append(entry)
            size += entry_size
        if chunk:
            yield chunk

    def _commit(self, plan: Plan, message: str) -> str:
        tree = plan.base.tree
        for chunk in self._chunks(self._entries(plan)):
            self._tree_requests += 1
            tree = self._create("trees", {"base_tree": tree, "tree": chunk})
        return self._create("commits", {"message": message, "tree": tree, "parents": [plan.base.commit]})

    def _move_ref(self, base: str, commit: str) -> bool:
        """Fast-forward the branch from ``base`` to ``commit``: ``True`` done, ``False`` it moved."""
        self._pace()
        endpoint = f"{self._repo}/git/refs/heads/{self.branch}"
        try:
            self.client.send("PATCH", endpoint, {"sha": commit, "force": False}, idempotent=False)
            return True
        except (DataValidationError, NetworkError, SourceTimeoutError):
            current = self.head().commit  # what happened? read it back
            if current == commit:
                return True  # our update landed; only its answer was lost
            if current != base:
                return False  # another push moved the branch: re-plan
            raise
