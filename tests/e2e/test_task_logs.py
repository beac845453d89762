"""What a failed collect task's log says: the failure once (with its traceback), then Airflow's line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+Z \[(\w+)\s*\] (.*)$")


def test_a_failed_step_logs_its_failure_once(airflow_home: AirflowHome, tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    message = {
        "id": "3",
        "timestamp": "2026-01-01T00:00:00Z",
        "content": "hi",
        "author": {"id": "4", "name": "a"},
    }
    export = {"guild": {"id": "1", "name": "g"}, "channel": {"id": "2", "name": "c"}, "messages": [message]}
    (exports / "broken.json").write_text(json.dumps(export))
    config = tmp_path / "collectors.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "defaults": {"retries": 0},
                "collectors": {
                    "logcheck": {
                        "collector": "discord_activity_tracker.collector:DiscordCollector",
                        "schedule": None,
                        "config": {"export_dir": str(exports)},
                    }
                },
            }
        )
    )
    ran = airflow_home.dags_test("collect_logcheck", config_file=config, state_dir=tmp_path / "state")
    output = ran.stdout + ran.stderr
    assert ran.returncode != 0 and "invalid export header" in output, output[-4000:]
    ours = [
        match.group(2)
        for line in output.splitlines()
        if (match := LOG_LINE.match(line)) and "invalid export header" in match.group(2)
    ]
    assert len(ours) == 1, ours
    assert ours[0].startswith("Collector logcheck failed in validate [validation]")
    assert "Traceback" in output and "Task failed with exception" in output
