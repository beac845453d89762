"""Apply ``airflow_settings.yaml`` (pools, variables) to an Airflow without the Astro CLI.

Idempotent: pools are created or updated to the declared slots (``airflow pools import``),
variables are overwritten with the declared values. Connections are not written: their values
in the file are placeholders; a deployment provides them as ``AIRFLOW_CONN_<ID>`` variables
(docker-compose.yaml), a secrets backend or the UI. Declared connections that the running
Airflow cannot resolve are listed, so a missing ``collector_db`` is seen at start-up.

    python scripts/apply_airflow_settings.py [airflow_settings.yaml]

Runs ``airflow`` from the same environment (``$AIRFLOW_BIN`` overrides).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

DEFAULT = Path(__file__).resolve().parent.parent / "airflow_settings.yaml"


def _airflow() -> str:
    configured = os.environ.get("AIRFLOW_BIN")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    settings = data.get("airflow") if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise SystemExit(f"{path}: expected a top-level 'airflow:' mapping")
    return settings


def pools_json(settings: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    pools: dict[str, dict[str, Any]] = {}
    for n, pool in enumerate(settings.get("pools") or []):
        try:
            name, slots = str(pool["pool_name"]), int(pool["pool_slot"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(
                f"{path}: airflow.pools[{n}]: needs pool_name and an integer pool_slot ({exc})"
            ) from None
        pools[name] = {
            "slots": slots,
            "description": str(pool.get("pool_description") or ""),
            "include_deferred": False,
        }
    return pools


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([_airflow(), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit(f"airflow {' '.join(args[:2])} failed with exit code {result.returncode}")
    return result


def _resolves(conn_id: str) -> bool:
    """Whether this Airflow resolves ``conn_id`` from any source (metadata, env, secrets backend)."""
    found = subprocess.run(
        [_airflow(), "connections", "get", conn_id, "-o", "json"], capture_output=True, text=True, check=False
    )
    return found.returncode == 0


def apply(path: Path) -> None:
    settings = load(path)
    with tempfile.TemporaryDirectory() as tmp:
        pools = pools_json(settings, path)
        if pools:
            pools_file = Path(tmp) / "pools.json"
            pools_file.write_text(json.dumps(pools))
            _run("pools", "import", str(pools_file))
            declared = ", ".join(f"{name}={pool['slots']}" for name, pool in pools.items())
            print(f"pools: {declared}")
        variables = {
            str(v["variable_name"]): v.get("variable_value") for v in settings.get("variables") or []
        }
        if variables:
            variables_file = Path(tmp) / "variables.json"
            variables_file.write_text(json.dumps(variables))
            _run("variables", "import", "--action-on-existing-key", "overwrite", str(variables_file))
            print(f"variables: {', '.join(variables)}")
    conn_ids = [str(conn["conn_id"]) for conn in settings.get("connections") or []]
    with ThreadPoolExecutor(max_workers=4) as pool:  # each lookup starts an airflow CLI: seconds
        resolved = list(pool.map(_resolves, conn_ids))
    missing = [conn_id for conn_id, ok in zip(conn_ids, resolved, strict=True) if not ok]
    if missing:
        print(f"connections not defined here (set AIRFLOW_CONN_<ID> or use the UI): {', '.join(missing)}")


if __name__ == "__main__":
    apply(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
