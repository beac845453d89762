"""GitHub commit path into PostgreSQL: the collector's batched writes against the original's
one-transaction-per-commit method, same rows, same PostgreSQL, alternating runs.

    PYTHONPATH=plugins:. python benchmarks/bench_github_commits.py --commits 50 --commits 5000
        [--repeat 5] [--mode both|cold|warm] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

The scenario is the original's: N commits of one repository, each with one modified file,
stored for the first time, then re-processed (the same N commits again). No HTTP on either
side (both take payloads already fetched): what is compared is the store side, which was
about 95% of the original's commit path.

``original`` reproduces, with raw psycopg2 (faster than the Django ORM it used, so the
comparison is generous to it), the statements the original ran per commit, all inside one
transaction per commit: ``get_or_create`` of the author account, of the commit, of the file
(``GitHubFile``) and of the file change (``GitCommitFileChange``): each a ``SELECT ...
LIMIT 21``, then for a new row ``SAVEPOINT`` / ``INSERT ... RETURNING id`` / ``RELEASE`` (what
Django's ``get_or_create`` sends inside a transaction), for an existing one the ``UPDATE``
its ``save()`` sends. Its tables mirror the original's models (surrogate ids, unique natural
keys, deferred foreign keys with their indexes).

``collector`` is the collector's own code (``GitHubCollector``'s per-repository run,
``store_commit_page``): the commit list in pages of 100, each page ONE transaction with its
checkpoint and the details (file lists) of its commits not detailed yet: on PostgreSQL a
page of new commits is the person profiles then one statement (users, files, commits with
their sums); a page whose details are rewritten is ``write_commits`` then
``write_commit_details`` (the DELETE of the old file rows, then the files and the sums in
one statement). Only ``GET /commits/{sha}`` is replaced (``fetch_commit`` returns the payload from
memory). Re-processing is measured two ways: ``re-read`` is what the collector really does
when it meets stored commits again (one SELECT per page finds them stored with complete
details: a sha names immutable content, so nothing is written or fetched), and ``rewrite`` sets every
commit's details back to ``pending`` first (not timed), so every page writes its details
again: the same work the original's re-processing does.

Two ways of running each side, both reported (``--mode``):

- ``cold`` (what an Airflow task does: a fresh process runs one collection): every measured
  step runs in its own child process (``python bench_github_commits.py --child ...``), which
  imports, connects and migrates (not timed), then times only its step: the collector's
  pages, or the original's statements on its own new connection. Nothing compiled or cached
  by an earlier step helps it.
- ``warm``: both sides in this process, after one untimed round of both, each on its warm
  connection: the original's raw connection, the collector's store (a new per-repository run
  each repetition, as the next repository of one task, on the same engine).

Each repetition runs both sides, alternating which goes first, each on freshly emptied
tables; the machine's load average is printed before each. Reported: the median and the
range over the repetitions, and the ratio original / collector per repetition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2
from sqlalchemy import text

from core.collectors import RunContext
from github_activity_tracker.api_schemas import Commit
from github_activity_tracker.collector import GitHubCollector, _RepoRun
from github_activity_tracker.commit_files import FileListResult

REPO = "bench/commits"
REPO_ID = 4242
PAGE = 100
AUTHORS = [(1000 + n, f"dev{n}") for n in range(20)]

ORIGINAL_SCHEMA = """
CREATE TABLE orig_account (
    id bigserial PRIMARY KEY, github_account_id bigint UNIQUE, username varchar(255) NOT NULL,
    display_name varchar(255) NOT NULL, avatar_url text NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE orig_commit (
    id bigserial PRIMARY KEY, repo_id bigint NOT NULL,
    account_id bigint NOT NULL REFERENCES orig_account (id) DEFERRABLE INITIALLY DEFERRED,
    commit_hash varchar(64) NOT NULL, comment text NOT NULL, commit_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, UNIQUE (repo_id, commit_hash));
CREATE INDEX ON orig_commit (account_id);
CREATE TABLE orig_file (
    id bigserial PRIMARY KEY, repo_id bigint NOT NULL, filename varchar(1024) NOT NULL,
    is_deleted boolean NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    UNIQUE (repo_id, filename));
CREATE TABLE orig_change (
    id bigserial PRIMARY KEY,
    commit_id bigint NOT NULL REFERENCES orig_commit (id) DEFERRABLE INITIALLY DEFERRED,
    github_file_id bigint NOT NULL REFERENCES orig_file (id) DEFERRABLE INITIALLY DEFERRED,
    status varchar(20) NOT NULL, additions integer NOT NULL, deletions integer NOT NULL, patch text NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, UNIQUE (commit_id, github_file_id));
CREATE INDEX ON orig_change (github_file_id);
"""
ORIGINAL_TABLES = "orig_change, orig_file, orig_commit, orig_account"
COLLECTOR_TABLES = "github_commit_files, github_commits, github_users, collector_checkpoints"


# --------------------------------------------------------------------------- the data


def payloads(n: int) -> list[dict[str, Any]]:
    """N commits as GitHub's ``GET /commits/{sha}`` returns them, one modified file each."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    made = []
    for i in range(n):
        account_id, login = AUTHORS[i % len(AUTHORS)]
        when = (start + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        person = {"name": login, "email": f"{login}@example.org", "date": when}
        user = {"login": login, "id": account_id, "type": "User", "html_url": f"https://github.com/{login}"}
        made.append(
            {
                "sha": f"{i:040x}",
                "node_id": f"C_{i}",
                "html_url": f"https://github.com/{REPO}/commit/{i:040x}",
                "commit": {"message": f"Change {i}\n\nDetails.", "author": person, "committer": person},
                "author": user,
                "committer": user,
                "parents": [{"sha": f"{i - 1:040x}"}] if i else [],
                "stats": {"additions": 3, "deletions": 1, "total": 4},
                "files": [
                    {
                        "sha": f"{i + 7:040x}",
                        "filename": f"src/module_{i % 97}/file_{i}.cpp",
                        "status": "modified",
                        "additions": 3,
                        "deletions": 1,
                        "changes": 4,
                        "patch": "@@ -1 +1,3 @@\n-old\n+new\n+more\n+lines",
                    }
                ],
            }
        )
    return made


# --------------------------------------------------------------------------- the original's method


def _get_or_create(
    cur: Any, select: str, key: tuple[Any, ...], insert: str, values: tuple[Any, ...]
) -> tuple[int, bool]:
    """Django's ``get_or_create`` inside a transaction: (id, created)."""
    cur.execute(select, key)
    row = cur.fetchone()
    if row is not None:
        return int(row[0]), False
    cur.execute("SAVEPOINT s")
    cur.execute(insert, values)
    new_id = int(cur.fetchone()[0])
    cur.execute("RELEASE SAVEPOINT s")
    return new_id, True


def original_store(raw: Any, commits: Sequence[dict[str, Any]]) -> None:
    now = dt.datetime.now(dt.UTC)
    cur = raw.cursor()
    for data in commits:  # one transaction per commit
        user = data["author"]
        account, _ = _get_or_create(
            cur,
            "SELECT id FROM orig_account WHERE github_account_id = %s LIMIT 21",
            (user["id"],),
            "INSERT INTO orig_account (github_account_id, username, display_name, avatar_url, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (user["id"], user["login"], user["login"], "", now, now),
        )
        when = data["commit"]["author"]["date"]
        message = data["commit"]["message"]
        commit, created = _get_or_create(
            cur,
            "SELECT id, account_id, comment, commit_at FROM orig_commit"
            " WHERE repo_id = %s AND commit_hash = %s LIMIT 21",
            (REPO_ID, data["sha"]),
            "INSERT INTO orig_commit (repo_id, account_id, commit_hash, comment, commit_at, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (REPO_ID, account, data["sha"], message, when, now, now),
        )
        if not created:  # save(): every column
            cur.execute(
                "UPDATE orig_commit SET repo_id = %s, account_id = %s, commit_hash = %s, comment = %s,"
                " commit_at = %s, updated_at = %s WHERE id = %s",
                (REPO_ID, account, data["sha"], message, when, now, commit),
            )
        for f in data["files"]:
            deleted = f["status"] == "removed"
            github_file, created = _get_or_create(
                cur,
                "SELECT id, is_deleted FROM orig_file WHERE repo_id = %s AND filename = %s LIMIT 21",
                (REPO_ID, f["filename"]),
                "INSERT INTO orig_file (repo_id, filename, is_deleted, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (REPO_ID, f["filename"], deleted, now, now),
            )
            if not created:
                cur.execute(
                    "UPDATE orig_file SET repo_id = %s, filename = %s, is_deleted = %s, updated_at = %s"
                    " WHERE id = %s",
                    (REPO_ID, f["filename"], deleted, now, github_file),
                )
            patch = f.get("patch") or ""
            change, created = _get_or_create(
                cur,
                "SELECT id FROM orig_change WHERE commit_id = %s AND github_file_id = %s LIMIT 21",
                (commit, github_file),
                "INSERT INTO orig_change (commit_id, github_file_id, status, additions, deletions, patch,"
                " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (commit, github_file, f["status"], f["additions"], f["deletions"], patch, now, now),
            )
            if not created:
                cur.execute(
                    "UPDATE orig_change SET status = %s, additions = %s, deletions = %s, patch = %s WHERE id = %s",
                    (f["status"], f["additions"], f["deletions"], patch, change),
                )
        raw.commit()
    cur.close()


# --------------------------------------------------------------------------- the collector


class BenchRun(_RepoRun):
    """The collector's per-repository run, with commit details served from memory
    (``fetch_commit`` is where the real run sends ``GET /commits/{sha}``)."""

    details: dict[str, Commit] = {}

    def fetch_commit(self, sha: str) -> FileListResult:
        commit = self.details[sha]
        return FileListResult(commit, list(commit.files or []), True, "api", 1)


def collector_run(
    store_url: str, commits: Sequence[Commit], collector: GitHubCollector | None = None
) -> BenchRun:
    """A per-repository run; with ``collector``, on that collector's store (its engine, its
    connections, its compiled statements), as the next repository of one task would be."""
    if collector is None:
        collector = GitHubCollector(
            {"repositories": [REPO]},
            context=RunContext(
                store_url=store_url, connections={"github_default": {"password": "bench-token"}}
            ),
        )
        collector.validate_config()
        collector.migrate()
    run = BenchRun(collector, REPO)
    run.repo_id = REPO_ID
    run.details = {c.sha: c for c in commits}
    return run


def collector_store(run: BenchRun, commits: Sequence[Commit]) -> None:
    """The commit list, newest first in pages of 100, as ``newest_commits`` stores it: each
    page with the details of its commits not detailed yet, one transaction with its checkpoint."""
    for start in range(len(commits) - 1, -1, -PAGE):
        page = list(reversed(commits[max(0, start - PAGE + 1) : start + 1]))
        top = max(c.committed_at for c in page)
        run.store_commit_page(page, run.state.with_cursor("commits", top))


# --------------------------------------------------------------------------- measuring


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def _summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):8.3f} s  ({min(values):.3f} .. {max(values):.3f})"


