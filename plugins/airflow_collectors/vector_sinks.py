"""Which Airflow connections a collector's ``vectors:`` config needs resolved for its sink.

The sink itself is chosen by :func:`core.vectors.sinks.build_sink`, the same code a console
run uses, from the connections the operator resolves into the run context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.vectors.settings import parse_vector_settings
from core.vectors.sinks import PINECONE_CONN_ID

__all__ = ["PINECONE_CONN_ID", "vector_connection_ids"]


def vector_connection_ids(config: Mapping[str, Any]) -> list[str]:
    settings = parse_vector_settings(config.get("vectors"))
    return [PINECONE_CONN_ID] if settings.enabled and settings.sink == "pinecone" else []
