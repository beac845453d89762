"""GitHub commit path into PostgreSQL: the collector's batched writes against the original's
one-transaction-per-commit method, same rows, same PostgreSQL, alternating runs.

    PYTHONPATH=plugins:. python benchmarks/bench_github_commits.py --commits 50 --commits 5000
        [--repeat 5] [--mode both|cold|warm|floor] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

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

``--mode floor`` (not part of ``both``) measures what the collector's SQL alone costs a fresh
process, first insert only: a child runs the collector's pages once (untimed) and records
every statement the collector sends (SQLAlchemy's ``before_cursor_execute``), its
parameters, the transaction ends and the pool's pings, from the first page on (the
migrations and the checkpoint load before it are not recorded). Then each repetition runs,
in turn and each in a fresh child on emptied tables: the original's first insert (as in
``cold``), ``replay`` (the recorded statements in order on a raw psycopg2 connection, then
``COMMIT``: one transaction per page, no ping; no Python of the collector at all), ``replay
as sent`` (the same with the pool's pings and the stored-commits ``SELECT`` in its own
transaction, as the collector sends them) and the collector's first insert (the ``cold``
child). Each child connects and runs ``SELECT 1`` untimed, as the original's does. Every
replay is checked to have stored the N file rows. Then one more fresh child runs the
statements under ``EXPLAIN (ANALYZE, TIMING OFF)``: the server's planning and execution
time per statement.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy import Engine, event, text

from benchmarks.harness import alternate, describe, load, print_load, timed
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


def _summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):8.3f} s  ({min(values):.3f} .. {max(values):.3f})"


def _ratio(times: dict[str, list[float]], slow: str, fast: str) -> str:
    """slow / fast: the ratio of the medians, and the range of the per-repetition ratios."""
    per_rep = [a / b for a, b in zip(times[slow], times[fast], strict=True)]
    med = statistics.median(times[slow]) / statistics.median(times[fast])
    return f"{med:6.1f}x  (per repetition {min(per_rep):.1f}x .. {max(per_rep):.1f}x)"


def _empty_original(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {ORIGINAL_TABLES} RESTART IDENTITY"))


def _empty_collector(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {COLLECTOR_TABLES}"))
        conn.execute(text("DELETE FROM person_profiles"))


def _stored_files(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM github_commit_files")).scalar_one())


# --------------------------------------------------------------------------- cold: one process per step

STEPS = ("orig first", "orig again", "ours first", "ours reread", "ours rewrite")


def child(step: str, store_url: str, n: int) -> float:
    """One measured step in this (fresh) process: setup untimed, then the step's seconds."""
    data = payloads(n)
    if step.startswith("orig"):
        raw = _raw_connect(store_url)
        try:
            return timed(functools.partial(original_store, raw, data))
        finally:
            raw.close()
    commits = [Commit.model_validate(p) for p in data]
    run = collector_run(store_url, commits)  # validates the config, migrates: not timed
    try:
        return timed(functools.partial(collector_store, run, commits))
    finally:
        run.store.dispose()


