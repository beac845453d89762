"""Contract breaches pyright cannot see (the types allow them): the runtime guards catch them.

Pyright must report nothing here (if it starts to, move the line to a negative sample);
``tests/unit/test_protocol_samples.py`` imports this file and checks that the guard
(``require_tracker_result``) rejects every object in ``HOLES`` with a ``TypeError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from core.protocols import TrackerResult


@dataclasses.dataclass(frozen=True)
class TextErrors:
    """``str`` is a ``Sequence[str]``: one error message would read as a list of characters."""

    success: bool
    counts: Mapping[str, int]
    errors: str
    duration_seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class BoolCounts:
    """``bool`` is an ``int``: ``{"messages": True}`` type-checks as a count."""

    success: bool
    counts: Mapping[str, bool]
    errors: tuple[str, ...] = ()
    duration_seconds: float | None = None


HOLES: tuple[TrackerResult, ...] = (
    TextErrors(success=False, counts={}, errors="rate limited"),
    BoolCounts(success=True, counts={"messages": True}),
)
