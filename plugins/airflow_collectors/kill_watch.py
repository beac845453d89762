"""Tasks killed from outside: no orphans, and a record plus an alert when a task vanishes.

A collector task process can die without running a line of our code: the kernel's
out-of-memory killer (SIGKILL), an operator's ``kill -9``, a lost worker. Airflow then
behaves in one of two ways (Airflow 3.3, read from its source):

* **The supervisor survives** (the common OOM case: the killer picks the task process,
  which holds the memory). The supervisor sees the exit code -9, logs "Likely out of memory
  error (OOM)" and reports the try ``failed`` / ``up_for_retry`` through the execution API.
  No failure or retry callback runs anywhere: the callbacks lived in the dead process.
* **The supervisor dies too** (worker lost). The task instance stops heart-beating; after
  ``[scheduler] task_instance_heartbeat_timeout`` the scheduler fails it and sends a
  ``TaskCallbackRequest``; the dag-processor runs the task's ``on_failure_callback`` /
  ``on_retry_callback`` with a context that holds no ``exception``.
  :class:`~airflow_collectors.alerts.notifier.CollectorAlertNotifier` recognises that context.

For the first case each collector task starts a **watch process** (this module run with
``python -m``): a fresh, small interpreter that holds what it would need, reads its stdin
and waits. The task writes ``done`` when :meth:`CollectorOperator.execute` ends, whatever the
outcome (the operator has recorded it by then); end of file without ``done`` means the task
process is gone. The watch process then records the try in ``collector_runs`` (category
``resource``, :data:`~airflow_collectors.failures.VANISHED_MESSAGE`) and alerts through the
same routing as the notifier. Both paths record through
:func:`core.store.runs.record_run_once`, keyed by the try, and alert only when they wrote the
row, so a try is recorded and alerted once whichever path (or both) sees it.

Orphans: Airflow's supervisor does not ask the kernel to kill the task process when the
supervisor dies (it only sets ``PR_SET_DUMPABLE``), so a collect kept running with nobody to
report to. :func:`die_with_parent` sets ``PR_SET_PDEATHSIG`` to SIGKILL in the task process:
the kernel kills it as soon as its parent (the supervisor) exits. SIGKILL rather than SIGTERM
because nobody is left to receive a graceful report and a SIGTERM handler could hang; the
store stays consistent because every batch commits with its checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["DONE", "KillWatch", "die_with_parent", "main"]

log = logging.getLogger(__name__)

DONE = b"done\n"
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
#: The watch process never lingers longer than this after the task process is gone.
WATCH_DEADLINE_SECONDS = 120


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux only).

    Returns whether the setting is in place. Closes the race where the parent died before
    the call: if the parent already changed, the process kills itself the same way.
    """
    parent = os.getppid()
    try:
        armed = _prctl(_PR_SET_PDEATHSIG, int(sig))
    except OSError:
        armed = False
    if not armed:
        return False
    if os.getppid() != parent:  # the parent died before the kernel knew to tell us
        os.kill(os.getpid(), sig)
    return True


def _watch_log() -> int | IO[bytes]:
    """Where the watch process writes its one-line outcome: ``$COLLECTOR_KILL_WATCH_LOG`` or nowhere."""
    path = os.environ.get("COLLECTOR_KILL_WATCH_LOG")
    if not path:
        return subprocess.DEVNULL
    return Path(path).open("ab")  # handed to the child, closed by start()


