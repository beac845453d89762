"""A local server speaking GitHub's Git Data API over a real git object store, for tests and benches.

Objects are stored as git stores them (``blob``, ``tree``, ``commit``, content-addressed by the
SHA-1 of their git encoding), so a published branch can be checked file by file and a blob sha
computed by the client must match the server's. Endpoints (under ``/repos/{owner}/{repo}/git``):

* ``GET ref/heads/B``, ``GET commits/SHA``, ``GET trees/SHA[?recursive=1]`` (a recursive listing
  of more than ``truncate_above`` entries answers the first ones with ``truncated: true``, as
  GitHub does past its limit), ``GET blobs/SHA``;
* ``POST blobs`` (``utf-8`` or ``base64``), ``POST trees`` (``base_tree``; entries with
  ``content``, ``sha`` or ``sha: null`` to delete; **422** for deleting a path that does not
  exist, or a ``sha`` the store does not have), ``POST commits``;
* ``PATCH refs/heads/B`` (``sha``, ``force``): **422** "Update is not a fast forward" unless
  the new commit descends from the current head, or ``force``.

Every request needs ``Authorization: Bearer <token>`` (401 otherwise). Faults come from the
wire toolkit; :meth:`FakeGitDataServer.secondary_limit` queues GitHub's 403 secondary-limit
refusal with ``Retry-After`` and :meth:`FakeGitDataServer.concurrent_push` is a push by someone
else (optionally from inside the next request of a given kind, to race the client).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes import wire

Reply, Request, Fault = wire.Reply, wire.Request, wire.Fault

__all__ = ["FakeGitDataServer", "git_sha"]

_PATH = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/git/(?P<rest>.+)$")
FILE_MODE = "100644"
TREE_MODE = "40000"


def git_sha(kind: str, content: bytes) -> str:
    return hashlib.sha1(
        f"{kind} {len(content)}".encode() + b"\x00" + content, usedforsecurity=False
    ).hexdigest()


class FakeGitDataServer(wire.WireServer):
    thread_name = "gitdata-fake"

    def __init__(
        self,
        repository: str = "octo/context",
        *,
        token: str = "publish-token",  # noqa: S107 - a test credential
        branch: str = "main",
        truncate_above: int = 100_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.repository = repository
        self.token = token
        self.truncate_above = truncate_above
        self.objects: dict[str, tuple[str, bytes]] = {}
        self.refs: dict[str, str] = {}
        self._lock = threading.RLock()
        self._tick = 0
        self._before: dict[str, list[Callable[[], None]]] = {}
        self.refs[branch] = self.commit_files({"README.md": b"# context\n"}, parents=[], message="init")

    # ------------------------------------------------------------------ object store

    def _put(self, kind: str, content: bytes) -> str:
        sha = git_sha(kind, content)
        with self._lock:
            self.objects[sha] = (kind, content)
        return sha

    def _get(self, sha: str, kind: str) -> bytes | None:
        found = self.objects.get(sha)
        return found[1] if found and found[0] == kind else None

    def _tree_entries(self, sha: str) -> list[tuple[str, str, str]]:
        """(mode, name, sha) of one tree object."""
        content = self._get(sha, "tree")
        if content is None:
            raise KeyError(sha)
        entries = []
        pos = 0
        while pos < len(content):
            space = content.index(b" ", pos)
            nul = content.index(b"\x00", space)
            mode, name = content[pos:space].decode(), content[space + 1 : nul].decode()
            entries.append((mode, name, content[nul + 1 : nul + 21].hex()))
            pos = nul + 21
        return entries

    def _flatten(self, tree: str, prefix: str = "") -> dict[str, str]:
        files: dict[str, str] = {}
        for mode, name, sha in self._tree_entries(tree):
            path = f"{prefix}{name}"
            if mode == TREE_MODE:
                files.update(self._flatten(sha, path + "/"))
            else:
                files[path] = sha
        return files

    def _build_tree(self, files: Mapping[str, str]) -> str:
        children: dict[str, dict[str, str]] = {}
        blobs: dict[str, str] = {}
        for path, sha in files.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head, {})[rest] = sha
            else:
                blobs[head] = sha
        entries = [(FILE_MODE, name, sha) for name, sha in blobs.items()]
        entries += [(TREE_MODE, name, self._build_tree(sub)) for name, sub in children.items()]
        # git orders tree entries by name, a directory's name compared with a trailing "/"
        entries.sort(key=lambda e: e[1] + ("/" if e[0] == TREE_MODE else ""))
        content = b"".join(
            f"{mode} {name}".encode() + b"\x00" + bytes.fromhex(sha) for mode, name, sha in entries
        )
        return self._put("tree", content)

    def _commit(self, tree: str, parents: list[str], message: str) -> str:
        self._tick += 1
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines.append(f"author Fake <fake@example.com> {1_700_000_000 + self._tick} +0000")
        lines.append(f"committer Fake <fake@example.com> {1_700_000_000 + self._tick} +0000")
        return self._put("commit", ("\n".join(lines) + "\n\n" + message).encode())

    def _commit_fields(self, sha: str) -> tuple[str, list[str], str]:
        content = self._get(sha, "commit")
        if content is None:
            raise KeyError(sha)
        header, _, message = content.decode().partition("\n\n")
        tree = ""
        parents: list[str] = []
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
        return tree, parents, message

    def _ancestors(self, sha: str) -> set[str]:
        seen: set[str] = set()
        stack = [sha]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self._commit_fields(current)[1])
        return seen

    # ------------------------------------------------------------------ test controls

    def commit_files(self, files: Mapping[str, bytes], *, parents: list[str], message: str = "test") -> str:
        tree = self._build_tree({path: self._put("blob", data) for path, data in files.items()})
        return self._commit(tree, parents, message)

    def files(self, branch: str = "main") -> dict[str, bytes]:
        """The branch's files, path -> bytes."""
        tree = self._commit_fields(self.refs[branch])[0]
        return {path: self._get(sha, "blob") or b"" for path, sha in self._flatten(tree).items()}

    def head(self, branch: str = "main") -> str:
        return self.refs[branch]

    def commit_count(self, branch: str = "main") -> int:
        return len(self._ancestors(self.refs[branch]))

    def commit_message(self, sha: str) -> str:
        return self._commit_fields(sha)[2]

    def parents(self, sha: str) -> list[str]:
        return self._commit_fields(sha)[1]

    def seed(self, files: Mapping[str, bytes], branch: str = "main") -> str:
        """Replace the branch's content with ``files`` in one commit (an existing repository)."""
        with self._lock:
            self.refs[branch] = self.commit_files(files, parents=[self.refs[branch]], message="seed")
            return self.refs[branch]

    def concurrent_push(
        self,
        changes: Mapping[str, bytes | None],
        *,
        branch: str = "main",
        before: str | None = None,
    ) -> None:
        """Someone else pushes ``changes`` (``None`` deletes); with ``before`` (e.g. ``"PATCH"``,
        ``"POST commits"``) it happens just before the next such request is answered."""

        def push() -> None:
            with self._lock:
                tree = self._commit_fields(self.refs[branch])[0]
                files = self._flatten(tree)
                for path, data in changes.items():
                    if data is None:
                        files.pop(path, None)
                    else:
                        files[path] = self._put("blob", data)
                self.refs[branch] = self._commit(self._build_tree(files), [self.refs[branch]], "someone else")

        if before is None:
            push()
        else:
            self._before.setdefault(before, []).append(push)

    def secondary_limit(
        self, *, retry_after: int = 60, method: str = "POST", path: str = "", times: int = 1
    ) -> None:
        """GitHub's secondary-limit refusal for the next ``times`` matching requests."""
        self.inject(
            Fault(
                status=403,
                headers={"Retry-After": str(retry_after)},
                body=b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}',
                method=method,
                path=f"/repos/{self.repository}/git/{path}" if path else None,
                times=times,
                kind="secondary_limit",
            )
        )

    # ------------------------------------------------------------------ HTTP

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("Authorization") or ""
        request.notes["token"] = auth.removeprefix("Bearer ").removeprefix("token ")
        if auth not in {f"Bearer {self.token}", f"token {self.token}"}:
            return Reply.json(401, {"message": "Bad credentials"})
        match = _PATH.match(request.path)
        if not match or match["repo"] != self.repository:
            return Reply.json(404, {"message": "Not Found"})
        rest = match["rest"]
        for key in (request.method, f"{request.method} {rest.split('/')[0]}"):
            hooks = self._before.get(key)
            if hooks:
                hooks.pop(0)()  # one queued push per matching request
        with self._lock:
            return self._route(request, rest)

    def _route(self, request: Request, rest: str) -> Reply:
        method = request.method
        if method == "GET" and rest.startswith("ref/heads/"):
            branch = rest.removeprefix("ref/heads/")
            if branch not in self.refs:
                return Reply.json(404, {"message": "Not Found"})
            return Reply.json(200, self._ref_json(branch))
        if method == "GET" and rest.startswith("commits/"):
            return self._get_commit(rest.removeprefix("commits/"))
        if method == "GET" and rest.startswith("trees/"):
            return self._get_tree(
                rest.removeprefix("trees/"), request.query.get("recursive") not in (None, "", "0", "false")
            )
        if method == "GET" and rest.startswith("blobs/"):
            content = self._get(rest.removeprefix("blobs/"), "blob")
            if content is None:
                return Reply.json(404, {"message": "Not Found"})
            return Reply.json(
                200,
                {
                    "sha": rest.removeprefix("blobs/"),
                    "content": base64.b64encode(content).decode(),
                    "encoding": "base64",
                },
            )
        if method == "POST" and rest == "blobs":
            return self._post_blob(request.json())
        if method == "POST" and rest == "trees":
            return self._post_tree(request.json())
        if method == "POST" and rest == "commits":
            return self._post_commit(request.json())
        if method == "PATCH" and rest.startswith("refs/heads/"):
            return self._patch_ref(rest.removeprefix("refs/heads/"), request.json())
        return Reply.json(404, {"message": "Not Found"})

    def _ref_json(self, branch: str) -> dict[str, Any]:
        return {"ref": f"refs/heads/{branch}", "object": {"type": "commit", "sha": self.refs[branch]}}

    def _get_commit(self, sha: str) -> Reply:
        try:
            tree, parents, message = self._commit_fields(sha)
        except KeyError:
            return Reply.json(404, {"message": "Not Found"})
        return Reply.json(
            200,
            {"sha": sha, "tree": {"sha": tree}, "parents": [{"sha": p} for p in parents], "message": message},
        )

    def _get_tree(self, sha: str, recursive: bool) -> Reply:
        try:
            if recursive:
                entries = []
                for path, (mode, blob) in sorted(self._walk(sha).items()):
                    entries.append(
                        {
                            "path": path,
                            "mode": mode,
                            "type": "tree" if mode == TREE_MODE else "blob",
                            "sha": blob,
                        }
                    )
            else:
                entries = [
                    {"path": name, "mode": mode, "type": "tree" if mode == TREE_MODE else "blob", "sha": s}
                    for mode, name, s in self._tree_entries(sha)
                ]
        except KeyError:
            return Reply.json(404, {"message": "Not Found"})
        truncated = len(entries) > self.truncate_above
        return Reply.json(200, {"sha": sha, "tree": entries[: self.truncate_above], "truncated": truncated})

    def _walk(self, tree: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for mode, name, sha in self._tree_entries(tree):
            found[prefix + name] = (mode, sha)
            if mode == TREE_MODE:
                found.update(self._walk(sha, prefix + name + "/"))
        return found

    def _post_blob(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return Reply.json(422, {"message": "Invalid request.", "errors": ["content is required"]})
        if body.get("encoding") == "base64":
            try:
                data = base64.b64decode(body["content"], validate=True)
            except ValueError:
                return Reply.json(422, {"message": "Invalid request.", "errors": ["invalid base64"]})
        else:
            data = body["content"].encode()
        return Reply.json(201, {"sha": self._put("blob", data)})

    def _post_tree(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("tree"), list):
            return Reply.json(422, {"message": "Invalid request.", "errors": ["tree is required"]})
        files: dict[str, str] = {}
        if body.get("base_tree"):
            try:
                files = self._flatten(str(body["base_tree"]))
            except KeyError:
                return Reply.json(422, {"message": "Invalid tree info", "errors": ["base_tree not found"]})
        for entry in body["tree"]:
            path = entry.get("path")
            if not isinstance(path, str) or not path or entry.get("type", "blob") != "blob":
                return Reply.json(
                    422, {"message": "Invalid tree info", "errors": [f"bad entry {entry!r}"[:200]]}
                )
            if "content" in entry:
                files[path] = self._put("blob", str(entry["content"]).encode())
            elif entry.get("sha") is None:
                if path not in files:
                    return Reply.json(
                        422, {"message": "GitRPC::BadObjectState", "errors": [f"{path} does not exist"]}
                    )
                del files[path]
            elif self._get(str(entry["sha"]), "blob") is None:
                return Reply.json(
                    422, {"message": "Invalid tree info", "errors": [f"{entry['sha']} is not a blob"]}
                )
            else:
                files[path] = str(entry["sha"])
        return Reply.json(201, {"sha": self._build_tree(files), "truncated": False})

    def _post_commit(self, body: Any) -> Reply:
        if not isinstance(body, dict) or self._get(str(body.get("tree")), "tree") is None:
            return Reply.json(422, {"message": "Invalid request.", "errors": ["tree not found"]})
        parents = [str(p) for p in body.get("parents") or []]
        if any(self._get(p, "commit") is None for p in parents):
            return Reply.json(422, {"message": "Invalid request.", "errors": ["parent not found"]})
        sha = self._commit(str(body["tree"]), parents, str(body.get("message") or ""))
        return Reply.json(
            201, {"sha": sha, "tree": {"sha": body["tree"]}, "parents": [{"sha": p} for p in parents]}
        )

    def _patch_ref(self, branch: str, body: Any) -> Reply:
        if branch not in self.refs:
            return Reply.json(422, {"message": "Reference does not exist"})
        sha = str((body or {}).get("sha"))
        if self._get(sha, "commit") is None:
            return Reply.json(422, {"message": "Object does not exist"})
        if not (body or {}).get("force") and self.refs[branch] not in self._ancestors(sha):
            return Reply.json(422, {"message": "Update is not a fast forward"})
        self.refs[branch] = sha
        return Reply.json(200, self._ref_json(branch))
