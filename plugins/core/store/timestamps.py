"""Datetimes read back from the store, made comparable across dialects."""

from __future__ import annotations

import datetime as dt
from typing import overload

__all__ = ["as_utc"]


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """UTC, tz-aware. SQLite hands back naive datetimes; everything is stored in UTC, so a
    naive value is UTC by construction."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
