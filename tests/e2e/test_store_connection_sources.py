"""The store URL comes from the ``collector_db`` connection the same way for tasks and console.

The connection may carry the Postgres provider's own extras (``cursor``), libpq options
(``sslmode``, ``options``), the provider's ``sqlalchemy_query``, and a password with URL
delimiters in it; it may live in the environment, the UI (metadata DB) or a secrets backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from core.connections import store_url_from_connection
from core.errors import ConfigError
from core.store import Store
from discord_activity_tracker.tables import discord_messages
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import AirflowHome
from tests.fakes.console import console, console_env

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
# Trust authentication ignores it: what matters is that it reaches libpq intact.
PASSWORD = "p@ss/w:rd?#%&="


def _fields(pg_url: str, **extra: object) -> dict[str, object]:
    url = make_url(pg_url)
    return {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "password": PASSWORD,
        "schema": url.database,
        "extra": extra,
    }


def _schema(pg_url: str, name: str) -> None:
    url = make_url(pg_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
    conn.close()


def _tables_in(pg_url: str, schema: str) -> set[str]:
    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            )
            return set(rows.scalars())
    finally:
        store.dispose()


def test_provider_extras_and_an_awkward_password_give_a_working_store(pg_url: str):
    fields = _fields(
        pg_url,
        cursor="dictcursor",  # the provider's cursor factory: not a libpq option
        iam=False,
        sslmode="disable",
        connect_timeout=7,
        sqlalchemy_query={"application_name": "collectors-trap2"},
    )
    url = store_url_from_connection(fields, "collector_db")
    parsed = make_url(url)
    assert parsed.password == PASSWORD
    assert "cursor" not in parsed.query and "iam" not in parsed.query
    store = Store.from_url(url)
    try:
        with store.engine.connect() as conn:
            assert (
                conn.execute(text("SELECT current_setting('application_name')")).scalar_one()
                == "collectors-trap2"
            )
            assert conn.execute(text("SELECT current_database()")).scalar_one() == make_url(pg_url).database
    finally:
        store.dispose()


def test_only_postgres_or_sqlite_connections_make_a_store(pg_url: str):
    with pytest.raises(ConfigError, match="has type 'mysql'"):
        store_url_from_connection({**_fields(pg_url), "conn_type": "mysql"}, "collector_db")
    assert (
        store_url_from_connection({"conn_type": "sqlite", "host": "/tmp/x.db"}, "s") == "sqlite:////tmp/x.db"
    )


def test_console_uses_the_connections_extras(pg_url: str):
    """``python -m core.cli`` reads ``$AIRFLOW_CONN_COLLECTOR_DB`` with its extras (it used to drop them)."""
    _schema(pg_url, "collectors_ns")
    conn = _fields(pg_url, cursor="realdictcursor", options="-c search_path=collectors_ns")
    env = console_env({"AIRFLOW_CONN_COLLECTOR_DB": json.dumps(conn)}, drop=("COLLECTOR_DB_URL",))
    out, err = console("migrate", env=env).communicate(timeout=180)
    assert "discord" in out, out + err
    assert {"collector_runs", "discord_messages"} <= _tables_in(pg_url, "collectors_ns")
    assert "discord_messages" not in _tables_in(pg_url, "public")


def test_console_outside_the_embedded_mode_needs_the_connection(tmp_path: Path):
    env = console_env(
        {"COLLECTOR_STATE_DIR": str(tmp_path)},
        drop=("COLLECTOR_DB_URL", "AIRFLOW_CONN_COLLECTOR_DB", "COLLECTOR_EMBEDDED"),
    )
    process = console("summary", env=env)
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "'collector_db' (the collector store) is not defined" in out + err
    assert not list(tmp_path.rglob("*.db")), "no SQLite store may be created outside the embedded mode"


@pytest.mark.airflow
@pytest.mark.slow
def test_a_connection_from_the_metadata_db_serves_tasks_and_the_airflow_console(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path
):
    conn_id = "trap2_store"
    url = make_url(pg_url)
    added = airflow_home.run(
        "connections", "add", conn_id,
        "--conn-type", "postgres",
        "--conn-host", str(url.host),
        "--conn-port", str(url.port),
        "--conn-login", str(url.username),
        "--conn-password", PASSWORD,
        "--conn-schema", str(url.database),
        "--conn-extra", json.dumps({"cursor": "dictcursor", "connect_timeout": 5}),
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    config = tmp_path / "collectors.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "defaults": {"store_conn_id": conn_id, "retries": 0},
                "collectors": {
                    "discord": {
                        "collector": "discord_activity_tracker.collector:DiscordCollector",
                        "schedule": None,
                        "config": {"export_dir": str(SAMPLES), "vectors": {"sink": "local"}},
                    }
                },
            }
        )
    )
    ran = airflow_home.dags_test(
        "collect_discord",
        config_file=config,
        state_dir=tmp_path / "state",
        extra_env={"COLLECTOR_EMBEDDED": "0"},
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    expected = {m["id"] for p in SAMPLES.glob("*.json") for m in json.loads(p.read_text())["messages"]}
    store = Store.from_url(pg_url)
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(discord_messages)).scalar_one() == len(
            expected
        )
    store.dispose()
    assert PASSWORD not in ran.stdout + ran.stderr

    summary = subprocess.run(
        [sys.executable, "-m", "airflow_collectors.cli", "summary", "--store-conn-id", conn_id],
        env={**airflow_home.env, "COLLECTOR_EMBEDDED": "0"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert summary.returncode == 0, summary.stdout + summary.stderr
    line = next(line for line in summary.stdout.splitlines() if line.split()[:1] == ["discord_messages"])
    assert int(line.split()[1]) == len(expected)
