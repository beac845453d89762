"""Shared lifecycle hooks: structured error handling and the optional vector step."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from core.errors import (
    CollectorFailureCategory,
    classify_failure,
    sanitize_exception_message,
    sanitize_traceback,
)
from core.protocols import TrackerResult

__all__ = ["LifecycleMixin", "collector_logger", "was_logged"]

collector_logger = logging.getLogger("core.collectors")

_LOGGED = "_collector_failure_logged"


def was_logged(exc: BaseException) -> bool:
    """Whether ``handle_error`` already logged ``exc`` (so the task edge does not log it again)."""
    return bool(getattr(exc, _LOGGED, False))


class LifecycleMixin:
    """``handle_error`` with structured logging, and a ``sync_pinecone`` that does nothing."""

    name: str = "collector"
    last_result: TrackerResult | None = None

    def secrets(self) -> list[str]:
        """Literal secret values this collector holds, redacted from anything it logs."""
        return []

    def handle_error(self, exc: BaseException, phase: str = "collect") -> CollectorFailureCategory:
        """Log ``exc`` once, sanitized, with ``collector``/``collector_phase``/``failure_category``."""
        category = classify_failure(exc)
        secrets = self.secrets()
        message = sanitize_exception_message(exc, secrets)
        trace = sanitize_traceback(exc, secrets)
        extra: dict[str, Any] = {
            "collector": self.name,
            "collector_phase": phase,
            "failure_category": category.value,
        }
        collector_logger.error(
            "Collector %s failed in %s [%s]: %s\n%s",
            self.name,
            phase,
            category.value,
            message,
            trace,
            extra=extra,
        )
        # An exception type without a __dict__ refuses the mark: then it is logged twice, no harm.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, _LOGGED, True)
        return category

    def sync_pinecone(self) -> TrackerResult | None:
        """Push changed documents to the vector sink; ``None`` when the collector has no vector step."""
        return None
