"""The GitHub collector under ``airflow dags test``: partitioned over two repositories, against the
fake GitHub in standalone mode, into a fresh PostgreSQL database; assertions read the stored rows."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from github_activity_tracker.tables import (
    github_commits,
    github_issue_comments,
    github_issues,
    github_repositories,
)
from tests.e2e.conftest import AirflowHome
from tests.fakes.standalone import standalone_fake

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "ghp_" + "E2eT0kenV4lue5ecret9X" * 2


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[str]:
    with standalone_fake(
        "github_server.py",
        *("--dataset", "small", "--token", f"{TOKEN}:5000"),
        probe="/rate_limit",
        headers={"Authorization": f"Bearer {TOKEN}"},
        log=tmp_path / "fake_github.log",
    ) as origin:
        yield origin


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0}}
        collectors:
          github:
            collector: github_activity_tracker.collector:GitHubCollector
            partitioned: true
            connections: [github_default]
            schedule: null
            config:
              orgs: [acme]
              web_host: github.com
              clone_cache_dir: "{tmp_path / "git"}"
              vectors: {{sink: local, namespace: github}}
        """)
    )
    return path


def test_partitioned_github_dag_collects_both_repositories(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, fake_github: str
) -> None:
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
            {"conn_type": "http", "host": fake_github, "password": TOKEN}
        ),
    }
    config = _config(tmp_path)
    first = airflow_home.dags_test("collect_github", config_file=config, state_dir=tmp_path, extra_env=env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-5000:]
    assert TOKEN not in output

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            repos = sorted(conn.execute(select(github_repositories.c.full_name)).scalars())
            issues = dict(
                conn.execute(
                    select(github_issues.c.repo_full_name, func.count()).group_by(
                        github_issues.c.repo_full_name
                    )
                ).all()
            )
            commits = conn.execute(select(func.count()).select_from(github_commits)).scalar_one()
            comments = conn.execute(select(func.count()).select_from(github_issue_comments)).scalar_one()
            merged = conn.execute(
                select(github_issues.c.merged_by_login).where(
                    github_issues.c.repo_full_name == "acme/widgets", github_issues.c.number == 4
                )
            ).scalar_one()
            runs = [
                dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
            ]
        assert repos == ["acme/gadgets", "acme/widgets"]
        assert issues == {"acme/widgets": 6, "acme/gadgets": 1}
        assert commits == 8 and comments == 6 and merged == "alice"

        collects = [r for r in runs if r["step"] == "collect"]
        assert sorted(r["partition"] for r in collects) == ["acme/gadgets", "acme/widgets"]
        assert sorted(r["map_index"] for r in collects) == [0, 1]
        assert all(r["status"] == "success" for r in runs)
        validate = next(r for r in runs if r["step"] == "validate")
        assert validate["counts"]["partitions"] == 2
        sync = next(r for r in runs if r["step"] == "sync_pinecone")
        assert sync["counts"]["documents"] == 7

        # A second run: nothing changed upstream, so no request costs quota.
        second = airflow_home.dags_test(
            "collect_github", config_file=config, state_dir=tmp_path, extra_env=env
        )
        assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
        with store.engine.connect() as conn:
            again = [
                dict(r)
                for r in conn.execute(
                    select(collector_runs).where(
                        collector_runs.c.id > runs[-1]["id"], collector_runs.c.step == "collect"
                    )
                ).mappings()
            ]
        assert len(again) == 2
        assert all(r["counts"]["github_quota_consuming"] == 0 for r in again), [r["counts"] for r in again]
        assert all(r["counts"]["issues_not_modified"] == 1 for r in again)
    finally:
        store.dispose()
