"""Full file lists of commits, including the ones GitHub truncates.

``GET /repos/{o}/{r}/commits/{sha}`` returns 300 files per page and at most 3000 files in
all. For a commit with more than one page of files there are two ways to the full list:

``api``
    follow the endpoint's file pages: one REST request (one unit of quota) per 300 files,
    and nothing beyond 3000 files;
``git``
    ``git fetch --no-tags --depth=2 --filter=blob:none <clone_url> <sha>`` into a local bare
    cache, then ``git diff-tree -r -M`` (``--numstat`` and ``--name-status``) against the
    first parent: no REST quota at all, any number of files, costs a fetch of the commit's
    trees (blobs of the changed files are fetched lazily for the line counts).

:class:`CommitFileFetcher` picks the way that costs fewer REST requests: the API when at
most ``threshold_pages`` more pages remain (cheap, no local state), git beyond that or when
the commit may exceed the 3000-file cap, and the API again if git is unavailable or fails.
What each way cost is recorded in :class:`FileListResult` (requests, seconds), and the
collector reports it in its counts.

The token reaches git only through ``GIT_CONFIG_COUNT``/``http.<origin>.extraHeader`` in
the environment (never argv), only for the GitHub web host, and git's stderr is sanitized.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from core.errors import CollectorError, CollectorFailureCategory, sanitize_text
from core.operations.github_ops import GitHubClient, GitHubResponse, Pages
from github_activity_tracker.api_schemas import Commit, CommitFile, parse_object

__all__ = [
    "COMMIT_FILES_LIMIT",
    "COMMIT_FILES_PER_PAGE",
    "CommitFileFetcher",
    "FileListResult",
    "GitCommitCache",
    "GitError",
    "parse_diff_tree",
]

log = logging.getLogger(__name__)

COMMIT_FILES_PER_PAGE = 300
COMMIT_FILES_LIMIT = 3000


class GitError(CollectorError):
    """A git command failed (message sanitized)."""

    category = CollectorFailureCategory.COMMAND


@dataclasses.dataclass
class FileListResult:
    commit: Commit
    files: list[CommitFile]
    complete: bool
    source: str  # api | git
    api_requests: int  # REST requests spent on this commit (page 1 included)
    git_seconds: float = 0.0
    git_failed: bool = False


# --------------------------------------------------------------------------- git


_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def parse_diff_tree(numstat: str, name_status: str) -> list[CommitFile]:
    """Merge ``git diff-tree -z --numstat`` and ``-z --name-status`` output into file changes."""
    counts: dict[str, tuple[int, int]] = {}
    parts = numstat.split("\0")
    i = 0
    while i < len(parts):
        entry = parts[i]
        i += 1
        if not entry:
            continue
        added, deleted, path = entry.split("\t", 2)
        if not path:  # rename/copy: the two paths follow
            path = parts[i + 1]
            i += 2
        counts[path] = (int(added) if added.isdigit() else 0, int(deleted) if deleted.isdigit() else 0)
    files: list[CommitFile] = []
    parts = name_status.split("\0")
    i = 0
    while i < len(parts):
        code = parts[i]
        i += 1
        if not code:
            continue
        kind = _STATUS.get(code[0], "modified")
        previous = None
        if code[0] in "RC":
            previous, path = parts[i], parts[i + 1]
            i += 2
        else:
            path = parts[i]
            i += 1
        added, deleted = counts.get(path, (0, 0))
        files.append(
            CommitFile(
                filename=path,
                status=kind,
                additions=added,
                deletions=deleted,
                changes=added + deleted,
                previous_filename=previous,
            )
        )
    return files


class GitCommitCache:
    """Bare partial clones under ``root``, one per clone URL, fetched commit by commit."""

    def __init__(
        self,
        root: Path,
        *,
        tokens: Sequence[str] = (),
        auth_host: str = "github.com",
        timeout: float = 900.0,
        git: str | None = None,
    ) -> None:
        self.root = root
        self._tokens = [t for t in tokens if t]
        self._auth_host = auth_host.lower()
        self._timeout = timeout
        self._git = git or shutil.which("git")

    @property
    def available(self) -> bool:
        return self._git is not None

    def usable_for(self, clone_url: str | None) -> bool:
        if not self.available or not clone_url:
            return False
        return urlsplit(clone_url).scheme in {"https", "http", "file"}

    def _env(self, clone_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_")}
        env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"})
        parts = urlsplit(clone_url)
        if self._tokens and parts.scheme == "https" and (parts.hostname or "").lower() == self._auth_host:
            basic = base64.b64encode(f"x-access-token:{self._tokens[0]}".encode()).decode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": f"http.https://{parts.netloc}/.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
                }
            )
        return env

    def _run(self, args: Sequence[str], *, env: dict[str, str], cwd: Path | None = None) -> str:
        assert self._git is not None
        try:
            completed = subprocess.run(
                [self._git, *args],
                cwd=cwd,
                env=env,
                capture_output=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {self._timeout:.0f}s") from None
        if completed.returncode != 0:
            stderr = completed.stderr.decode("utf-8", "replace").strip()
            command = next((a for a in args if not a.startswith("-") and "/" not in a), args[0])
            raise GitError(f"git {command} failed ({completed.returncode}): {self.redact(stderr)[-500:]}")
        return completed.stdout.decode("utf-8", "surrogateescape")

    def redact(self, text: str) -> str:
        secrets = [*self._tokens]
        secrets += [base64.b64encode(f"x-access-token:{t}".encode()).decode() for t in self._tokens]
        return sanitize_text(text, secrets)

    def path_for(self, clone_url: str) -> Path:
        parts = urlsplit(clone_url)
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{parts.hostname or 'local'}{parts.path}").strip("_")
        digest = hashlib.sha256(clone_url.encode()).hexdigest()[:10]
        return self.root / f"{label[-80:]}-{digest}.git"

    def diff_files(self, clone_url: str, sha: str) -> list[CommitFile]:
        """Every file the commit changed against its first parent (all files for a root commit)."""
        if not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", sha):
            raise GitError("not a commit sha")
        env = self._env(clone_url)
        repo = self.path_for(clone_url)
        if not (repo / "HEAD").exists():
            repo.parent.mkdir(parents=True, exist_ok=True)
            self._run(["init", "--bare", "--quiet", str(repo)], env=env)
        git_dir = ["--git-dir", str(repo)]
        try:
            self._run([*git_dir, "cat-file", "-e", f"{sha}^{{commit}}"], env=env)
        except GitError:
            self._run(
                [
                    *git_dir,
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--depth=2",
                    "--filter=blob:none",
                    clone_url,
                    sha,
                ],
                env=env,
            )
        parents = self._run([*git_dir, "rev-list", "--parents", "-n", "1", sha], env=env).split()
        revs = [f"{sha}^", sha] if len(parents) > 1 else ["--root", sha]
        base = [*git_dir, "diff-tree", "-r", "-M", "-z", "--no-commit-id"]
        numstat = self._run([*base, "--numstat", *revs], env=env)
        name_status = self._run([*base, "--name-status", *revs], env=env)
        return parse_diff_tree(numstat, name_status)


# --------------------------------------------------------------------------- the choice


def _last_page(response: GitHubResponse) -> int | None:
    last = response.links.get("last")
    if not last:
        return None
    values = parse_qs(urlsplit(last).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None


def _complete(commit: Commit, files: Sequence[CommitFile]) -> bool:
    if len(files) >= COMMIT_FILES_LIMIT:
        return False
    # stats describe the whole commit: fewer changed lines listed than it counts means files are missing
    return commit.stats is None or sum(f.changes for f in files) >= commit.stats.total


class CommitFileFetcher:
    """Fetches one commit's details and its full file list the cheapest way (see module doc)."""

    def __init__(
        self,
        client: GitHubClient,
        git: GitCommitCache | None,
        *,
        strategy: str = "auto",
        threshold_pages: int = 3,
    ) -> None:
        self.client = client
        self.git = git
        self.strategy = strategy
        self.threshold_pages = threshold_pages

    def fetch(self, repo: str, sha: str, clone_url: str | None) -> FileListResult:
        first = self.client.get(f"/repos/{repo}/commits/{sha}")
        commit = parse_object(Commit, first.data, endpoint=first.endpoint)
        files = list(commit.files or [])
        if first.next_url is None:
            return FileListResult(commit, files, _complete(commit, files), "api", 1)

        last = _last_page(first)
        remaining = (last - 1) if last else None
        may_exceed_cap = last is None or last * COMMIT_FILES_PER_PAGE >= COMMIT_FILES_LIMIT
        git_ok = self.git is not None and self.git.usable_for(clone_url)
        prefer_git = self.strategy == "git" or (
            self.strategy == "auto" and (remaining is None or remaining > self.threshold_pages)
        )
        git_failed = False
        if git_ok and (prefer_git or (may_exceed_cap and self.strategy != "api")):
            result = self._via_git(commit, clone_url, api_requests=1)
            if result is not None:
                return result
            git_failed = True

        requests = 1
        for number, page in enumerate(Pages(self.client, first)):
            if number == 0:  # the first page, already read
                continue
            requests += 1
            more = parse_object(Commit, page.data, endpoint=page.endpoint)
            files.extend(more.files or [])
        complete = _complete(commit, files)
        if not complete and git_ok and not git_failed:
            result = self._via_git(commit, clone_url, api_requests=requests)
            if result is not None:
                return result
            git_failed = True
        if not complete:
            log.warning(
                "%s@%s: GitHub lists %d files and the rest is past its %d-file limit; %s",
                repo,
                sha[:12],
                len(files),
                COMMIT_FILES_LIMIT,
                "git recovery failed" if git_failed else "no git clone URL/binary for recovery",
            )
        return FileListResult(commit, files, complete, "api", requests, git_failed=git_failed)

    def _via_git(self, commit: Commit, clone_url: str | None, *, api_requests: int) -> FileListResult | None:
        assert self.git is not None and clone_url is not None
        started = time.monotonic()
        try:
            files = self.git.diff_files(clone_url, commit.sha)
        except (GitError, OSError) as exc:
            log.warning(
                "git recovery of %s failed, using the API: %s", commit.sha[:12], self.git.redact(str(exc))
            )
            return None
        seconds = time.monotonic() - started
        log.info(
            "%s: %d files recovered with git in %.2fs (%d REST request(s))",
            commit.sha[:12],
            len(files),
            seconds,
            api_requests,
        )
        return FileListResult(commit, files, True, "git", api_requests, git_seconds=seconds)
