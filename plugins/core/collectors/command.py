"""``CommandCollector``: run an existing console command or callable as a collector."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.collectors.lifecycle import LifecycleMixin
from core.errors import CollectorFailureCategory, CommandFailedError, SourceTimeoutError, sanitize_text
from core.protocols import RunResult, TrackerResult, require_tracker_result

__all__ = ["CommandCollector"]

_STDERR_TAIL_CHARS = 2000


class CommandCollector(LifecycleMixin):
    """Glue for code that is not (yet) a collector.

    ``target`` is an argv list (run as a subprocess, no shell) or a callable. A non-zero
    exit (or a callable returning a non-zero int) raises :class:`CommandFailedError`
    (category ``command``) carrying the sanitized tail of stderr. A callable may also return
    a :class:`TrackerResult`, which is passed through.

    A process's result counts its output lines, unless ``json_result`` is set: the command
    is then a :class:`~core.collectors.BaseCollectorCommand` (or prints what one prints: a
    JSON object whose ``collect`` entry is a result dict) and that result is passed through,
    counts and all. Output that is not such JSON raises :class:`CommandFailedError`. When
    such a command fails, the failure line it wrote to stderr (``failure_category`` and the
    sanitized ``error``) becomes the message, and its category (unless ``unknown``) the
    category of the :class:`CommandFailedError`: a wrapped collector's ``network`` failure is
    retried like the collector's own would be.

    Not an :class:`~core.collectors.AbstractCollector`: the DAG factory does not run it
    directly. In a DAG, an ``AbstractCollector`` returns ``CommandCollector(...).run()`` from
    its ``collect()`` (docs/core-api.md, "A console command in a DAG").
    """

    def __init__(
        self,
        target: Sequence[str] | Callable[[], Any],
        *,
        name: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        json_result: bool = False,
    ) -> None:
        self.target = target
        self.name = name or (target[0] if not callable(target) else getattr(target, "__name__", "callable"))
        self.timeout = timeout
        self.env = dict(env) if env is not None else None
        self._secrets = list(secrets)
        self.json_result = json_result
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
            reported = _reported_failure(completed.stderr or "") if self.json_result else None
            if reported is None:
                raise CommandFailedError(
                    f"{self.name} exited with code {completed.returncode}: {tail}",
                    returncode=completed.returncode,
                    stderr_tail=tail,
                )
            category, message = reported
            error = CommandFailedError(
                f"{self.name} exited with code {completed.returncode} [{category.value}]: "
                f"{sanitize_text(message, self._secrets)[:_STDERR_TAIL_CHARS]}",
                returncode=completed.returncode,
                stderr_tail=tail,
            )
            if category is not CollectorFailureCategory.UNKNOWN:
                error.category = category
            raise error
        if self.json_result:
            return self._result_of(completed.stdout or "")
        lines = (completed.stdout or "").count("\n")
        return RunResult(success=True, counts={"output_lines": lines}, step="collect")

    def _result_of(self, stdout: str) -> TrackerResult:
        """The ``collect`` result a collector command printed (``BaseCollectorCommand.main``)."""
        try:
            outcome = json.loads(stdout)
            collect = outcome.get("collect") if isinstance(outcome, dict) else None
            if collect is None and isinstance(outcome, dict):
                return RunResult(success=True, step="collect")  # the collector returned no result
            if not isinstance(collect, dict):
                raise TypeError("'collect' is not an object")
            return require_tracker_result(RunResult.from_dict({"step": "collect", **collect}))
        except (ValueError, TypeError, KeyError) as exc:
            head = sanitize_text(stdout[:200], self._secrets).strip()
            raise CommandFailedError(
                f"{self.name} printed no collector result ({type(exc).__name__}: "
                f"{sanitize_text(str(exc), self._secrets)}): {head!r}"
            ) from None


def _reported_failure(stderr: str) -> tuple[CollectorFailureCategory, str] | None:
    """The ``{"failure_category", "error"}`` line a ``BaseCollectorCommand`` writes last on failure."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        failure = json.loads(lines[-1])
        category = CollectorFailureCategory(failure["failure_category"])
    except (ValueError, TypeError, KeyError):
        return None
    return category, str(failure.get("error") or "")