# --------------------------------------------------------------------------- cold: one process per step

STEPS = ("orig first", "orig again", "ours first", "ours reread", "ours rewrite")


def child(step: str, store_url: str, n: int) -> float:
    """One measured step in this (fresh) process: setup untimed, then the step's seconds."""
    data = payloads(n)
    if step.startswith("orig"):
        raw = psycopg2.connect(store_url.replace("postgresql+psycopg2://", "postgresql://"))
        try:
            raw.cursor().execute("SELECT 1")  # connected: the timed part starts at the first statement
            raw.commit()
            return _timed(functools.partial(original_store, raw, data))
        finally:
            raw.close()
    commits = [Commit.model_validate(p) for p in data]
    run = collector_run(store_url, commits)  # validates the config, migrates: not timed
    try:
        return _timed(functools.partial(collector_store, run, commits))
    finally:
        run.store.dispose()


def _in_child(step: str, store_url: str, n: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--store-url", store_url, "--commits", str(n)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "plugins:.")},
    )
    return float(done.stdout.strip().splitlines()[-1])


def _cold_rep(
    engine: Any, store_url: str, n: int, sides: Sequence[str], times: dict[str, list[float]]
) -> None:
    for side in sides:
        if side == "original":
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {ORIGINAL_TABLES} RESTART IDENTITY"))
            times["orig first"].append(_in_child("orig first", store_url, n))
            times["orig again"].append(_in_child("orig again", store_url, n))
        else:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {COLLECTOR_TABLES}"))
                conn.execute(text("DELETE FROM person_profiles"))
            times["ours first"].append(_in_child("ours first", store_url, n))
            times["ours reread"].append(_in_child("ours reread", store_url, n))
            with engine.begin() as conn:  # the details are wanted again
                conn.execute(text("UPDATE github_commits SET files_status = 'pending'"))
            times["ours rewrite"].append(_in_child("ours rewrite", store_url, n))


