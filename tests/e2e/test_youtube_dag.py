"""Both YouTube DAGs under ``airflow dags test`` against the fake YouTube, into a fresh PostgreSQL
store: ``collect_youtube`` (metadata, mapped over the channel partition, key from
``AIRFLOW_CONN_YOUTUBE_DEFAULT``, documents from descriptions); ``collect_youtube_transcripts``
while YouTube blocks the host (the breaker fails it as ``rate_limit``; the metadata and its
documents stay); the transcripts DAG again once unblocked (transcripts stored and indexed)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from core.vectors.local_sink import search_local_records
from tests.e2e.conftest import AirflowHome
from tests.fakes.youtube_server import YouTubeServer, sample_data
from youtube_activity_tracker.tables import yt_transcript_status, yt_transcripts, yt_videos

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

KEY = "AIza" + "E2eYouTubeKeyS3cretS3cretS3cret00"


@pytest.fixture
def fake() -> Iterator[tuple[YouTubeServer, str]]:
    data, channel = sample_data()
    with YouTubeServer(data, api_keys=(KEY,)) as server:
        yield server, channel


def test_youtube_dags_collect_transcribe_and_index(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, fake: tuple[YouTubeServer, str]
) -> None:
    server, channel = fake
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0}}
        collectors:
          youtube:
            collector: youtube_activity_tracker.collector:YouTubeCollector
            connections: [youtube_default]
            partitioned: true
            schedule: "@daily"
            config:
              channels: [{channel}]
              page_size: 2
              min_description_chars: 10
              vectors: {{sink: local, namespace: youtube}}
          youtube_transcripts:
            collector: youtube_activity_tracker.collector:YouTubeTranscriptCollector
            schedule: "@daily"
            config:
              transcript_base_url: {server.root}
              max_blocked_per_run: 2
              blocked_retry_hours: 0.0001
              vectors: {{sink: local, namespace: youtube}}
        """)
    )
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_YOUTUBE_DEFAULT": json.dumps(
            {"conn_type": "http", "host": server.url("/youtube/v3"), "password": KEY}
        ),
    }

    def dags_test(dag_id: str) -> int:
        ran = airflow_home.dags_test(dag_id, config_file=config, state_dir=tmp_path, extra_env=env)
        output = ran.stdout + ran.stderr
        assert KEY not in output
        return ran.returncode

    assert dags_test("collect_youtube") == 0
    server.blocked = "bot"
    assert dags_test("collect_youtube_transcripts") != 0
    assert server.log.count("POST", "/youtubei/v1/player") == 2  # the breaker stopped at two
    server.blocked = None
    assert dags_test("collect_youtube_transcripts") == 0

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            videos = conn.execute(select(func.count()).select_from(yt_videos)).scalar()
            transcripts = conn.execute(select(func.count()).select_from(yt_transcripts)).scalar()
            runs = conn.execute(
                select(
                    collector_runs.c.collector,
                    collector_runs.c.step,
                    collector_runs.c.status,
                    collector_runs.c.failure_category,
                )
            ).all()
            statuses = conn.execute(select(yt_transcript_status)).all()
        assert (videos, transcripts) == (4, 2), (statuses, runs)
        outcomes = {(r.collector, r.step, r.status, r.failure_category) for r in runs}
        assert ("youtube", "collect", "success", None) in outcomes
        assert ("youtube", "sync_pinecone", "success", None) in outcomes
        assert ("youtube_transcripts", "collect", "failed", "rate_limit") in outcomes
        assert ("youtube_transcripts", "sync_pinecone", "success", None) in outcomes
        assert search_local_records(store, "Slides", namespace="youtube")  # a description, from the first DAG
        assert search_local_records(store, "coroutine frames sentence", namespace="youtube")
    finally:
        store.dispose()
