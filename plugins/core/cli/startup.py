"""Garbage collection around ``python -m core.cli``'s start-up.

Importing SQLAlchemy, pydantic and a collector allocates hundreds of thousands of objects
that all stay alive; the collector runs its generations over them again and again meanwhile
(about 70 ms of a 500 ms start-up here). :func:`pause` turns it off for the start-up;
:func:`resume` freezes what the start-up created (long-lived: modules, classes, settings),
so the run's own collections skip it, and turns collection back on before any data is read.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]

_paused = False


def pause() -> None:
    """Stop automatic collection until :func:`resume` (only if it was on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze the start-up's objects and turn collection back on, if :func:`pause` stopped it."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
