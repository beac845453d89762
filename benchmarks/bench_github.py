"""GitHub collector: REST requests per 1,000 items and items/s into PostgreSQL, plus the cost of
recovering big commits' file lists through the API versus git.

    PYTHONPATH=plugins:. python benchmarks/bench_github.py
        [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres] [--per-page 100]
        [--pull-details-via rest|graphql|both] [--skip-commit-files]

1. Starts the fake GitHub (``tests/fakes/github_server.py --dataset large``) in its own process,
   so the server's payload building does not share this process's interpreter.
2. Runs the real collector (all streams, both repositories of the dataset) on a fresh
   PostgreSQL database: a first run, then an unchanged second run. Nothing leaves the
   machine: the fake's clone URLs are local paths without a repository, so the git recovery
   of the 3,250-file commit fails at once and that commit keeps GitHub's first 3,000 files. Reports requests and
   quota-consuming requests per 1,000 stored items, wall-clock items/s, and items/s of the
   store work alone (the time spent inside the page transactions).
3. For commits of 650, 2,900 and 3,100 files: REST requests and seconds to the full file
   list with ``commit_files_strategy: api`` and ``git`` (local bare repository over file://,
   so git's network cost is not included: on github.com add the fetch of one commit's trees).

Numbers go to stdout as markdown; record them in docs/github.md ("Performance").
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import requests
from sqlalchemy import func, select
from tests.fakes.git_repos import bare_repo_with_big_commit
from tests.fakes.github_server import FakeGitHubServer, FileChange, build_dataset

from core.collectors import RunContext
from core.operations.github_ops import GitHubClient, GitHubClientConfig
from github_activity_tracker.collector import GitHubCollector
from github_activity_tracker.commit_files import CommitFileFetcher, GitCommitCache
from github_activity_tracker.tables import (
    github_commit_files,
    github_commits,
    github_issue_comments,
    github_issues,
    github_repositories,
    github_review_comments,
    github_reviews,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
TABLES = {
    "repositories": github_repositories,
    "commits": github_commits,
    "commit files": github_commit_files,
    "issues + pull requests": github_issues,
    "issue comments": github_issue_comments,
    "review comments": github_review_comments,
    "reviews": github_reviews,
}


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    return conn


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake(dataset: str, clone_root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The fake GitHub in its own process; its clone URLs point into ``clone_root`` (local
    paths that hold no repository), so a git fallback fails at once and never leaves the machine."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/fakes/github_server.py"),
            "--port",
            str(port),
            "--dataset",
            dataset,
            "--token",
            f"{TOKEN}:100000",
            "--clone-url-root",
            str(clone_root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{url}/rate_limit", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the fake GitHub server did not start")


def collector_run(
    url: str, store_url: str, tmp: Path, per_page: int, pull_details_via: str = "rest"
) -> tuple[float, dict[str, int]]:
    context = RunContext(
        store_url=store_url, connections={"github_default": {"host": url, "password": TOKEN}}
    )
    collector = GitHubCollector(
        {
            "orgs": ["acme"],
            "per_page": per_page,
            "clone_cache_dir": str(tmp / "git"),
            "commit_files_strategy": "api",  # git only for the >3,000-file commit (local, fails)
            "pull_details_via": pull_details_via,
        },
        context=context,
    )
    started = time.perf_counter()
    collector.validate()
    result = collector.run()
    elapsed = time.perf_counter() - started
    collector.store.dispose()
    return elapsed, dict(result.counts)


def stored_items(store_url: str) -> dict[str, int]:
    from core.store import Store

    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        counts = {
            name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for name, t in TABLES.items()
        }
    store.dispose()
    return counts


def bench_collector(pg: str, per_page: int, pull_details_via: str = "rest") -> None:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = _admin(pg)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = pg.rsplit("/", 1)[0]
    store_url = f"{base}/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_fake("large", Path(tmp) / "no-clones")
        try:
            first_s, first = collector_run(url, store_url, Path(tmp), per_page, pull_details_via)
            items = stored_items(store_url)
            second_s, second = collector_run(url, store_url, Path(tmp), per_page, pull_details_via)
        finally:
            process.terminate()
            process.wait(10)
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()

    total = sum(items.values())
    without_files = total - items["commit files"]
    print(
        f"## Collector, fake GitHub `large` dataset, per_page={per_page}, "
        f"pull_details_via={pull_details_via}, PostgreSQL\n"
    )
    print("Stored items: " + ", ".join(f"{k} {v:,}" for k, v in items.items()) + f" (total {total:,})\n")
    print(
        "| run | wall s | requests | quota-consuming | 304 | requests / 1,000 items | "
        "(excluding commit-file rows) | items/s wall | items/s store |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, seconds, counts in (("first", first_s, first), ("unchanged second", second_s, second)):
        requests = counts.get("github_requests", 0)
        store_s = counts.get("store_ms", 0) / 1000
        print(
            f"| {label} | {seconds:.2f} | {requests} | {counts.get('github_quota_consuming', 0)} | "
            f"{counts.get('github_not_modified', 0)} | {1000 * requests / total:.1f} | "
            f"{1000 * requests / without_files:.1f} | "
            + (f"{total / seconds:,.0f} | {total / store_s:,.0f} |" if label == "first" else "- | - |")
        )
    print()
    print("First-run counts: " + ", ".join(f"{k}={v}" for k, v in sorted(first.items())))
    print("Second-run counts: " + ", ".join(f"{k}={v}" for k, v in sorted(second.items())) + "\n")


# --------------------------------------------------------------------------- commit files


def bench_commit_files() -> None:
    print("## Full file list of one big commit: API pages versus git\n")
    print("| files | strategy | REST requests | seconds | files stored | complete |")
    print("|---|---|---|---|---|---|")
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        FakeGitHubServer(build_dataset("empty"), tokens={TOKEN: 100000}) as srv,
    ):
        tmp = Path(tmp_name)
        for files in (650, 2900, 3100):
            clone_url, parent, sha, names = bare_repo_with_big_commit(tmp, files)
            ds = srv.dataset
            repo = ds.add_repo("acme", f"mono{files}", clone_url=clone_url)
            big = ds.add_commit(
                repo.full_name,
                "import",
                author="alice",
                files=[FileChange(n, status="added", additions=3, deletions=0) for n in names],
                at=dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC),
            )
            repo.commits.pop(big.sha)
            big.sha, big.parents = sha, [parent]
            repo.commits[sha] = big
            repo.branches["main"] = [sha]
            for strategy in ("api", "git"):
                client = GitHubClient(GitHubClientConfig(base_url=srv.base_url, tokens=(TOKEN,)))
                cache = GitCommitCache(tmp / f"cache-{strategy}-{files}")
                fetcher = CommitFileFetcher(client, cache if strategy == "git" else None, strategy=strategy)
                started = time.perf_counter()
                result = fetcher.fetch(repo.full_name, sha, clone_url)
                seconds = time.perf_counter() - started
                client.close()
                print(
                    f"| {files:,} | {strategy} | {client.stats.requests} | {seconds:.2f} | "
                    f"{len(result.files):,} | {result.complete} |"
                )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument(
        "--pull-details-via", choices=("rest", "graphql", "both"), default="rest", help="pull-request details"
    )
    parser.add_argument("--skip-commit-files", action="store_true", help="only the collector runs")
    args = parser.parse_args()
    for via in ("rest", "graphql") if args.pull_details_via == "both" else (args.pull_details_via,):
        bench_collector(args.pg, args.per_page, via)
    if not args.skip_commit_files:
        bench_commit_files()


if __name__ == "__main__":
    main()
