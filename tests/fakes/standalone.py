"""A fake server script run as its own process (standalone mode), for tests of real Airflow tasks.

The task processes of ``airflow dags test`` cannot reach a server thread of the test process
reliably, so the DAG tests start the fake's script on a free port and wait until it answers.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

__all__ = ["standalone_fake"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def standalone_fake(
    script: str, *args: str, probe: str, headers: Mapping[str, str], log: Path
) -> Iterator[str]:
    """Run ``tests/fakes/<script>`` with ``--port <free port> *args``; yield ``http://127.0.0.1:<port>``
    once ``GET <origin><probe>`` with ``headers`` answers 2xx/3xx (10 s at most, else the test fails).

    The server's output goes to ``log``; the process is terminated on exit.
    """
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "tests/fakes" / script), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(100):
                try:
                    request = urllib.request.Request(f"{origin}{probe}", headers=dict(headers))
                    with urllib.request.urlopen(request, timeout=1):
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"the fake server {script} did not start (see {log})")
            yield origin
        finally:
            process.terminate()
            process.wait(10)
