"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses

from core.protocols import RunResult

__all__ = ["BoostDocsCollectResult"]


@dataclasses.dataclass(frozen=True)
class BoostDocsCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run: counts (pages, versions, bytes),
    the pages that could not be converted in ``errors``, ``news={"versions": [...]}`` when a
    release was indexed."""

    step: str | None = "collect"
