"""Declared streams: key, cursor, paging and partitioning declared by a tracker; pages read,
validated, upserted and checkpointed in one transaction by the framework.

``Stream`` / ``read_stream`` / ``parse_items`` / ``Window`` (:mod:`core.streams.runner`) and
``Checkpointer`` / ``StreamCursors`` / ``CursorState`` (:mod:`core.streams.checkpoint`).
No Airflow, no tracker: see docs/core-api.md, "Declared streams".
"""

from core.streams.checkpoint import Checkpointer, CursorState, StreamCursors, save_response_validators
from core.streams.runner import Stream, Window, iso_utc, parse_items, read_stream

__all__ = [
    "Checkpointer",
    "CursorState",
    "Stream",
    "StreamCursors",
    "Window",
    "iso_utc",
    "parse_items",
    "read_stream",
    "save_response_validators",
]
