"""Publishing benchmark: requests and seconds to publish N Markdown files, first time and after a
few changes, with the Git Data writer and with the original's method, on the same fake.

Both run against the Git Data wire fake (``tests/fakes/gitdata_server.py``: a real git object
store behind loopback HTTP, in this process), with GitHub's pacing of content-creating
requests switched off so the seconds are the client's and the server's work; the counts of
content-creating requests give what GitHub's secondary limits would impose (at most 80 per
minute, so ``requests / 80`` minutes at best; the original's uploader also stalled up to 15
minutes per 403).

* writer: :class:`core.operations.github.gitdata.GitDataWriter` (blob shas computed locally,
  remote tree compared, changed text inline in the tree request, one commit, ref update);
* original: every file ``POST git/blobs`` (3 at a time, as its limiter allowed), one
  ``POST git/trees`` with the shas, ``POST git/commits``, ``PATCH git/refs`` -- on every run.

    PYTHONPATH=plugins:. python benchmarks/bench_publish.py --files 5000 --changes 50
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import tracemalloc
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from tests.fakes.gitdata_server import FakeGitDataServer

from core.operations.github import GitHubClient, GitHubClientConfig
from core.operations.github.gitdata import GitDataWriter
from core.publishing.spool import Spool

TOKEN = "bench-token"
REPO = "bench/context"


def corpus(count: int, revision: int = 0, changed: int = 0) -> dict[str, bytes]:
    """``count`` issue-like files of ~3 KB; the first ``changed`` carry ``revision``."""
    files = {}
    for i in range(count):
        rev = revision if i < changed else 0
        body = f"# Issue {i}: a title of moderate length\n\n" + f"Comment {i} rev {rev}. " * 120
        files[f"boost/issues/{2000 + i % 25}/{2000 + i % 25}-{1 + i % 12:02d}/#{i} - title {i}.md"] = (
            body.encode()
        )
    return files


def writes(server: FakeGitDataServer) -> dict[str, int]:
    counted: dict[str, int] = {}
    for exchange in server.log:
        key = exchange.method if exchange.method != "POST" else f"POST {exchange.path.rsplit('/', 1)[1]}"
        counted[key] = counted.get(key, 0) + 1
    return counted


def writer_run(server: FakeGitDataServer, files: Mapping[str, bytes]) -> dict[str, Any]:
    """The writer with the files spooled to disk, as the publish step hands them over; the peak
    of what Python allocates meanwhile is traced (the fake server shares the process, so its
    allocations for the requests are in it too)."""
    config = GitHubClientConfig(base_url=server.root, tokens=(TOKEN,), min_remaining=0)
    server.log.clear()
    with Spool() as spool:
        spooled = {path: spool.put(data) for path, data in files.items()}
        tracemalloc.start()
        start = time.perf_counter()
        with GitHubClient(config) as client:
            outcome = GitDataWriter(client, REPO, "main", write_interval=0).publish(spooled, message="bench")
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    counts = writes(server)
    return {
        "seconds": round(seconds, 2),
        "requests": sum(counts.values()),
        "by_kind": counts,
        "peak_traced_mb": round(peak / 2**20, 1),
        **outcome.counts(),
    }


def original_run(server: FakeGitDataServer, files: Mapping[str, bytes]) -> dict[str, Any]:
    """The original uploader's requests: a blob per file, then tree, commit and ref update."""
    base = f"{server.root}/repos/{REPO}/git"
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    server.log.clear()
    start = time.perf_counter()
    with requests.Session() as session:
        session.headers.update(headers)
        head = session.get(f"{base}/ref/heads/main", timeout=60).json()["object"]["sha"]
        tree = session.get(f"{base}/commits/{head}", timeout=60).json()["tree"]["sha"]

        def blob(item: tuple[str, bytes]) -> dict[str, str]:
            path, data = item
            payload = {"content": base64.b64encode(data).decode(), "encoding": "base64"}
            sha = session.post(f"{base}/blobs", data=json.dumps(payload), timeout=60).json()["sha"]
            return {"path": path, "mode": "100644", "type": "blob", "sha": sha}

        with ThreadPoolExecutor(max_workers=3) as pool:
            entries = list(pool.map(blob, files.items()))
        new_tree = session.post(
            f"{base}/trees", data=json.dumps({"base_tree": tree, "tree": entries}), timeout=300
        )
        commit = session.post(
            f"{base}/commits",
            data=json.dumps({"message": "bench", "tree": new_tree.json()["sha"], "parents": [head]}),
            timeout=60,
        ).json()["sha"]
        session.patch(
            f"{base}/refs/heads/main", data=json.dumps({"sha": commit}), timeout=60
        ).raise_for_status()
    seconds = time.perf_counter() - start
    counts = writes(server)
    return {"seconds": round(seconds, 2), "requests": sum(counts.values()), "by_kind": counts}


def content_creating(result: Mapping[str, Any]) -> int:
    return sum(v for k, v in result["by_kind"].items() if k != "GET")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    first = corpus(args.files)
    changed = corpus(args.files, revision=1, changed=args.changes)
    report: dict[str, Any] = {"files": args.files, "changes": args.changes}
    for method, run in (("writer", writer_run), ("original", original_run)):
        with FakeGitDataServer(REPO, token=TOKEN) as server:
            report[f"{method}_first"] = run(server, first)
            report[f"{method}_after_changes"] = run(server, changed)
            report[f"{method}_unchanged"] = run(server, changed)
            assert all(server.files()[p] == b for p, b in changed.items())
    for key in list(report):
        if isinstance(report[key], dict):
            creating = content_creating(report[key])
            report[key]["content_creating"] = creating
            report[key]["minutes_at_80_per_minute"] = round(creating / 80, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
