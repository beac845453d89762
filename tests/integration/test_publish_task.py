"""The ``publish`` task: built by the DAG factory from ``publish:``, run by the real
:class:`PublishOperator` against a real store (both dialects) and the Git Data fake, with the
connections Airflow resolves from ``AIRFLOW_CONN_*``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from airflow_collectors.dag_factory import build_dags
from airflow_collectors.failures import CollectorStepFailed
from airflow_collectors.publish import PublishOperator
from airflow_collectors.retry import CollectorRetryPolicy
from core.collectors import RunContext
from core.config import load_collectors_file
from core.errors import CollectorFailureCategory, ConfigError
from core.store import Store, collector_runs
from discord_activity_tracker.collector import DiscordCollector
from tests.conftest import PROJECT_ROOT
from tests.fakes.gitdata_server import FakeGitDataServer
from tests.integration.test_task_failures import RUN_ID, _store_conn, _TaskInstance

TOKEN = "github_pat_" + "W" * 40
SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
DISCORD = "discord_activity_tracker.collector:DiscordCollector"
RENDERER = "discord_activity_tracker.publish:DiscordDaysPublisher"


def _yaml(tmp_path: Path, publish: str, connections: str = "[]") -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        "collectors:\n"
        "  discord:\n"
        f"    collector: {DISCORD}\n"
        f"    connections: {connections}\n"
        "    config: {export_dir: include/sample_data/discord}\n"
        f"    publish: {publish}\n",
        encoding="utf-8",
    )
    return path


def test_publish_section_adds_a_publish_task_after_sync_pinecone(tmp_path: Path) -> None:
    path = _yaml(tmp_path, f"{{target: octo/context, renderer: '{RENDERER}', folder_prefix: discord}}")
    dag = build_dags(path)["collect_discord"]
    task = dag.get_task("publish")
    assert isinstance(task, PublishOperator)
    assert task.upstream_task_ids == {"sync_pinecone"}
    assert isinstance(task.retry_policy, CollectorRetryPolicy)  # type: ignore[attr-defined]
    assert task.publish["target"] == "octo/context" and task.publish["connection_id"] == "github_publish"
    assert "publishes Markdown to `octo/context@main`" in (dag.doc_md or "")
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"collectors:\n  discord:\n    collector: {DISCORD}\n", encoding="utf-8")
    assert "publish" not in build_dags(plain)["collect_discord"].task_ids


@pytest.mark.parametrize(
    ("publish", "connections", "message"),
    [
        (
            f"{{target: octo/context, renderer: '{RENDERER}', connection_id: github_default}}",
            "[github_default]",
            "publish.connection_id 'github_default' is one of this entry's scraping connections",
        ),
        (f"{{target: 'not a repo', renderer: '{RENDERER}'}}", "[]", "collectors.discord.publish.target"),
        ("{target: octo/context}", "[]", "collectors.discord.publish.renderer"),
        (f"{{target: octo/context, renderer: '{RENDERER}', branch: 'a..b'}}", "[]", "publish.branch"),
        (f"{{target: octo/context, renderer: '{RENDERER}', token: x}}", "[]", "publish.token"),
    ],
)
def test_bad_publish_section_names_the_field(
    tmp_path: Path, publish: str, connections: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", "'")):
        load_collectors_file(_yaml(tmp_path, publish, connections))


# --------------------------------------------------------------------------- the operator


@pytest.fixture
def target() -> Iterator[FakeGitDataServer]:
    with FakeGitDataServer("octo/context", token=TOKEN) as fake:
        yield fake


@pytest.fixture
def collected(store_url: str, monkeypatch: pytest.MonkeyPatch, target: FakeGitDataServer) -> str:
    collector = DiscordCollector({"export_dir": str(SAMPLES)}, context=RunContext(store_url=store_url))
    collector.run()
    collector.store.dispose()
    monkeypatch.setenv("AIRFLOW_CONN_PUB_STORE", _store_conn(store_url))
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_PUBLISH",
        json.dumps({"conn_type": "http", "host": target.root, "password": TOKEN}),
    )
    return store_url


def _operator(**publish: Any) -> PublishOperator:
    settings = {
        "target": "octo/context",
        "renderer": RENDERER,
        "folder_prefix": "d",
        "write_interval_seconds": 0,
    }
    return PublishOperator(
        task_id="publish",
        collector_name="discord",
        publish={**settings, **publish},
        store_conn_id="pub_store",
    )


def _runs(store_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            query = (
                select(collector_runs).where(collector_runs.c.step == "publish").order_by(collector_runs.c.id)
            )
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        store.dispose()


def test_operator_publishes_records_and_honours_dry_run(collected: str, target: FakeGitDataServer) -> None:
    ti = _TaskInstance("publish")
    dry = _operator().execute({"ti": ti, "params": {"dry_run": True}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert dry["counts"]["dry_run"] == 1 and dry["counts"]["files_written"] > 0
    assert target.log.count(where=lambda e: e.method != "GET") == 0
    done = _operator().execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert done["counts"]["commits"] == 1 and done["step"] == "publish"
    assert len([p for p in target.files() if p.startswith("d/")]) == done["counts"]["files_written"]
    assert f"(discord {RUN_ID})" in target.commit_message(target.head())
    runs = _runs(collected)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert runs[1]["counts"]["commits"] == 1


def test_operator_failure_is_categorized_recorded_and_never_shows_the_token(
    collected: str,
    target: FakeGitDataServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    target.token = "another-token"  # the server no longer accepts ours: 401
    ti = _TaskInstance("publish")
    with pytest.raises(CollectorStepFailed) as caught:
        _operator().execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert caught.value.category is CollectorFailureCategory.AUTH
    assert ti.xcom["failure_category"] == "auth"
    runs = _runs(collected)
    assert runs[-1]["status"] == "failed" and runs[-1]["failure_category"] == "auth"
    for text in (
        str(caught.value),
        caplog.text,
        json.dumps(runs, default=str),
        json.dumps(ti.xcom, default=str),
    ):
        assert TOKEN not in text and TOKEN[:16] not in text
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_PUBLISH")
    with pytest.raises(CollectorStepFailed, match="'github_publish' is not defined") as missing:
        _operator().execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert missing.value.category is CollectorFailureCategory.VALIDATION
