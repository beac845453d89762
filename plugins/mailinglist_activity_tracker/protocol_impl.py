"""The mailing-list tracker's protocol implementations: frozen, JSON-round-trippable (XCom)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import Activity, Checkpoint, RunResult

__all__ = ["MailingListMessageActivity", "MailingListResult", "MailingListState"]


@dataclasses.dataclass(frozen=True)
class MailingListResult(RunResult):
    """:class:`core.protocols.TrackerResult` of one list's collect run."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class MailingListMessageActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one archived message."""

    @classmethod
    def from_message_row(cls, row: Mapping[str, Any], base_url: str) -> Self:
        sent = row.get("sent_at") or row["first_seen_at"]
        return cls(
            source_system="mailinglist",
            external_id=f"{row['list_fqdn']}/{row['message_id_hash']}",
            occurred_at=sent if sent.tzinfo else sent.replace(tzinfo=dt.UTC),
            activity_type="reply" if row.get("parent_hash") else "message",
            actor_external_id=row.get("sender_address"),
            source_url=f"{base_url.rstrip('/')}/list/{row['list_fqdn']}/message/{row['message_id_hash']}/",
            summary=str(row.get("subject") or "")[:200],
        )


@dataclasses.dataclass(frozen=True)
class MailingListState(Checkpoint):
    """:class:`core.protocols.IncrementalState` of one list.

    ``checkpoint_token``: the newest archived message's hash when the last head walk ended.
    ``extras``: ``count`` (the archive's count then), ``walk`` (an unfinished walk: positions at
    or past ``offset``, when the list held ``count`` messages, are not read yet), ``threads_at``
    (last thread refresh), ``reconciled_at``, ``mbox_month`` (last month of an unfinished
    mbox backfill) and ``backfilled`` (the first full read is done).
    """

    def value(self, key: str, default: Any = None) -> Any:
        return self.extras.get(key, default)

    def when(self, key: str) -> dt.datetime | None:
        value = self.extras.get(key)
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None

    def with_extras(self, token: str | None = None, marker: str | None = None, **changes: Any) -> Self:
        extras = {k: v for k, v in {**_plain(self.extras), **changes}.items() if v is not None}
        return dataclasses.replace(
            self,
            checkpoint_token=token if token is not None else self.checkpoint_token,
            human_readable_marker=marker if marker is not None else self.human_readable_marker,
            extras=extras,
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
