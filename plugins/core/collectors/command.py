"""``CommandCollector``: run an existing console command or callable as a collector."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.collectors.lifecycle import LifecycleMixin
from core.errors import CommandFailedError, SourceTimeoutError, sanitize_text
from core.protocols import RunResult, TrackerResult, require_tracker_result

__all__ = ["CommandCollector"]

_STDERR_TAIL_CHARS = 2000


class CommandCollector(LifecycleMixin):
    """Glue for code that is not (yet) a collector.

    ``target`` is an argv list (run as a subprocess, no shell) or a callable. A non-zero
    exit (or a callable returning a non-zero int) raises :class:`CommandFailedError`
    (category ``command``) carrying the sanitized tail of stderr. A callable may also return
    a :class:`TrackerResult`, which is passed through.
    """

    def __init__(
        self,
        target: Sequence[str] | Callable[[], Any],
        *,
        name: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.target = target
        self.name = name or (target[0] if not callable(target) else getattr(target, "__name__", "callable"))
        self.timeout = timeout
        self.env = dict(env) if env is not None else None
        self._secrets = list(secrets)
        self.last_result: TrackerResult | None = None

    def secrets(self) -> list[str]:
        return self._secrets

    def run(self) -> TrackerResult:
        started = time.monotonic()
        try:
            result = self._run_callable() if callable(self.target) else self._run_process(self.target)
        except BaseException as exc:
            self.handle_error(exc, "command")
            raise
        if result.duration_seconds is None:
            result = RunResult(
                success=result.success,
                counts=dict(result.counts),
                errors=tuple(result.errors),
                duration_seconds=time.monotonic() - started,
                step="collect",
            )
        self.last_result = result
        return result

    def _run_callable(self) -> TrackerResult:
        assert callable(self.target)
        outcome = self.target()
        if outcome is None or outcome == 0:
            return RunResult(success=True, step="collect")
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            raise CommandFailedError(f"{self.name} returned exit code {outcome}", returncode=outcome)
        return require_tracker_result(outcome)

    def _run_process(self, argv: Sequence[str]) -> TrackerResult:
        try:
            completed = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=self.timeout, env=self.env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SourceTimeoutError(f"{self.name} did not finish within {self.timeout} s") from exc
        except FileNotFoundError as exc:
            raise CommandFailedError(f"{self.name}: command not found") from exc
        if completed.returncode != 0:
            tail = sanitize_text((completed.stderr or "")[-_STDERR_TAIL_CHARS:], self._secrets).strip()
            raise CommandFailedError(
                f"{self.name} exited with code {completed.returncode}: {tail}",
                returncode=completed.returncode,
                stderr_tail=tail,
            )
        lines = (completed.stdout or "").count("\n")
        return RunResult(success=True, counts={"output_lines": lines}, step="collect")
