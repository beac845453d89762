"""New papers to GitHub: ``POST /repos/{owner}/{repo}/dispatches`` from the outbox.

Items (one per new paper: ``{"doc_id", "url", "mailing"}``) are grouped into dispatches of at
most ``max_papers_per_dispatch`` papers and ``max_payload_bytes`` of JSON (GitHub: at most 10
top-level ``client_payload`` properties, the body under 64 KB). Each dispatch either succeeds
for all its papers or fails for all of them, with the category the answer deserves.

A plain ``requests`` POST, not the HTTP kit (GET only, so its retries are safe): a dispatch is
never retried here; the outbox retries it on a later run, after its back-off.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from core.errors import (
    AuthenticationError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    SourceTimeoutError,
    sanitize_text,
)
from core.operations.http import retry_after_seconds
from core.store.outbox import OutboxItem
from wg21_paper_tracker.config import DispatchSettings

__all__ = ["OUTBOX_KIND", "DispatchSender", "build_dispatches"]

OUTBOX_KIND = "wg21_github_dispatch"


def _body(event_type: str, items: Sequence[OutboxItem]) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "client_payload": {
            "papers": [str(i.payload.get("url") or "") for i in items],
            "ids": [str(i.payload.get("doc_id") or "") for i in items],
            "mailings": sorted({str(i.payload.get("mailing") or "") for i in items} - {""}),
            "count": len(items),
        },
    }


def _encode(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and measured against the cap)."""
    return json.dumps(body, separators=(",", ":")).encode()


def _size(body: dict[str, Any]) -> int:
    return len(_encode(body))


def build_dispatches(
    items: Sequence[OutboxItem], settings: DispatchSettings
) -> tuple[list[tuple[list[OutboxItem], dict[str, Any]]], dict[str, BaseException]]:
    """Greedy grouping in outbox order: ``([(items, body)], {key: error of an item too big alone})``."""
    groups: list[tuple[list[OutboxItem], dict[str, Any]]] = []
    oversize: dict[str, BaseException] = {}
    current: list[OutboxItem] = []
    for item in items:
        if _size(_body(settings.event_type, [item])) > settings.max_payload_bytes:
            oversize[item.event_key] = DataValidationError(
                f"dispatch payload of {item.event_key} alone exceeds {settings.max_payload_bytes} bytes",
                source="repository_dispatch",
            )
            continue
        candidate = [*current, item]
        too_many = len(candidate) > settings.max_papers_per_dispatch
        if current and (
            too_many or _size(_body(settings.event_type, candidate)) > settings.max_payload_bytes
        ):
            groups.append((current, _body(settings.event_type, current)))
            candidate = [item]
        current = candidate
    if current:
        groups.append((current, _body(settings.event_type, current)))
    return groups, oversize


class DispatchSender:
    """The outbox ``send`` callable: one POST per dispatch, failures mapped per item."""

    def __init__(
        self,
        settings: DispatchSettings,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._token = token
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock
        self.dispatches = 0
        self.failures: list[BaseException] = []
        self.url = f"{settings.api_url}/repos/{settings.repository}/dispatches"

    def close(self) -> None:
        self._session.close()

    def __call__(self, items: list[OutboxItem]) -> dict[str, BaseException] | None:
        groups, failures = build_dispatches(items, self.settings)
        self.failures += failures.values()
        for group, body in groups:
            try:
                self._post(body)
            except Exception as exc:  # noqa: BLE001 - recorded per item by the outbox
                failures.update({item.event_key: exc for item in group})
                self.failures.append(exc)
        return failures or None

    def _post(self, body: dict[str, Any]) -> None:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        }
        where = f"POST /repos/{self.settings.repository}/dispatches"
        try:
            response = self._session.post(
                self.url, data=_encode(body), headers=headers, timeout=self._timeout
            )
        except requests.Timeout:
            raise SourceTimeoutError(f"GitHub {where} timed out") from None
        except requests.RequestException as exc:
            raise NetworkError(f"GitHub {where} failed: {self._redact(type(exc).__name__)}") from None
        self.dispatches += 1
        if 200 <= response.status_code < 300:
            return
        raise self._error(response, where)

    def _redact(self, text: str) -> str:
        return sanitize_text(text, [self._token])

    def _error(self, response: requests.Response, where: str) -> Exception:
        status = response.status_code
        try:
            message = str(response.json().get("message") or "")
        except (ValueError, AttributeError):
            message = ""  # a non-JSON body is never quoted (it may echo the request)
        text = self._redact(
            f"GitHub answered {status} to {where}" + (f": {message[:300]}" if message else "")
        )
        headers = response.headers
        retry_at = self._retry_at(headers)
        if status == 429 or (
            status == 403 and (retry_at is not None or headers.get("X-RateLimit-Remaining") == "0")
        ):
            return RateLimitError(text, retry_at=retry_at or self._now() + dt.timedelta(seconds=60))
        if status == 401:
            return AuthenticationError(text)
        if status in (403, 404):
            return PermissionDeniedError(text + " (the token needs contents:write on the repository)")
        if status in (400, 413, 422):
            return DataValidationError(text, source="repository_dispatch")
        return NetworkError(text)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def _retry_at(self, headers: Any) -> dt.datetime | None:
        wait = retry_after_seconds(headers, self._clock())
        if wait is not None:
            return self._now() + dt.timedelta(seconds=wait)
        reset = headers.get("X-RateLimit-Reset")
        if headers.get("X-RateLimit-Remaining") == "0" and reset and reset.isdigit():
            return dt.datetime.fromtimestamp(int(reset), dt.UTC)
        return None
