"""``sync_pinecone`` under ``airflow dags test`` against the local Pinecone server; assertions read
what that server received."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from core.vectors.ledger import vector_ledger_documents
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import AirflowHome
from tests.fakes.pinecone_server import FakePinecone

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0}}
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config:
              export_dir: "{SAMPLES}"
              vectors: {{sink: pinecone, index: community-activity, namespace: discord}}
        """)
    )
    return path


def _ledger_statuses(url: str) -> dict[str, int]:
    store = Store.from_url(url)
    with store.engine.connect() as conn:
        statuses = list(conn.execute(select(vector_ledger_documents.c.status)).scalars())
    return {status: statuses.count(status) for status in set(statuses)}


def test_sync_reaches_pinecone_once_retries_failures_and_skips_unchanged(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path
):
    with FakePinecone(ready_after=1) as fake:
        env = {
            "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
            "AIRFLOW_CONN_PINECONE_DEFAULT": json.dumps(
                {"conn_type": "pinecone", "password": fake.api_key, "host": fake.url, "extra": {"region": "us-east-1"}}
            ),
        }
        config = _config(tmp_path)

        # 1. The index is created, every upsert fails with 503: the step fails as `network`.
        fake.fail_next(503, count=1000, match="upsert")
        failed = airflow_home.dags_test("collect_discord", config_file=config, state_dir=tmp_path, extra_env=env)
        assert "state=failed" in failed.stdout + failed.stderr
        assert fake.index_names() == ["community-activity"]
        assert fake.records("community-activity", "discord") == {}
        assert _ledger_statuses(pg_url).get("failed", 0) > 0  # documents too short to chunk have no records to fail
        store = Store.from_url(pg_url)
        with store.engine.connect() as conn:
            sync_runs = conn.execute(
                select(collector_runs.c.status, collector_runs.c.failure_category).where(
                    collector_runs.c.step == "sync_pinecone"
                )
            ).all()
        assert [tuple(r) for r in sync_runs] == [("failed", "network")]
        assert fake.api_key not in failed.stdout + failed.stderr

        # 2. The server recovers: the failed documents are retried and cleared.
        fake.faults.clear()
        ok = airflow_home.dags_test("collect_discord", config_file=config, state_dir=tmp_path, extra_env=env)
        assert ok.returncode == 0, ok.stdout[-4000:]
        received = fake.records("community-activity", "discord")
        assert received and all(rid.startswith("discord:") for rid in received)
        assert set(_ledger_statuses(pg_url)) == {"synced"}
        # Each record is a stored thread's and carries its channel; every channel reached Pinecone.
        from discord_activity_tracker.tables import discord_channels, discord_messages

        with Store.from_url(pg_url).engine.connect() as conn:
            query = select(discord_messages.c.message_id, discord_channels.c.name).join_from(
                discord_messages, discord_channels
            )
            channel_of = {str(message): channel for message, channel in conn.execute(query)}
        assert all(record["channel"] == channel_of[rid.split(":")[1]] for rid, record in received.items())
        assert {record["channel"] for record in received.values()} == set(channel_of.values())

        # 3. Nothing changed: no upsert request at all.
        upserts_before = len(fake.requests_to("upsert"))
        again = airflow_home.dags_test("collect_discord", config_file=config, state_dir=tmp_path, extra_env=env)
        assert again.returncode == 0
        assert len(fake.requests_to("upsert")) == upserts_before
        assert "records_upserted=0" in again.stdout
