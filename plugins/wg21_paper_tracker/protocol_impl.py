"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import Activity, RunResult

__all__ = ["Wg21Activity", "Wg21CollectResult"]


@dataclasses.dataclass(frozen=True)
class Wg21CollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run: counts per step, HTTP and outbox
    statistics; ``news`` lists the new papers (at most 50 ids) when there are any."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class Wg21Activity(Activity):
    """:class:`core.protocols.ActivityRecord` for one stored document (a paper revision)."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        date = row.get("document_date") or row.get("mailing_date")
        occurred = (
            dt.datetime.combine(date, dt.time(), dt.UTC)
            if isinstance(date, dt.date)
            else row["first_seen_at"]
        )
        authors = row.get("authors") or row.get("mailing_authors") or []
        return cls(
            source_system="wg21",
            external_id=str(row["doc_id"]),
            occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC),
            activity_type="paper"
            if str(row["prefix"]) in ("P", "N", "D")
            else str(row.get("type") or "document"),
            actor_external_id=str(authors[0]) if authors else None,
            source_url=row.get("long_link") or row.get("link"),
            summary=str(row.get("title") or row.get("mailing_title") or "")[:200],
        )