def _child_output(step: str, store_url: str, n: int, *extra: str) -> str:
    """The last line a fresh ``--child`` process printed."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--store-url", store_url, "--commits", str(n), *extra],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "plugins:.")},
    )
    return done.stdout.strip().splitlines()[-1]


def _in_child(step: str, store_url: str, n: int) -> float:
    return float(_child_output(step, store_url, n))


def _cold_rep(
    engine: Any, store_url: str, n: int, sides: Sequence[str], times: dict[str, list[float]]
) -> None:
    for side in sides:
        if side == "original":
            _empty_original(engine)
            times["orig first"].append(_in_child("orig first", store_url, n))
            times["orig again"].append(_in_child("orig again", store_url, n))
        else:
            _empty_collector(engine)
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
            _empty_original(engine)
            raw = engine.raw_connection()
            try:
                times["orig first"].append(timed(functools.partial(original_store, raw, data)))
                times["orig again"].append(timed(functools.partial(original_store, raw, data)))
            finally:
                raw.close()
        else:
            _empty_collector(engine)
            # A new run (its checkpoint was emptied) on the warm collector's store.
            run = collector_run("", commits, warm.collector)
            store = functools.partial(collector_store, run, commits)
            times["ours first"].append(timed(store))
            times["ours reread"].append(timed(store))
            with engine.begin() as conn:  # the details are wanted again
                conn.execute(text("UPDATE github_commits SET files_status = 'pending'"))
            times["ours rewrite"].append(timed(store))


@contextlib.contextmanager
def _database(pg: str, commits: Sequence[Commit]) -> Iterator[tuple[str, BenchRun]]:
    """A new database with both sides' tables (the collector migrated): its URL and a
    collector run on it; dropped on the way out."""
    name = f"bench_commits_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg.replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    store_url = f"{pg.rsplit('/', 1)[0]}/{name}"
    run: BenchRun | None = None
    try:
        run = collector_run(store_url, commits)
        with run.store.engine.begin() as conn:
            conn.execute(text(ORIGINAL_SCHEMA))
        yield store_url, run
    finally:
        if run is not None:
            run.store.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def bench(pg: str, n: int, repeat: int, modes: Sequence[str] = ("cold", "warm")) -> None:
    data = payloads(n)
    commits = [Commit.model_validate(p) for p in data]
    results: dict[str, dict[str, list[float]]] = {}
    with _database(pg, commits) as (store_url, run):
        engine = run.store.engine
        for mode in modes:
            times: dict[str, list[float]] = {k: [] for k in STEPS}
            if mode == "warm":  # one untimed round first: the process has run both sides once
                _warm_rep(engine, run, data, commits, ["original", "collector"], {k: [] for k in STEPS})
            for rep in range(repeat):
                print(f"{mode} rep {rep + 1}: {load()}", flush=True)
                sides = ["original", "collector"] if rep % 2 == 0 else ["collector", "original"]
                if mode == "cold":
                    _cold_rep(engine, store_url, n, sides, times)
                else:
                    _warm_rep(engine, run, data, commits, sides, times)
                line = ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
                print(f"  {line}", flush=True)
            stored = _stored_files(engine)
            with engine.connect() as conn:
                original = conn.execute(text("SELECT count(*) FROM orig_change")).scalar_one()
            assert stored == original == n, (stored, original, n)
            results[mode] = times
    for mode, times in results.items():
        _print_results(mode, n, repeat, times)


def _print_results(mode: str, n: int, repeat: int, times: dict[str, list[float]]) -> None:
    how = "each step in a fresh process" if mode == "cold" else "both sides in one process"
    print(
        f"\n{mode.upper()} ({how}): N = {n:,} commits, one modified file each; {repeat} alternating repetitions; {load()}"
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

    print(f"ratio first insert:                 {_ratio(times, 'orig first', 'ours first')}")
    print(f"ratio re-processing (re-read):      {_ratio(times, 'orig again', 'ours reread')}")
    print(f"ratio re-processing (rewritten):    {_ratio(times, 'orig again', 'ours rewrite')}\n")


# --------------------------------------------------------------------------- floor: the collector's SQL alone

FLOOR_STEPS = ("capture", "replay", "replay as sent", "explain")
# One recorded operation: ("execute", statement, parameters, executemany), ("ping",),
# ("commit",) or ("rollback",).
Op = tuple[Any, ...]


def capture(store_url: str, n: int, ops_path: str) -> int:
    """Run the collector's pages once in this fresh process, recording what it sends from the
    first page on; the operations are pickled to ``ops_path``. Returns how many."""
    commits = [Commit.model_validate(p) for p in payloads(n)]
    run = collector_run(store_url, commits)  # validates, migrates, loads the checkpoint: not recorded
    ops: list[Op] = []

    def on_execute(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        ops.append(("execute", statement, parameters, executemany))

    def on_commit(conn: Any) -> None:
        ops.append(("commit",))

    def on_rollback(conn: Any) -> None:
        ops.append(("rollback",))

    dialect = run.store.engine.dialect
    ping = dialect.do_ping

    def recorded_ping(dbapi_connection: Any) -> bool:  # pool_pre_ping, on every checkout
        ops.append(("ping",))
        return ping(dbapi_connection)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", on_execute),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    setattr(dialect, "do_ping", recorded_ping)  # noqa: B010 - an instance attribute, this process only
    try:
        collector_store(run, commits)
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)
        run.store.dispose()
    with Path(ops_path).open("wb") as out:
        pickle.dump(ops, out)
    return len(ops)


def _load_ops(ops_path: str, *, as_sent: bool) -> list[Op]:
    """The recorded operations; unless ``as_sent``, without the pings and the rollbacks (the
    stored-commits ``SELECT`` then runs in its page's transaction, which the commit ends)."""
    with Path(ops_path).open("rb") as recorded:
        ops: list[Op] = pickle.load(recorded)  # noqa: S301 - written by our own capture child
    return ops if as_sent else [op for op in ops if op[0] in ("execute", "commit")]


def _raw_connect(store_url: str) -> Any:
    raw = psycopg2.connect(store_url.replace("postgresql+psycopg2://", "postgresql://"))
    raw.cursor().execute("SELECT 1")  # connected: the timed part starts at the first statement
    raw.commit()
    return raw


def replay(store_url: str, ops_path: str, *, as_sent: bool) -> dict[str, Any]:
    """The recorded operations on a new raw psycopg2 connection in this fresh process:
    ``{"seconds": total, "steps": [seconds per operation]}``."""
    ops = _load_ops(ops_path, as_sent=as_sent)
    raw = _raw_connect(store_url)
    try:
        cur = raw.cursor()
        steps: list[float] = []
        started = time.perf_counter()
        for op in ops:
            step = time.perf_counter()
            if op[0] == "execute":
                (cur.executemany if op[3] else cur.execute)(op[1], op[2])
            elif op[0] == "ping":
                cur.execute("SELECT 1")  # what the dialect's do_ping sends
            elif op[0] == "commit":
                raw.commit()
            else:
                raw.rollback()
            steps.append(time.perf_counter() - step)
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    return {"seconds": seconds, "steps": steps}


def explain(store_url: str, ops_path: str) -> list[list[Any]]:
    """The replay's statements under ``EXPLAIN (ANALYZE, TIMING OFF)`` in this fresh process
    (a new server backend): [label, planning ms, execution ms] each; ``COMMIT``'s client wall."""
    raw = _raw_connect(store_url)
    found: list[list[Any]] = []
    try:
        cur = raw.cursor()
        for op in _load_ops(ops_path, as_sent=False):
            if op[0] == "commit":
                started = time.perf_counter()
                raw.commit()
                found.append(["COMMIT (client wall)", None, (time.perf_counter() - started) * 1000])
                continue
            cur.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + op[1], op[2])
            plan = cur.fetchone()[0][0]
            found.append([_label(op[1]), plan["Planning Time"], plan["Execution Time"]])
    finally:
        raw.close()
    return found


