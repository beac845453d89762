"""The console commands ``migrate``, ``summary`` and ``search`` (``python -m core.cli``, as in
docs/configuration.md), run as subprocesses against a SQLite and a PostgreSQL store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, table

from core.store import Store
from core.store.migrations import schema_migrations
from core.vectors.ledger import VECTOR_MIGRATIONS
from core.vectors.local_sink import vector_local_records
from discord_activity_tracker.collector import DiscordCollector
from tests.conftest import PROJECT_ROOT
from tests.fakes.toy_collector import ToyCollector

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_CONN_", "COLLECTOR_"))  # only --db chooses the store
    }
    env.update(
        {
            "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
            "COLLECTOR_STATE_DIR": str(tmp_path / "state"),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{SAMPLES}", vectors: {{sink: local, namespace: discord, min_chunk_chars: 5}}}}
          toy:
            collector: tests.fakes.toy_collector:ToyCollector
            config: {{notes: 2}}
        """)
    )
    return path


def _versions(store: Store) -> dict[str, list[int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema_migrations.c.component, schema_migrations.c.version)).all()
    found: dict[str, list[int]] = {}
    for component, version in rows:
        found.setdefault(component, []).append(int(version))
    return {component: sorted(versions) for component, versions in found.items()}


def test_migrate_applies_every_collectors_migrations_once(store_url: str, tmp_path: Path, config: Path):
    first = _ok(_cli(tmp_path, "migrate", "--db", store_url, "--config-file", str(config)))
    store = Store.from_url(store_url)
    versions = _versions(store)
    assert versions["discord"] == [m.version for m in DiscordCollector.migrations]
    assert versions["toy"] == [m.version for m in ToyCollector.migrations]
    assert versions["vectors"] == [m.version for m in VECTOR_MIGRATIONS]
    # Each line reports exactly the versions now recorded for that component.
    assert f"vectors: applied {versions['vectors']}" in first
    assert f"discord (discord): applied {versions['discord']}" in first
    assert f"toy (toy): applied {versions['toy']}" in first
    tables = set(inspect(store.engine).get_table_names())
    assert {"collector_checkpoints", "collector_runs", "discord_messages", "toy_notes"} <= tables

    again = _ok(_cli(tmp_path, "migrate", "--db", store_url, "--config-file", str(config)))
    assert "vectors: applied nothing new" in again
    assert "discord (discord): applied nothing new" in again and "toy (toy): applied nothing new" in again
    assert _versions(store) == versions
    store.dispose()


def test_migrate_with_a_broken_config_names_the_file_and_writes_nothing(store_url: str, tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("collectors:\n  bad:\n    collector: nowhere.module:Missing\n")
    result = _cli(tmp_path, "migrate", "--db", store_url, "--config-file", str(broken))
    assert result.returncode != 0
    assert "broken.yaml" in result.stderr and "collectors.bad.collector" in result.stderr
    store = Store.from_url(store_url)
    assert inspect(store.engine).get_table_names() == []
    store.dispose()


def test_summary_prints_every_table_with_its_row_count(store_url: str, tmp_path: Path, config: Path):
    _ok(_cli(tmp_path, "run", "discord", "--db", store_url, "--config-file", str(config)))
    shown = _ok(_cli(tmp_path, "summary", "--db", store_url)).splitlines()
    printed = {line.split()[0]: int(line.split()[1]) for line in shown[1:]}
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        expected = {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in inspect(store.engine).get_table_names()
        }
    store.dispose()
    assert shown[0].startswith("Store: ")
    assert printed == expected
    assert printed["discord_messages"] > 0 and printed["vector_local_records"] > 0


def test_search_finds_local_records_having_every_word(store_url: str, tmp_path: Path, config: Path):
    _ok(_cli(tmp_path, "run", "discord", "--db", store_url, "--config-file", str(config)))
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        records = conn.execute(select(vector_local_records.c.record_id, vector_local_records.c.text)).all()
    store.dispose()
    words = ["cross", "RASPBERRY"]  # case-insensitive, every word must appear
    matching = sorted(rid for rid, text in records if all(w.lower() in text.lower() for w in words))
    assert matching and len(matching) < len(records)  # the query discriminates

    found = _ok(_cli(tmp_path, "search", "--db", store_url, "--namespace", "discord", *words))
    lines = found.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("discord  ")] == matching
    assert lines[-1] == f"{len(matching)} record(s)"

    many = sorted(rid for rid, text in records if "acme" in text.lower())
    assert len(many) > 2
    first = _ok(_cli(tmp_path, "search", "--db", store_url, "--limit", "2", "Acme")).splitlines()
    assert [line.split()[1] for line in first if line.startswith("discord  ")] == many[:2]
    elsewhere = _ok(_cli(tmp_path, "search", "--db", store_url, "--namespace", "github", *words))
    assert elsewhere.splitlines() == ["0 record(s)"]
    one_word_missing = _ok(_cli(tmp_path, "search", "--db", store_url, *words, "zzyzx"))
    assert one_word_missing.splitlines() == ["0 record(s)"]
