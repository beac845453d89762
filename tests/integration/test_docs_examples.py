"""The console examples the docs show work as shown, on the bundled samples."""

from __future__ import annotations

import subprocess

from tests.fakes.console import console, console_env


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    process = console(*args, env=console_env(drop=("AIRFLOW_CONN_PINECONE_DEFAULT",)))
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_discord_try_it_finds_the_gcc_question(sqlite_url: str):
    """docs/discord.md, "Try it": run the collector, then search the local sink."""
    ran = _cli("run", "discord", "--db", sqlite_url)
    assert ran.returncode == 0, ran.stderr[-2000:]
    found = _cli("search", "--db", sqlite_url, "--namespace", "discord", "incomplete", "type")
    assert found.returncode == 0, found.stderr[-2000:]
    assert "incomplete type" in found.stdout and "GCC 13" in found.stdout