def _label(statement: str) -> str:
    if "collector_checkpoints" in statement:
        return "checkpoint compare-and-set"
    written = re.findall(r'INSERT INTO "?(\w+)', statement)
    if written:
        return "INSERT " + ", ".join(written)
    source = re.search(r'FROM "?(\w+)', statement)
    return f"SELECT {source.group(1) if source else '?'}"


FLOOR_SIDES = {
    "original": "original, first insert",
    "replay": "replay of the collector's SQL (the floor)",
    "replay as sent": "replay as sent (+ pings, SELECT apart)",
    "collector": "collector, first insert",
}


def floor(pg: str, n: int, repeat: int) -> None:
    commits = [Commit.model_validate(p) for p in payloads(n)]
    handle, ops_path = tempfile.mkstemp(prefix="bench_commits_ops_", suffix=".pickle")
    os.close(handle)
    steps: list[list[float]] = []
    try:
        with _database(pg, commits) as (store_url, run):
            engine = run.store.engine
            print_load("before")
            _empty_collector(engine)
            recorded = int(_child_output("capture", store_url, n, "--ops", ops_path))
            assert _stored_files(engine) == n, "the capture did not store the page"
            print(f"recorded {recorded} operations of the collector's first insert", flush=True)

            def original() -> float:
                _empty_original(engine)
                return _in_child("orig first", store_url, n)

            def replayed(step: str) -> float:
                _empty_collector(engine)
                done = json.loads(_child_output(step, store_url, n, "--ops", ops_path))
                stored = _stored_files(engine)
                assert stored == n, f"{step} stored {stored} file rows, not {n}"
                if step == "replay":
                    steps.append(done["steps"])
                return float(done["seconds"])

            def collector() -> float:
                _empty_collector(engine)
                seconds = _in_child("ours first", store_url, n)
                assert _stored_files(engine) == n
                return seconds

            sides = {
                "original": original,
                "replay": functools.partial(replayed, "replay"),
                "replay as sent": functools.partial(replayed, "replay as sent"),
                "collector": collector,
            }
            times = alternate(sides, repeat)
            _empty_collector(engine)
            server = json.loads(_child_output("explain", store_url, n, "--ops", ops_path))
            assert _stored_files(engine) == n, "the EXPLAIN ANALYZE child did not store the page"
            print_load("after")
    finally:
        Path(ops_path).unlink(missing_ok=True)
    _print_floor(n, repeat, times, steps, server)


