"""Fake GitHub for the Boost library tracker: the superproject's tags, git commits and trees
(submodules as ``type: commit`` entries), ``.gitmodules`` and each library's
``meta/libraries.json`` at a pinned commit.

A subclass of :class:`tests.fakes.github_server.FakeGitHubServer`: tokens, quotas, rate-limit
headers, ETag/304, faults and the request log are that fake's. The ``libraries.json`` samples
below are written for these tests in the real shapes (a list of sub-libraries, one object,
``std`` instead of ``cxxstd``, ``-at-`` addresses, plain addresses, a nested submodule path).

Run alone (a subprocess of an e2e test); a release is added at runtime with
``GET /_fake/add_release?version=1.87.0`` (the next release: some libraries move)::

    python tests/fakes/boost_github.py --port 8766 --releases 1.85.0,1.86.0
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    from tests.fakes import github_server as gh
    from tests.fakes.standalone import standalone_fake
except ModuleNotFoundError:  # run as a script: python tests/fakes/boost_github.py
    import github_server as gh  # type: ignore[no-redef]
    from standalone import standalone_fake  # type: ignore[no-redef]

__all__ = [
    "SAMPLE_LIBRARIES",
    "BoostDataset",
    "FakeBoostGitHub",
    "add_release",
    "next_release",
    "running",
    "sample_dataset",
]

SUPERPROJECT = "boostorg/boost"

# submodule path -> (repository name, libraries.json as the repository holds it)
SAMPLE_LIBRARIES: dict[str, tuple[str, Any]] = {
    "libs/algorithm": (
        "algorithm",
        [
            {
                "key": "algorithm",
                "name": "Algorithm",
                "authors": ["Marshall Clow"],
                "description": "Generic algorithms beyond the standard ones: searching, clamping, hex.",
                "category": ["Algorithms"],
                "maintainers": ["Marshall Clow <mclow.lists -at- gmail.com>"],
                "cxxstd": "03",
            },
            {
                "key": "algorithm/minmax",
                "name": "Min-Max",
                "authors": ["Herve Bronnimann"],
                "description": "Minimum and maximum of a sequence in one pass.",
                "documentation": "minmax/",
                "category": ["Algorithms"],
                "maintainers": ["Marshall Clow <mclow.lists -at- gmail.com>"],
                "cxxstd": "03",
            },
            {
                "key": "algorithm/string",
                "name": "String Algo",
                "authors": ["Pavol Droba"],
                "description": "Trimming, case conversion, splitting and finding in strings.",
                "documentation": "string/",
                "category": ["String"],
                "maintainers": ["Marshall Clow <mclow.lists -at- gmail.com>"],
                "cxxstd": "03",
            },
        ],
    ),
    "libs/beast": (
        "beast",
        {
            "key": "beast",
            "name": "Beast",
            "authors": ["Vinnie Falco"],
            "description": "HTTP and WebSocket on top of Asio.",
            "category": ["Concurrent", "IO"],
            "maintainers": ["vinnie.falco@gmail.com"],
            "std": ["C++11"],
        },
    ),
    "libs/asio": (
        "asio",
        {
            "key": "asio",
            "name": "Asio",
            "authors": ["Chris Kohlhoff"],
            "description": "Portable networking and other low-level I/O.",
            "category": ["Concurrent", "IO"],
            "maintainers": ["Chris Kohlhoff <chris -at- kohlhoff.com>"],
            "cxxstd": "11",
        },
    ),
    "libs/json": (
        "json",
        {
            "key": "json",
            "name": "JSON",
            "authors": ["Vinnie Falco", "Krystian Stasiowski", "Dmitry Arkhipov"],
            "description": "JSON parsing, serialization and a DOM.",
            "documentation": "",
            "category": ["Containers", "Data", "IO"],
            "maintainers": ["Dmitry Arkhipov <grisumbras -at- yandex.ru>"],
            "cxxstd": "11",
        },
    ),
    "libs/url": (
        "url",
        {
            "key": "url",
            "name": "URL",
            "authors": ["Vinnie Falco", "Alan de Freitas"],
            "description": "URL parsing and manipulation.",
            "category": ["Containers", "Parsing", "String"],
            "maintainers": [
                "Vinnie Falco <vinnie.falco -at- gmail.com>",
                "Alan de Freitas <alandefreitas -at- gmail.com>",
            ],
            "cxxstd": "11",
        },
    ),
    "libs/numeric/conversion": (
        "numeric_conversion",
        {
            "key": "numeric/conversion",
            "name": "Conversion",
            "authors": "Fernando Cacciola",
            "description": "Optimized policy-based numeric conversions.",
            "category": "Math",
            "maintainers": ["Fernando Cacciola <fernando_cacciola -at- ciudad.com.ar>", "Brandon Kohn"],
            "status": "deprecated",
        },
    ),
}
NOT_LIBRARIES = {"tools/build": "build"}  # a submodule outside libs/: not read


def _sha(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()  # noqa: S324 - a fake git object id


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=4) + "\n"


@dataclasses.dataclass
class Release:
    tag: str
    commit_sha: str
    tree_sha: str
    date: dt.datetime
    submodules: dict[str, str]  # path -> pinned commit
    gitmodules: str


class BoostDataset(gh.Dataset):
    """Tags of the superproject, its releases, and ``libraries.json`` per (repository, commit)."""

    def __init__(self, start: dt.datetime = gh.BASE_TIME) -> None:
        super().__init__(start)
        self.add_repo("boostorg", "boost")
        self.modules: dict[str, str] = {}  # path -> repository name (.gitmodules)
        self.current: dict[str, str] = {}  # path -> libraries.json text of the next release
        self.meta: dict[tuple[str, str], str | None] = {}  # (repo, commit) -> text (None: no file)
        self.releases: dict[str, Release] = {}  # tag name -> release
        self.other_tags: dict[str, str] = {}  # betas, release candidates, other refs -> commit
        self.truncated_trees = False  # answer recursive trees as GitHub does past its size limit

    def set_library(self, path: str, repo: str, meta: Any | None) -> None:
        """The library at ``path`` in the next release (``meta=None``: its repo has no libraries.json)."""
        with self.lock:
            self.modules[path] = repo
            self.current[path] = None if meta is None else _text(meta)  # type: ignore[assignment]

    def remove_library(self, path: str) -> None:
        with self.lock:
            self.modules.pop(path, None)
            self.current.pop(path, None)

    def add_release(
        self, version: str, *, date: dt.datetime | None = None, tag: str | None = None
    ) -> Release:
        """Tag ``boost-<version>`` pinning every library's current file (unchanged file: same commit)."""
        with self.lock:
            when = date or self.tick(60 * 24)
            pins: dict[str, str] = {}
            for path, text in self.current.items():
                repo = f"boostorg/{self.modules[path]}"
                sha = _sha(repo, text)
                self.meta[(repo, sha)] = text
                pins[path] = sha
            for path, name in NOT_LIBRARIES.items():
                pins[path] = _sha(name, version)
            modules = {**{p: self.modules[p] for p in self.current}, **NOT_LIBRARIES}
            gitmodules = "".join(
                f'[submodule "{name}"]\n\tpath = {path}\n\turl = ../{name}.git\n\tfetchRecurseSubmodules = on-demand\n\tbranch = .\n'
                for path, name in sorted(modules.items())
            )
            name = tag or f"boost-{version}"
            release = Release(name, _sha("commit", name), _sha("tree", name), when, pins, gitmodules)
            self.releases[name] = release
            return release

    def add_tag(self, name: str) -> None:
        """A tag that is not a stable release (``boost-1.87.0.beta1``, ``boost-1.87.0-rc1``)."""
        with self.lock:
            self.other_tags[name] = _sha("commit", name)

    def bump(self, path: str, **changes: Any) -> None:
        """Edit the next release's libraries.json of ``path`` (the first entry of a list)."""
        with self.lock:
            data = json.loads(self.current[path] or "{}")
            (data[0] if isinstance(data, list) else data).update(changes)
            self.current[path] = _text(data)


