"""Collectors under Airflow's CeleryExecutor: two Celery workers, Redis broker, PostgreSQL.

One Airflow per module, every service a separate process on 127.0.0.1: scheduler,
dag-processor, api-server, triggerer and two Celery workers (``worker-a``, ``worker-b``: each
reports its own ``task_instance.hostname`` through ``tests/fakes/worker_hostname.py``). Redis
(127.0.0.1:6379, its own DB number, a queue name unique to the run) is the broker; PostgreSQL
holds the metadata, the Celery result backend and, in a third database, the collector store.

* ``spread``: the toy collector over six partitions, its mapped ``collect`` tasks run on both
  workers; the store then holds exactly the notes of every partition.
* ``lost``: while its collect sleeps, the worker running it is SIGKILLed as a lost machine
  would be (every process of the worker, the task's watch process included). After
  ``[scheduler] task_instance_heartbeat_timeout`` Airflow fails the try and retries it on the
  surviving worker; the rows end exact, ``collector_runs`` holds the vanished try as
  ``resource`` and the success of the retry, and no alert is sent (``resource`` alerts only
  when retries are exhausted). docs/deployment.md describes what the operator sees.
* ``github``: the GitHub collector partitioned over the repositories of an org on the fake
  GitHub (in this process, real HTTP); its mapped collects run on both workers and the store
  holds exactly what the fake serves. Then ``discord`` over the bundled sample exports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from discord_activity_tracker.tables import discord_messages
from github_activity_tracker.tables import (
    github_commits,
    github_issue_comments,
    github_issues,
    github_repositories,
)
from tests.conftest import PROJECT_ROOT
from tests.e2e.cluster import (
    Services,
    alive,
    children,
    cluster_env,
    create_database,
    drop_database,
    free_port,
    metadata_url,
    store_url,
    wait_for,
)
from tests.e2e.conftest import AIRFLOW
from tests.fakes.github_server import Dataset, FakeGitHubServer, build_dataset
from tests.fakes.toy_collector import toy_notes
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOY = "tests.fakes.toy_collector:ToyCollector"
REDIS_URL = os.environ.get("COLLECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")  # DB 11: these tests only
WORKERS = ("worker-a", "worker-b")
PARTITIONS = [f"repo{n}" for n in range(1, 7)]
NOTES = 4
HEARTBEAT_TIMEOUT_SECONDS = 30
WEBHOOK_PATH = "T0CEL/B0CEL/celerysecret"
GITHUB_TOKEN = "ghp_" + "CeleryE2eT0ken" * 3
EXTRA_REPOS = ("gears", "levers", "sprockets")  # with the small dataset's two: five mapped collects
DISCORD_SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _github_dataset() -> Dataset:
    """The fake's small dataset (acme/widgets, acme/gadgets) plus a few small repositories."""
    dataset = build_dataset("small")
    for n, name in enumerate(EXTRA_REPOS):
        repo = dataset.add_repo("acme", name, description=f"{name} of acme")
        dataset.add_commit(repo.full_name, f"Initial {name}", author="bob", files=1)
        issue = dataset.add_issue(repo.full_name, f"First {name} issue", user="carol", body=f"Issue {n}")
        dataset.add_comment(repo.full_name, issue.number, user="alice", body=f"On {name}")
    return dataset