def _print_floor(
    n: int, repeat: int, times: dict[str, list[float]], steps: list[list[float]], server: list[list[Any]]
) -> None:
    print(
        f"\nFLOOR (each step in a fresh process): N = {n:,} commits, one modified file each; "
        f"first insert; {repeat} alternating repetitions; {load()}"
    )
    print(f"{'path':<46} {'median (range)':>44}  {'commits/s (median)':>18}")
    for key, label in FLOOR_SIDES.items():
        print(f"{label:<46} {describe(times[key]):>44}  {n / statistics.median(times[key]):>18,.0f}")

    print(f"ratio original / replay (ceiling for any client of this SQL): {_ratio(times, 'original', 'replay')}")
    print(f"ratio original / replay as sent:                              {_ratio(times, 'original', 'replay as sent')}")
    print(f"ratio original / collector:                                   {_ratio(times, 'original', 'collector')}")
    print(f"collector / replay (what the collector adds to its SQL):      {_ratio(times, 'collector', 'replay')}")
    print("\nper statement of the replay: client wall (median over the repetitions, includes the round")
    print("trip; the first one also sends BEGIN) and, in one more fresh process, EXPLAIN ANALYZE")
    print("(TIMING OFF): the server's planning + execution")
    for i, (label, planning, execution) in enumerate(server):
        wall = statistics.median(rep[i] for rep in steps) * 1000
        on_server = "" if planning is None else f"  server {planning:.2f} + {execution:.2f} ms"
        print(f"  {label:<56} {wall:6.2f} ms{on_server}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--commits", type=int, action="append", help="N (repeatable); default 50 and 5000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=["both", "cold", "warm", "floor"], default="both")
    parser.add_argument("--child", choices=STEPS + FLOOR_STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    parser.add_argument("--ops", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n = (args.commits or [50])[0]
        if args.child == "capture":
            print(capture(args.store_url, n, args.ops))
        elif args.child in ("replay", "replay as sent"):
            print(json.dumps(replay(args.store_url, args.ops, as_sent=args.child == "replay as sent")))
        elif args.child == "explain":
            print(json.dumps(explain(args.store_url, args.ops)))
        else:
            print(child(args.child, args.store_url, n))
        return
    if args.repeat < 3:
        parser.error("--repeat must be at least 3 (median and range)")
    if args.mode == "floor":
        for n in args.commits or [50]:
            floor(args.pg, n, args.repeat)
        return
    modes = ["cold", "warm"] if args.mode == "both" else [args.mode]
    for n in args.commits or [50, 5000]:
        bench(args.pg, n, args.repeat, modes)


if __name__ == "__main__":
    main()
