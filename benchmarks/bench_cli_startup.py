"""The collector process's fixed cost: ``python -m core.cli run discord --skip-sync`` over an
empty export folder (interpreter start, imports, migrations check, run bookkeeping), against
the same command from another checkout (a git worktree of the commit before a change).

    PYTHONPATH=plugins:. python benchmarks/bench_cli_startup.py --baseline /tmp/base [--repeat 7]
        [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

Two cases, each side run in a fresh child process, alternately (benchmarks/harness.py):

* ``current schema``: the database already holds every table (migrated once, untimed): the
  usual Airflow task or scheduled run.
* ``first run``: a brand-new database, every migration applied (what
  ``bench_discord_ingest.py``'s "fixed cost" side measures).

Both checkouts' ``plugins/`` are byte-compiled first (``compileall``) so that neither side
pays for compiling sources (the environment may set PYTHONDONTWRITEBYTECODE). Reports each
side's wall time and child CPU time as median and range, and the per-rep ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2

from benchmarks.harness import MIN_REPS, alternate, describe, print_load

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "core.cli", "run", "discord"]


def _admin(dsn: str, sql: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(sql)
    conn.close()


def run_cli(root: Path, config: Path, url: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``run discord --skip-sync`` child from ``root``."""
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}:{root}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [*CLI, "--config-file", str(config), "--db", url, "--skip-sync"],
        env=env,
        cwd=root,
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, required=True, metavar="CHECKOUT")
    parser.add_argument("--repeat", type=int, default=7, help=f"alternating reps (at least {MIN_REPS})")
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--case", choices=["both", "current", "first"], default="both", help="which database state"
    )
    args = parser.parse_args()
    admin = args.pg.replace("postgresql+psycopg2://", "postgresql://")
    base = args.pg.rsplit("/", 1)[0]
    roots = {"current": ROOT, "baseline": args.baseline.resolve()}
    for root in roots.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "plugins")], check=True)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "empty").mkdir()
        config = tmp / "collectors.yaml"
        config.write_text(
            textwrap.dedent(f"""
            collectors:
              discord:
                collector: discord_activity_tracker.collector:DiscordCollector
                config: {{export_dir: "{tmp / "empty"}", batch_size: 5000}}
            """)
        )
        cpu: dict[str, list[float]] = {}
        migrated = f"bench_{uuid.uuid4().hex[:10]}"
        _admin(admin, f'CREATE DATABASE "{migrated}"')
        try:
            run_cli(ROOT, config, f"{base}/{migrated}")  # untimed: the schema is now current

            def side(name: str, root: Path, fresh: bool) -> Callable[[], float]:
                def run() -> float:
                    if not fresh:
                        wall, used = run_cli(root, config, f"{base}/{migrated}")
                    else:
                        database = f"bench_{uuid.uuid4().hex[:10]}"
                        _admin(admin, f'CREATE DATABASE "{database}"')
                        try:
                            wall, used = run_cli(root, config, f"{base}/{database}")
                        finally:
                            _admin(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                    cpu.setdefault(name, []).append(used)
                    return wall

                return run

            sides: dict[str, Callable[[], float]] = {}
            cases = {"current": ["current schema"], "first": ["first run"]}.get(
                args.case, ["current schema", "first run"]
            )
            for case in cases:
                for label, root in roots.items():
                    sides[f"{label}, {case}"] = side(f"{label}, {case}", root, case == "first run")
            print_load("before")
            samples = alternate(sides, args.repeat)
            print_load("after")
        finally:
            _admin(admin, f'DROP DATABASE IF EXISTS "{migrated}" WITH (FORCE)')

    for name, values in samples.items():
        print(f"{name}: wall {describe(values)}; CPU {describe(cpu[name])}")
    for case in cases:
        for what, data in (("wall", samples), ("CPU", cpu)):
            ratios = [c / b for c, b in zip(data[f"current, {case}"], data[f"baseline, {case}"], strict=True)]
            print(
                f"{case}: current / baseline {what} (per rep): median {statistics.median(ratios):.2f} "
                f"(range {min(ratios):.2f} to {max(ratios):.2f}, {len(ratios)} reps)"
            )


if __name__ == "__main__":
    main()
