"""Log records of third-party libraries, redacted before any handler sees them.

Libraries log what they send: urllib3 writes every request line at DEBUG (query included, so
``?key=<API key>``), slack_sdk echoes response bodies. :class:`RedactingFilter` passes each
record's message through :func:`core.errors.sanitize_text` (token shapes, ``key=``/``token=``
query values, URL userinfo, and the literal secrets it was given with their 8+ character
prefixes). :func:`redact_logger` installs one per logger, once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.errors import sanitize_text

__all__ = ["RedactingFilter", "redact_logger"]


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = sanitize_text(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_logger(name: str) -> RedactingFilter:
    """The logger's redacting filter, installed on first use; add run secrets to ``.secrets``."""
    logger = logging.getLogger(name)
    for existing in logger.filters:
        if isinstance(existing, RedactingFilter):
            return existing
    created = RedactingFilter()
    logger.addFilter(created)
    return created
