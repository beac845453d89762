"""``python -m core.cli``'s start-up: each command imports only what it uses (a fresh
interpreter per case, as every console run and Airflow task starts one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs core.cli's main in this interpreter, then prints which of these modules got imported.
_PROBE = """
import json, sys
from core.cli.__main__ import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
watched = {watched!r}
print(json.dumps({{"code": code, "loaded": sorted(m for m in watched if m in sys.modules)}}))
"""

HEAVY = [
    "sqlalchemy",
    "pydantic",
    "core.config",
    "core.collectors",
    "core.store",
    "core.cli.run",
    "core.cli.publish",
    "core.publishing.step",
    "core.store.status",
]


def _probe(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}", "COLLECTOR_EMBEDDED": "1"}
    env.pop("COLLECTOR_DB_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(watched=HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_and_unknown_commands_import_nothing_heavy():
    assert _probe("--help") == {"code": 0, "loaded": []}
    assert _probe("nonsense") == {"code": 2, "loaded": []}
    # A command's own --help parses its arguments before importing anything.
    assert _probe("status", "--help") == {"code": 0, "loaded": []}


def test_run_imports_the_collector_framework_but_not_the_other_commands(tmp_path: Path):
    (tmp_path / "exports").mkdir()
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{tmp_path / "exports"}"}}
        """)
    )
    outcome = _probe(
        "run",
        "discord",
        "--config-file",
        str(config),
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "--skip-sync",
    )
    assert outcome["code"] == 0
    assert outcome["loaded"] == sorted(
        ["sqlalchemy", "pydantic", "core.config", "core.collectors", "core.store", "core.cli.run"]
    )


def test_run_closes_the_store_connections_it_opened(pg_url: str, tmp_path: Path):
    # python -m core.cli freezes the garbage collector on its way out, so the run itself
    # must close its pooled connections (the server must not see them dropped).
    from sqlalchemy import create_engine, text

    from core.cli.run import RunCommand

    (tmp_path / "exports").mkdir()
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{tmp_path / "exports"}"}}
        """)
    )
    command = RunCommand(lambda conn_id: None)
    assert command.main(["discord", "--config-file", str(config), "--db", pg_url, "--skip-sync"]) == 0
    assert command.context is not None

    checker = create_engine(pg_url)
    try:
        with checker.connect() as conn:
            for _ in range(100):  # a closed backend leaves pg_stat_activity shortly after
                others = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'"
                    )
                ).scalar_one()
                if others == 0:
                    break
                time.sleep(0.05)
    finally:
        checker.dispose()
    assert others == 0, "the run left store connections open"


_GC_PROBE_COLLECTOR = """
import gc, json, os
from tests.fakes.toy_collector import ToyCollector

class GcProbe(ToyCollector):
    def collect(self):
        with open(os.environ["GC_PROBE_OUT"], "w") as out:
            json.dump({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}, out)
        return super().collect()
"""


def test_start_up_runs_without_collection_and_the_collect_with_it(tmp_path: Path):
    # python -m core.cli pauses the garbage collector for its imports; the collector must
    # collect with it back on (and the start-up's objects frozen out of its way).
    (tmp_path / "gc_probe.py").write_text(_GC_PROBE_COLLECTOR)
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent("""
        collectors:
          probe:
            collector: gc_probe:GcProbe
            config: {notes: 2}
        """)
    )
    out = tmp_path / "gc.json"
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}:{tmp_path}",
        "GC_PROBE_OUT": str(out),
    }
    store = f"sqlite:///{tmp_path / 's.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "run",
            "probe",
            "--config-file",
            str(config),
            "--db",
            store,
            "--skip-sync",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["collect"]["counts"]
    seen = json.loads(out.read_text())
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000