def _warm_rep(
    engine: Any, warm: BenchRun, data: Any, commits: Any, sides: Sequence[str], times: dict[str, list[float]]
) -> None:
    for side in sides:
        if side == "original":
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {ORIGINAL_TABLES} RESTART IDENTITY"))
            raw = engine.raw_connection()
            try:
                times["orig first"].append(_timed(functools.partial(original_store, raw, data)))
                times["orig again"].append(_timed(functools.partial(original_store, raw, data)))
            finally:
                raw.close()
        else:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {COLLECTOR_TABLES}"))
                conn.execute(text("DELETE FROM person_profiles"))
            # A new run (its checkpoint was emptied) on the warm collector's store.
            run = collector_run("", commits, warm.collector)
            store = functools.partial(collector_store, run, commits)
            times["ours first"].append(_timed(store))
            times["ours reread"].append(_timed(store))
            with engine.begin() as conn:  # the details are wanted again
                conn.execute(text("UPDATE github_commits SET files_status = 'pending'"))
            times["ours rewrite"].append(_timed(store))


def bench(pg: str, n: int, repeat: int, modes: Sequence[str] = ("cold", "warm")) -> None:
    name = f"bench_commits_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg.replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    store_url = f"{pg.rsplit('/', 1)[0]}/{name}"
    data = payloads(n)
    commits = [Commit.model_validate(p) for p in data]
    run = collector_run(store_url, commits)
    engine = run.store.engine
    with engine.begin() as conn:
        conn.execute(text(ORIGINAL_SCHEMA))
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for mode in modes:
            times: dict[str, list[float]] = {k: [] for k in STEPS}
            if mode == "warm":  # one untimed round first: the process has run both sides once
                _warm_rep(engine, run, data, commits, ["original", "collector"], {k: [] for k in STEPS})
            for rep in range(repeat):
                print(f"{mode} rep {rep + 1}: {_load()}", flush=True)
                sides = ["original", "collector"] if rep % 2 == 0 else ["collector", "original"]
                if mode == "cold":
                    _cold_rep(engine, store_url, n, sides, times)
                else:
                    _warm_rep(engine, run, data, commits, sides, times)
                line = ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
                print(f"  {line}", flush=True)
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM github_commit_files")).scalar_one()
                original = conn.execute(text("SELECT count(*) FROM orig_change")).scalar_one()
            assert stored == original == n, (stored, original, n)
            results[mode] = times
    finally:
        run.store.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    for mode, times in results.items():
        _print_results(mode, n, repeat, times)


