"""Which Airflow connections a collector's ``vectors:`` config needs resolved for its sink.

The sink itself is chosen by :func:`core.vectors.sinks.build_sink`, the same code a console
run uses, from the connections the operator resolves into the run context.
"""

from __future__ import annotations

from core.vectors.sinks import PINECONE_CONN_ID, vector_connection_ids

__all__ = ["PINECONE_CONN_ID", "vector_connection_ids"]
