"""Kill a console run at an exact request: the crash tests' way to stop a run mid-walk."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable

from tests.fakes.wire import Reply, Request, WireServer

__all__ = ["RequestTrap", "kill_when_trapped"]


class RequestTrap:
    """Holds the first request of ``fake`` that ``when(request)`` selects open until released
    (or 60 s), then answers it 503; every other request is served as usual."""

    def __init__(self, fake: WireServer, when: Callable[[Request], bool]) -> None:
        self.original = fake.handle
        self.when = when
        self.arrived = threading.Event()
        self.release = threading.Event()
        fake.handle = self.handle  # type: ignore[method-assign]

    def handle(self, request: Request) -> Reply:
        if not self.arrived.is_set() and self.when(request):
            self.arrived.set()
            self.release.wait(60)
            return Reply.json(503, {"message": "too late"})
        return self.original(request)


def kill_when_trapped(victim: subprocess.Popen[str], trap: RequestTrap) -> None:
    """SIGKILL ``victim`` once its request is held by ``trap`` (fails after 60 s with its stderr)."""
    try:
        assert trap.arrived.wait(60), victim.communicate(timeout=5)[1][-3000:]
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
    finally:
        trap.release.set()
    assert victim.returncode == -signal.SIGKILL