def _print_results(mode: str, n: int, repeat: int, times: dict[str, list[float]]) -> None:
    how = "each step in a fresh process" if mode == "cold" else "both sides in one process"
    print(
        f"\n{mode.upper()} ({how}): N = {n:,} commits, one modified file each; {repeat} alternating repetitions; {_load()}"
    )
    print(f"{'path':<46} {'median (range)':>30}  {'commits/s (median)':>18}")
    labels = {
        "orig first": "original, first insert",
        "ours first": "collector, first insert",
        "orig again": "original, re-processing",
        "ours reread": "collector, re-processing (re-read)",
        "ours rewrite": "collector, re-processing (details rewritten)",
    }
    for key, label in labels.items():
        print(f"{label:<46} {_summary(times[key]):>30}  {n / statistics.median(times[key]):>18,.0f}")

    def ratio(orig: str, ours: str) -> str:
        per_rep = [o / c for o, c in zip(times[orig], times[ours], strict=True)]
        med = statistics.median(times[orig]) / statistics.median(times[ours])
        return f"{med:6.1f}x  (per repetition {min(per_rep):.1f}x .. {max(per_rep):.1f}x)"

    print(f"ratio first insert:                 {ratio('orig first', 'ours first')}")
    print(f"ratio re-processing (re-read):      {ratio('orig again', 'ours reread')}")
    print(f"ratio re-processing (rewritten):    {ratio('orig again', 'ours rewrite')}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--commits", type=int, action="append", help="N (repeatable); default 50 and 5000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=["both", "cold", "warm"], default="both")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(child(args.child, args.store_url, (args.commits or [50])[0]))
        return
    if args.repeat < 3:
        parser.error("--repeat must be at least 3 (median and range)")
    modes = ["cold", "warm"] if args.mode == "both" else [args.mode]
    for n in args.commits or [50, 5000]:
        bench(args.pg, n, args.repeat, modes)


if __name__ == "__main__":
    main()
