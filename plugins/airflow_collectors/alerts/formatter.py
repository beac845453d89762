"""The alert message and its renderings: plain text, Slack blocks, webhook bodies. No I/O.

Every free-text field is redacted by :meth:`CollectorAlert.sanitized` (literal secrets and
token shapes, :func:`core.errors.sanitize_text`) before anything renders it for a destination.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

from core.errors import sanitize_text

__all__ = [
    "CATEGORY_ADVICE",
    "ERROR_LIMIT",
    "LATE_CATEGORY",
    "STALE_CATEGORY",
    "AlertKind",
    "CollectorAlert",
    "webhook_body",
]

AlertKind = Literal["failure", "retry", "deadline", "stale"]
LATE_CATEGORY = "late"
STALE_CATEGORY = "stale"
ERROR_LIMIT = 1500
DISCORD_CONTENT_LIMIT = 2000

CATEGORY_ADVICE: dict[str, str] = {
    "auth": "credentials were refused: rotate or fix the connection's token; retrying will not help",
    "permission": "the credentials lack access (private repo, missing scope, bot not in channel): "
    "grant access or drop the partition",
    "validation": "bad config or input that breaks its schema: fix the named file/field "
    "(what was committed before the failure is kept: see above)",
    "command": "a wrapped command failed: read its stderr tail in the task log",
    "rate_limit": "the source's quota ran out on every try: lower the schedule/batch size "
    "or add tokens to the pool",
    "network": "the source was unreachable or returned 5xx on every try: check its status; "
    "the next run resumes from the checkpoint",
    "timeout": "requests or the step ran out of time on every try: check the source's "
    "latency or raise execution_timeout_minutes",
    "unknown": "an unexpected error: read the task log and add a classification for it",
    "resource": "the task ran out of a machine resource or its process was killed: free disk space "
    "or raise the quota (worker or database), raise max_connections, or look for the out-of-memory "
    "killer in the worker's kernel log (dmesg) or a lost worker, then lower batch sizes or give the "
    "worker more memory; the next run resumes from the checkpoint",
    "conflict": "another run holds the same collector/partition: it goes on after that run ends",
    LATE_CATEGORY: "the run is still not finished at its deadline: look for a stuck task, a full pool "
    "or a slow source",
    STALE_CATEGORY: "no successful collect within the expected interval: check the DAG is unpaused "
    "and look at the last failures",
}


@dataclasses.dataclass(frozen=True)
class CollectorAlert:
    """One alert: what happened, where, and what to do (the renderings below share it)."""

    kind: AlertKind
    collector: str
    category: str
    dag_id: str | None = None
    task_id: str | None = None
    step: str | None = None
    partition: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    error: str = ""
    log_url: str | None = None
    details: tuple[str, ...] = ()
    suppressed_before: int = 0

    def title(self) -> str:
        where = (
            f" ({self.step}" + (f" [{self.partition}]" if self.partition else "") + ")" if self.step else ""
        )
        if self.kind == "deadline":
            return f"Collector {self.collector} is late: run not finished by its deadline"
        if self.kind == "stale":
            return f"Collector {self.collector} is stale: no successful collect within its expected interval"
        if self.kind == "retry":
            return f"Collector {self.collector} failed{where}: {self.category}, will retry"
        exhausted = (
            ", retries exhausted" if self.try_number and self.max_tries and self.try_number > 1 else ""
        )
        return f"Collector {self.collector} failed{where}: {self.category}{exhausted}"

    def fields(self) -> list[tuple[str, str]]:
        tries = None
        if self.try_number is not None:
            tries = f"{self.try_number}" + (f" of {self.max_tries + 1}" if self.max_tries is not None else "")
        pairs = [
            ("Collector", self.collector),
            ("Category", self.category),
            ("DAG", self.dag_id),
            ("Task", self.task_id),
            ("Step", self.step),
            ("Partition", self.partition),
            ("Run", self.run_id),
            ("Try", tries),
        ]
        return [(name, str(value)) for name, value in pairs if value not in (None, "")]

    def text(self) -> str:
        """Plain text: Slack's fallback ``text``, generic webhooks, the task log."""
        lines = [f"[{self.kind}] {self.title()}"]
        lines += [f"{name}: {value}" for name, value in self.fields()]
        if self.error:
            lines.append(f"Error: {self.error}")
        lines += list(self.details)
        advice = CATEGORY_ADVICE.get(self.category)
        if advice:
            lines.append(f"What to do: {advice}")
        if self.log_url:
            lines.append(f"Log: {self.log_url}")
        if self.suppressed_before:
            lines.append(
                f"({self.suppressed_before} similar alert(s) were suppressed since the previous one)"
            )
        return "\n".join(lines)

    def slack_blocks(self) -> list[dict[str, Any]]:
        """Slack Block Kit: a header, the fields, then error, details, advice and log link."""
        body = "\n".join(f"*{name}:* {value}" for name, value in self.fields())
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.title()[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ]
        extra = []
        if self.error:
            extra.append(f"```{self.error[:2800]}```")
        extra += list(self.details)
        advice = CATEGORY_ADVICE.get(self.category)
        if advice:
            extra.append(f"_What to do:_ {advice}")
        if self.log_url:
            extra.append(f"<{self.log_url}|Task log>")
        if self.suppressed_before:
            extra.append(
                f"_{self.suppressed_before} similar alert(s) were suppressed since the previous one_"
            )
        if extra:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(extra)[:3000]}})
        return blocks

    def payload(self) -> dict[str, Any]:
        """Every field as JSON (the ``alert`` object of a generic webhook body)."""
        data = dataclasses.asdict(self)
        data["title"] = self.title()
        data["details"] = list(self.details)
        return data

    def sanitized(self, secrets: Iterable[str] = ()) -> CollectorAlert:
        """Every free-text field redacted (literal ``secrets`` and token patterns)."""
        known = [s for s in secrets if s]

        def clean(value: str | None) -> str | None:
            return None if value is None else sanitize_text(value, known)

        return dataclasses.replace(
            self,
            error=(clean(self.error) or "")[:ERROR_LIMIT],
            details=tuple(clean(d) or "" for d in self.details),
            log_url=clean(self.log_url),
            run_id=clean(self.run_id),
            partition=clean(self.partition),
        )


def webhook_body(alert: CollectorAlert, payload_format: str = "json") -> dict[str, Any]:
    """The JSON a generic webhook receives: ``{"text", "alert"}``; ``"discord"``: Discord's
    ``{"content"}`` (cut to its 2,000 characters, mentions disabled)."""
    text = alert.text()
    if payload_format.lower() == "discord":
        return {"content": text[:DISCORD_CONTENT_LIMIT], "allowed_mentions": {"parse": []}}
    return {"text": text, "alert": alert.payload()}