@dataclasses.dataclass
class Cluster:
    services: Services
    receiver: WebhookReceiver
    store_url: str
    queue: str
    runs: dict[str, str]
    github: FakeGitHubServer

    def store(self) -> Store:
        return Store.from_url(self.store_url)

    def history(self, collector: str, run_id: str) -> list[dict[str, Any]]:
        store = self.store()
        try:
            with store.engine.connect() as conn:
                query = select(collector_runs).where(
                    collector_runs.c.collector == collector, collector_runs.c.run_id == run_id
                )
                return [dict(r) for r in conn.execute(query.order_by(collector_runs.c.id)).mappings()]
        finally:
            store.dispose()

    def notes(self, prefix: str) -> list[str]:
        store = self.store()
        try:
            with store.engine.connect() as conn:
                query = select(toy_notes.c.note_id).where(toy_notes.c.note_id.like(f"{prefix}-%"))
                return sorted(conn.execute(query).scalars())
        finally:
            store.dispose()

    def ensure_workers(self) -> None:
        """Start every worker that is not running (an earlier test may have killed one) and wait
        until all of them are ready."""
        for name in WORKERS:
            if name not in self.services.procs:
                self.start_worker(name)
        wait_for(
            "both Celery workers to be ready",
            lambda: all("ready." in self.services.logs[w].read_text(errors="replace") for w in WORKERS),
            90,
            self.services,
        )

    def start_worker(self, name: str) -> None:
        """``airflow celery worker`` as its own session (so a test can kill all of it)."""
        services = self.services
        env = {
            **services.env,
            "E2E_WORKER_HOSTNAME": name,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        log_path = services.home / f"{name}.log"
        services.logs[name] = log_path
        with log_path.open("wb") as out:
            services.procs[name] = subprocess.Popen(
                [
                    AIRFLOW,
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@e2e",
                    "--queues",
                    self.queue,
                    "--concurrency",
                    "2",
                    "--without-mingle",
                    "--without-gossip",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _collectors_yaml(home: Path) -> str:
    return textwrap.dedent(f"""
        defaults:
          retries: 0
          retry_delay_seconds: 2
          max_retry_delay_seconds: 10
          deadline_minutes: 30
          start_date: 2026-01-01
        alerts:
          immediate: [auth, permission, validation, command]
          on_final_failure: [rate_limit, network, timeout, unknown, resource, conflict]
          slack_conn_id: slack_webhook_default
          repeat_suppression_minutes: 60
        collectors:
          spread:
            collector: {TOY}
            schedule: null
            partitioned: true
            config: {{name: spread, notes: {NOTES}, partitions: {json.dumps(PARTITIONS)}, sleep_seconds: 6}}
          lost:
            collector: {TOY}
            schedule: null
            retries: 1
            config: {{name: lost, notes: {NOTES}, sleep_seconds: 40, pid_file: "{home / "lost.pid"}"}}
          pooled:
            collector: {TOY}
            schedule: null
            pool: e2e_api_pool
            config: {{name: pooled, notes: 1}}
          nopool:
            collector: {TOY}
            schedule: null
            pool: no_such_pool
            config: {{name: nopool, notes: 1}}
          github:
            collector: github_activity_tracker.collector:GitHubCollector
            schedule: null
            partitioned: true
            connections: [github_default]
            config:
              orgs: [acme]
              web_host: github.com
              clone_cache_dir: "{home / "git"}"
              vectors: {{sink: local, namespace: github}}
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            schedule: null
            config:
              export_dir: "{DISCORD_SAMPLES}"
              vectors: {{sink: local, namespace: discord}}
    """)


@contextlib.contextmanager
def running_cluster(
    request: pytest.FixtureRequest,
    home: Path,
    *,
    broker_url: str,
    collectors_yaml: Callable[[Path], str],
    dag_ids: Iterable[str],
) -> Iterator[Cluster]:
    """Boot the cluster (broker ``broker_url``), wait for ``dag_ids`` and both workers; stop it
    and drop its databases afterwards, printing the service logs when a test failed."""
    failed_before = request.session.testsfailed
    meta_db, store_db = create_database("af_celery_meta"), create_database("af_celery_store")
    receiver = WebhookReceiver().start()
    github = FakeGitHubServer(_github_dataset(), tokens={GITHUB_TOKEN: 5000}).start()
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    config = home / "collectors.yaml"
    config.write_text(collectors_yaml(home))
    queue = f"e2e_celery_{uuid.uuid4().hex[:10]}"  # no other test run's worker can take our tasks
    env = cluster_env(
        home=home,
        config=config,
        meta=meta_db,
        store=store_db,
        api_port=api_port,
        executor="CeleryExecutor",
        parallelism=16,
    )
    env.update(
        {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.fakes.worker_hostname.hostname",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url(meta_db)}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(
                {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": WEBHOOK_PATH}
            ),
            "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
                {"conn_type": "http", "host": github.base_url, "password": GITHUB_TOKEN}
            ),
        }
    )
    services = Services(home=home, env=env, api_url=api_url)
    cluster = Cluster(
        services, receiver, store_url(store_db), queue, {}, github
    )
    try:
        services.boot("api-server", "scheduler", "dag-processor", "triggerer")
        for name in WORKERS:
            cluster.start_worker(name)
        wait_for(
            "the collector DAGs to be parsed",
            lambda: all(services.api("GET", f"/api/v2/dags/{d}").status_code == 200 for d in dag_ids),
            90,
            services,
        )
        cluster.ensure_workers()
        yield cluster
    finally:
        services.stop()
        if request.session.testsfailed > failed_before:
            sys.__stderr__.write(
                f"\n===== Airflow service logs ({home}) =====\n{services.log_tails(12000)}\n"
            )
        receiver.stop()
        github.stop()
        drop_database(meta_db)
        drop_database(store_db)


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[Cluster]:
    if not _redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required for the CeleryExecutor tests and is not answering at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    dag_ids = [f"collect_{name}" for name in ("spread", "lost", "pooled", "nopool", "github", "discord")]
    home = tmp_path_factory.mktemp("airflow_celery")
    with running_cluster(
        request, home, broker_url=REDIS_URL, collectors_yaml=_collectors_yaml, dag_ids=dag_ids
    ) as booted:
        yield booted


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def _tries(
    services: Services, dag_id: str, run_id: str, task_id: str, map_index: int | None = None
) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    path += f"/{map_index}/tries" if map_index is not None else "/tries"
    return sorted(services.ok("GET", path)["task_instances"], key=lambda t: t["try_number"])


def _session_members(sid: int) -> list[int]:
    """Every live process of the session ``sid`` (a worker started with start_new_session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getsid(int(entry.name)) == sid:
                pids.append(int(entry.name))
    return pids


def test_mapped_collects_run_on_both_workers_and_rows_are_exact(cluster: Cluster):
    services = cluster.services
    run_id = f"e2e_spread_{_stamp()}"
    services.trigger("collect_spread", run_id)
    assert services.wait_run("collect_spread", run_id, timeout=240) == "success"
    mapped = services.ok(
        "GET", f"/api/v2/dags/collect_spread/dagRuns/{run_id}/taskInstances/collect/listMapped"
    )["task_instances"]
    assert sorted(t["map_index"] for t in mapped) == list(range(len(PARTITIONS)))
    assert {t["state"] for t in mapped} == {"success"}
    hosts = {t["hostname"] for t in mapped}
    assert hosts == set(WORKERS), f"mapped collects ran on {hosts}, not spread over both workers"
    for partition in PARTITIONS:
        assert cluster.notes(partition) == [f"{partition}-{n}" for n in range(NOTES)]
    store = cluster.store()
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(toy_notes)).scalar_one()
    store.dispose()
    assert total == len(PARTITIONS) * NOTES
    history = cluster.history("spread", run_id)
    collects = sorted(r["partition"] for r in history if r["step"] == "collect" and r["status"] == "success")
    assert collects == sorted(PARTITIONS)
    assert not [r for r in history if r["status"] != "success"]


def test_a_worker_killed_mid_collect_is_retried_on_the_other_worker(cluster: Cluster):
    services = cluster.services
    run_id = f"e2e_lost_{_stamp()}"
    services.trigger("collect_lost", run_id)
    pid_file = services.home / "lost.pid"

    def collecting(previous: int | None = None) -> dict[str, int] | None:
        if not pid_file.exists():
            return None
        try:
            pids = json.loads(pid_file.read_text())
        except ValueError:
            return None
        return pids if pids["pid"] != previous and alive(pids["pid"]) else None

    first = wait_for("the lost collect to start", collecting, 180, services)
    victim = next(w for w in WORKERS if services.procs[w].pid == os.getsid(first["pid"]))
    survivor = next(w for w in WORKERS if w != victim)
    # The machine is gone: the worker, its pool, the supervisor, the task and its watch process.
    watchers = children(first["pid"])
    assert watchers, "the collect task runs a watch process"
    for pid in (*_session_members(services.procs[victim].pid), *watchers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    services.procs[victim].wait(timeout=30)
    del services.procs[victim]  # dead on purpose: check_alive must not complain

    second = wait_for(
        "the retry to start", lambda: collecting(first["pid"]), HEARTBEAT_TIMEOUT_SECONDS + 180, services
    )
    assert os.getsid(second["pid"]) == services.procs[survivor].pid
    assert services.wait_run("collect_lost", run_id, timeout=240) == "success"

    tries = _tries(services, "collect_lost", run_id, "collect")
    assert [(t["try_number"], t["state"], t["hostname"]) for t in tries] == [
        (1, "failed", victim),
        (2, "success", survivor),
    ]
    assert cluster.notes("all") == [f"all-{n}" for n in range(NOTES)]
    collects = [r for r in cluster.history("lost", run_id) if r["step"] == "collect"]
    assert [(r["status"], r["failure_category"], r["try_number"]) for r in collects] == [
        ("failed", "resource", 1),
        ("success", None, 2),
    ]
    assert "the task process vanished without reporting" in collects[0]["errors"][0]
    # resource alerts only when retries are exhausted: the retry succeeded, nobody is paged.
    assert not [a for a in cluster.receiver.received if "Collector: lost\n" in a.text]


def test_bad_params_are_refused_by_the_api_or_fail_validate_recorded_and_alerted(cluster: Cluster):
    services = cluster.services
    refused = services.api(
        "POST",
        "/api/v2/dags/collect_spread/dagRuns",
        json={"dag_run_id": f"e2e_refused_{_stamp()}", "logical_date": None, "conf": {"since": "yesterday"}},
    )
    assert refused.status_code == 400, refused.text
    assert "since" in refused.text
    run_id = f"e2e_typo_{_stamp()}"
    services.trigger("collect_spread", run_id, conf={"sinse": "2024-01-01T00:00:00Z"})
    assert services.wait_run("collect_spread", run_id, timeout=180) == "failed"
    history = cluster.history("spread", run_id)
    assert [(r["step"], r["status"], r["failure_category"]) for r in history] == [
        ("validate", "failed", "validation")
    ]
    assert "unknown param 'sinse' (did you mean 'since'?)" in history[0]["errors"][0]
    (alert,) = wait_for(
        "the validation alert",
        lambda: [a for a in cluster.receiver.received if "Collector: spread\n" in a.text],
        60,
        services,
    )
    assert "Category: validation" in alert.text and "unknown param 'sinse'" in alert.text


def test_a_collector_whose_pool_does_not_exist_fails_validate_naming_the_pool(cluster: Cluster):
    services = cluster.services
    services.ok("POST", "/api/v2/pools", json={"name": "e2e_api_pool", "slots": 2, "include_deferred": False})
    ok_run = f"e2e_pooled_{_stamp()}"
    services.trigger("collect_pooled", ok_run)
    assert services.wait_run("collect_pooled", ok_run, timeout=180) == "success"
    (collect,) = _tries(services, "collect_pooled", ok_run, "collect")
    assert collect["pool"] == "e2e_api_pool"

    run_id = f"e2e_nopool_{_stamp()}"
    services.trigger("collect_nopool", run_id)
    assert services.wait_run("collect_nopool", run_id, timeout=180) == "failed"
    history = cluster.history("nopool", run_id)
    assert [(r["step"], r["status"], r["failure_category"]) for r in history] == [
        ("validate", "failed", "validation")
    ]
    assert "Airflow pool 'no_such_pool' does not exist" in history[0]["errors"][0]
    (validate,) = _tries(services, "collect_nopool", run_id, "validate")
    assert (validate["state"], validate["pool"]) == ("failed", "default_pool")
    (alert,) = wait_for(
        "the validation alert",
        lambda: [a for a in cluster.receiver.received if "Collector: nopool\n" in a.text],
        60,
        services,
    )
    assert "no_such_pool" in alert.text


def _rows(cluster: Cluster, query: Any) -> list[tuple[Any, ...]]:
    store = cluster.store()
    try:
        with store.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
    finally:
        store.dispose()


def test_github_partitions_spread_over_both_workers_then_discord_rows_are_exact(cluster: Cluster):
    cluster.ensure_workers()  # the lost-worker test kills one
    services = cluster.services
    dataset = cluster.github.dataset
    run_id = f"e2e_github_{_stamp()}"
    services.trigger("collect_github", run_id)
    assert services.wait_run("collect_github", run_id, timeout=300) == "success"
    mapped = services.ok(
        "GET", f"/api/v2/dags/collect_github/dagRuns/{run_id}/taskInstances/collect/listMapped"
    )["task_instances"]
    assert sorted(t["map_index"] for t in mapped) == list(range(len(dataset.repos)))
    assert {t["state"] for t in mapped} == {"success"}
    hosts = {t["hostname"] for t in mapped}
    assert hosts == set(WORKERS), f"mapped GitHub collects ran on {hosts}, not spread over both workers"
    collects = [r for r in cluster.history("github", run_id) if r["step"] == "collect"]
    assert sorted(r["partition"] for r in collects) == sorted(dataset.repos)
    assert {r["status"] for r in collects} == {"success"}

    # Exactly what the fake serves: every row once (a duplicate or a lost partition changes a list).
    repos = dataset.repos.values()
    assert sorted(_rows(cluster, select(github_repositories.c.full_name))) == sorted(
        (r.full_name,) for r in repos
    )
    assert sorted(_rows(cluster, select(github_issues.c.repo_full_name, github_issues.c.number))) == sorted(
        (r.full_name, n) for r in repos for n in r.issues
    )
    assert sorted(_rows(cluster, select(github_commits.c.sha))) == sorted(
        (sha,)
        for r in repos
        for sha in r.branches[r.default_branch]  # GET /commits: the default branch
    )
    assert sorted(_rows(cluster, select(github_issue_comments.c.comment_id))) == sorted(
        (c.id,) for r in repos for c in r.issue_comments
    )
    assert GITHUB_TOKEN not in services.log_tails(10**7)

    run_id = f"e2e_discord_{_stamp()}"
    services.trigger("collect_discord", run_id)
    assert services.wait_run("collect_discord", run_id, timeout=180) == "success"
    # An export that overlaps an older one repeats messages: each is stored once.
    exported = {
        m["id"] for path in DISCORD_SAMPLES.glob("*.json") for m in json.loads(path.read_text())["messages"]
    }
    expected = sorted((message_id,) for message_id in exported)
    assert sorted(_rows(cluster, select(discord_messages.c.message_id))) == expected
    steps = [(r["step"], r["status"]) for r in cluster.history("discord", run_id)]
    assert steps == [("validate", "success"), ("collect", "success"), ("sync_pinecone", "success")]
