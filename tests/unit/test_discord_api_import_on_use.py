"""The Discord collector imports its bot-API client only for ``source: api``: an export run
does not pay for requests, tenacity and the HTTP kit at start-up (docs/performance.md, the
collector's fixed start-up)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PROBE = """
import sys
import discord_activity_tracker.collector
print(sorted(m for m in ("discord_activity_tracker.api_collect", "requests", "tenacity") if m in sys.modules))
"""


def test_importing_the_collector_leaves_the_bot_api_client_unloaded() -> None:
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
