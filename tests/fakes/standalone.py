"""A fake server script run as its own process (standalone mode), for tests of real Airflow tasks.

The task processes Airflow starts cannot reach a server thread of the test process reliably, so
those tests start the fake's script on a free port and wait until it answers.
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

__all__ = ["standalone_fake"]

FAKES = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def standalone_fake(
    script: str, *args: str, probe: str, headers: Mapping[str, str] | None = None, log: Path
) -> Iterator[str]:
    """Run ``tests/fakes/<script>`` with ``--port <free port> *args``; yield ``http://127.0.0.1:<port>``
    once ``GET <origin><probe>`` (with ``headers``) answers 2xx/3xx, within 10 s (else RuntimeError).

    The server's output goes to ``log``; the process is terminated on exit.
    """
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(FAKES / script), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(200):
                try:
                    request = urllib.request.Request(f"{origin}{probe}", headers=dict(headers or {}))
                    with urllib.request.urlopen(request, timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            else:
                raise RuntimeError(f"the fake server {script} did not start (see {log})")
            yield origin
        finally:
            process.terminate()
            process.wait(10)