def _watch_env() -> dict[str, str]:
    """The task's environment, minus the metadata-DB URL the supervisor replaced with a blocker.

    Airflow's supervisor points ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` of the task process
    at an unusable URL (tasks must not touch the metadata DB); inherited as is, importing
    Airflow in the watch process fails on it. The watch never uses the metadata DB either.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"}
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class KillWatch:
    """The task side: start the watch process, then say ``done`` when the step is over."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, spec: Mapping[str, Any]) -> KillWatch | None:
        """Spawn ``python -m airflow_collectors.kill_watch`` and hand it ``spec`` on stdin."""
        log_target = None
        try:
            log_target = _watch_log()
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow_collectors.kill_watch"],
                stdin=subprocess.PIPE,
                # Never the task's own stdout/stderr: those are sockets to the supervisor, which
                # waits for every copy to close before it reports the task's end.
                stdout=subprocess.DEVNULL,
                stderr=log_target,
                close_fds=True,
                start_new_session=True,  # a signal to the task's process group must not reach it
                env=_watch_env(),
            )
            stdin: IO[bytes] | None = proc.stdin
            assert stdin is not None
            stdin.write(json.dumps(dict(spec), default=str).encode() + b"\n")
            stdin.flush()
        except Exception as exc:  # noqa: BLE001 - the watch is a safety net, never a reason to fail
            log.warning("Could not start the kill watch process: %s", type(exc).__name__)
            return None
        finally:
            if log_target is not None and not isinstance(log_target, int):
                log_target.close()
        return cls(proc)

    def done(self) -> None:
        stdin = self.proc.stdin
        try:
            if stdin is not None:
                stdin.write(DONE)
                stdin.close()
            self.proc.wait(timeout=10)
        except Exception as exc:  # noqa: BLE001 - see start()
            log.warning("Kill watch process did not stop cleanly: %s", type(exc).__name__)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


# --------------------------------------------------------------------------- the watch process


def _export_connections(connections: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Make the task's connections visible here as ``AIRFLOW_CONN_*`` (this process only)."""
    for conn_id, fields in connections.items():
        if not fields:
            continue
        value = {
            key: fields.get(key)
            for key in ("conn_type", "host", "login", "password", "schema", "port", "extra")
            if fields.get(key) not in (None, "", {})
        }
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)


def report_vanished(spec: Mapping[str, Any]) -> str:
    """Record the vanished try and alert (once per try); returns what happened."""
    from airflow_collectors.alerts.vanished import record_and_alert_vanished

    _export_connections(spec.get("connections") or {})
    return record_and_alert_vanished(
        collector=str(spec["collector"]),
        step=str(spec["step"]),
        dag_id=spec.get("dag_id"),
        run_id=spec.get("run_id"),
        task_id=spec.get("task_id"),
        map_index=int(spec.get("map_index", -1)),
        partition=spec.get("partition"),
        try_number=spec.get("try_number"),
        max_tries=spec.get("max_tries"),
        will_retry=bool(spec.get("will_retry")),
        started_at=spec.get("started_at"),
        routing=spec.get("routing") or {},
        store_conn_id=str(spec.get("store_conn_id") or "collector_db"),
        secrets=list(spec.get("secrets") or []),
        log_url=spec.get("log_url"),
        detected_by="the collector's watch process saw the task process end without a result",
    )


def _wait_for_done(stream: IO[bytes]) -> bool:
    """Block until the task says ``done`` (True) or its end of the pipe closes (False)."""
    seen = b""
    while True:
        chunk = stream.read(64)
        if not chunk:
            return seen.endswith(DONE) or DONE in seen
        seen = (seen + chunk)[-64:]
        if DONE in seen:
            return True


def main(argv: Sequence[str] | None = None) -> int:
    with contextlib.suppress(OSError):
        _prctl(_PR_SET_DUMPABLE, 0)  # it holds connection secrets: no same-user memory reads
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the worker is not for us
    stdin = sys.stdin.buffer
    line = stdin.readline()
    if not line:
        return 0
    spec = json.loads(line)
    if _wait_for_done(stdin):
        return 0
    signal.alarm(WATCH_DEADLINE_SECONDS)  # store or webhook hanging: give up, never linger
    logging.basicConfig(level=logging.INFO, format="kill_watch %(levelname)s %(message)s")
    try:
        outcome = report_vanished(spec)
    except Exception as exc:  # noqa: BLE001 - last resort: say something on stderr
        from core.errors import sanitize_exception_message

        message = sanitize_exception_message(exc, list(spec.get("secrets") or []))
        sys.stderr.write(f"kill_watch: could not report the vanished task: {message}\n")
        return 1
    sys.stderr.write(f"kill_watch: {spec.get('dag_id')}/{spec.get('task_id')}: {outcome}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