def sample_dataset(versions: tuple[str, ...] = ("1.85.0", "1.86.0")) -> BoostDataset:
    """The sample libraries, a release per version (the JSON library's description moves in each)."""
    ds = BoostDataset()
    for path, (repo, meta) in SAMPLE_LIBRARIES.items():
        ds.set_library(path, repo, meta)
    ds.add_tag("boost-1.84.0.beta1")
    ds.add_tag("develop-snapshot")
    for version in versions:
        next_release(ds, version)
    return ds


def next_release(ds: BoostDataset, version: str) -> Release:
    ds.bump("libs/json", description=f"JSON parsing, serialization and a DOM (as of {version}).")
    return ds.add_release(version)


def _blob(path: str, text: str, ref: str, api: str, repo: str) -> dict[str, Any]:
    raw = text.encode()
    encoded = base64.b64encode(raw).decode()
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": hashlib.sha1(b"blob %d\x00" % len(raw) + raw).hexdigest(),  # noqa: S324 - git's blob id
        "size": len(raw),
        "url": f"{api}/repos/{repo}/contents/{path}?ref={ref}",
        "type": "file",
        "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
        "encoding": "base64",
    }


class FakeBoostGitHub(gh.FakeGitHubServer):
    """The GitHub fake with the endpoints the Boost library tracker reads."""

    dataset: BoostDataset

    def __init__(self, dataset: BoostDataset | None = None, **kwargs: Any) -> None:
        super().__init__(dataset or sample_dataset(), **kwargs)

    def route(self, path: str, query: dict[str, str]) -> tuple[Any, dict[str, str], dt.datetime | None]:
        ds = self.dataset
        if path == "/_fake/add_release":  # test control for a fake run as a subprocess
            version = query.get("version", "")
            if not re.fullmatch(r"\d+\.\d+\.\d+", version):
                raise gh._HTTPProblem(422, "version=X.Y.Z required")
            return {"tag": next_release(ds, version).tag}, {}, None
        sp = f"/repos/{SUPERPROJECT}"
        if path == f"{sp}/tags":
            tags = [(r.tag, r.commit_sha) for r in ds.releases.values()] + list(ds.other_tags.items())
            tags.sort(reverse=True)  # GitHub lists tags by name, newest-looking first
            chunk, links = self._page(tags, query, f"{self.base_url}{path}")
            return [self._tag(name, sha) for name, sha in chunk], links, None
        if m := re.fullmatch(rf"{sp}/git/commits/([0-9a-f]{{40}})", path):
            release = self._release(lambda r: r.commit_sha == m.group(1))
            return self._commit(release), {}, None
        if m := re.fullmatch(rf"{sp}/git/trees/([0-9a-f]{{40}})", path):
            release = self._release(lambda r: r.tree_sha == m.group(1))
            return self._tree(release, recursive=query.get("recursive") not in (None, "", "0")), {}, None
        if path == f"{sp}/contents/.gitmodules":
            release = self._release(lambda r: r.commit_sha == query.get("ref"))
            return (
                _blob(".gitmodules", release.gitmodules, release.commit_sha, self.base_url, SUPERPROJECT),
                {},
                None,
            )
        if m := re.fullmatch(r"/repos/(boostorg/[^/]+)/contents/meta/libraries\.json", path):
            repo, ref = m.group(1), query.get("ref", "")
            text = ds.meta.get((repo, ref))
            if text is None:
                raise gh._HTTPProblem(404, "Not Found")
            return _blob("meta/libraries.json", text, ref, self.base_url, repo), {}, None
        return super().route(path, query)

    def _release(self, match: Any) -> Release:
        for release in self.dataset.releases.values():
            if match(release):
                return release
        raise gh._HTTPProblem(404, "Not Found")

    def _tag(self, name: str, sha: str) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{SUPERPROJECT}"
        return {
            "name": name,
            "zipball_url": f"{api}/zipball/refs/tags/{name}",
            "tarball_url": f"{api}/tarball/refs/tags/{name}",
            "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
            "node_id": "REF_" + base64.b64encode(name.encode()).decode(),
        }

    def _commit(self, release: Release) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{SUPERPROJECT}/git"
        who = {"name": "Release Manager", "email": "release@boost.invalid", "date": gh.iso(release.date)}
        return {
            "sha": release.commit_sha,
            "url": f"{api}/commits/{release.commit_sha}",
            "author": who,
            "committer": who,
            "message": f"Update version to {release.tag}",
            "tree": {"sha": release.tree_sha, "url": f"{api}/trees/{release.tree_sha}"},
            "parents": [],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        }

    def _tree(self, release: Release, *, recursive: bool) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{SUPERPROJECT}/git"
        entries: list[dict[str, Any]] = [
            {
                "path": ".gitmodules",
                "mode": "100644",
                "type": "blob",
                "sha": _sha("blob", release.gitmodules),
                "size": len(release.gitmodules),
            },
            {"path": "libs", "mode": "040000", "type": "tree", "sha": _sha("libs", release.tag)},
            {"path": "tools", "mode": "040000", "type": "tree", "sha": _sha("tools", release.tag)},
        ]
        if recursive:
            dirs = sorted({p.rsplit("/", 1)[0] for p in release.submodules} - {"libs", "tools"})
            entries += [
                {"path": d, "mode": "040000", "type": "tree", "sha": _sha(d, release.tag)} for d in dirs
            ]
            entries += [
                {
                    "path": "libs/libraries.htm",
                    "mode": "100644",
                    "type": "blob",
                    "sha": _sha("htm", release.tag),
                    "size": 100,
                }
            ]
            entries += [
                {"path": path, "mode": "160000", "type": "commit", "sha": sha}
                for path, sha in sorted(release.submodules.items())
            ]
        for entry in entries:
            if entry["type"] != "commit":
                entry["url"] = f"{api}/{'blobs' if entry['type'] == 'blob' else 'trees'}/{entry['sha']}"
        return {
            "sha": release.tree_sha,
            "url": f"{api}/trees/{release.tree_sha}",
            "tree": entries,
            "truncated": self.dataset.truncated_trees,
        }


@contextlib.contextmanager
def running(log_file: Path, *, releases: str = "1.85.0,1.86.0", token: str | None = None) -> Iterator[str]:
    """The fake as a subprocess (for Airflow tasks in other processes); yields its base URL."""
    argv = ["--releases", releases, *(["--token", token] if token else [])]
    with standalone_fake(
        Path(__file__).name, *argv, probe=f"/repos/{SUPERPROJECT}/tags", log=log_file
    ) as url:
        yield url


def add_release(url: str, version: str) -> str:
    """Tag the next release on a running fake (``running``); returns the tag name."""
    with urllib.request.urlopen(f"{url}/_fake/add_release?version={version}", timeout=10) as answer:
        return json.loads(answer.read())["tag"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--releases", default="1.85.0,1.86.0", help="comma-separated versions tagged at start"
    )
    parser.add_argument(
        "--token", action="append", default=[], help="accepted token (repeatable; none = any)"
    )
    args = parser.parse_args(argv)
    versions = tuple(v for v in args.releases.split(",") if v)
    tokens = {t: 5000 for t in args.token} or None
    server = FakeBoostGitHub(sample_dataset(versions), tokens=tokens, host=args.host, port=args.port)
    print(f"fake Boost GitHub API on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
