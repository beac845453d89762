"""Run ``python -m core.cli ...`` the way a user does: a child process with the project on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping

from tests.conftest import PROJECT_ROOT

__all__ = ["console", "console_env"]


def console_env(extra: Mapping[str, str] | None = None, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", **(extra or {})}
    for name in drop:
        env.pop(name, None)
    return env


def console(
    *args: str, env: Mapping[str, str] | None = None, preexec_fn: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m core.cli ARGS``; the caller waits (``communicate``) or kills it."""
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        env=dict(env) if env is not None else console_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
