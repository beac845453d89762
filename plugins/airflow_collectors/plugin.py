"""The project's Airflow plugin: one read-only route on the API server for ``validate``.

``GET /collectors/pools/{name}`` answers ``{"pool", "exists", "slots"}`` from the metadata DB
(see :mod:`airflow_collectors.pools` for why tasks cannot read it themselves). It reveals
only whether a pool exists and its size, which every DAG author can see in the UI.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI

from airflow_collectors.pools import POOL_ROUTE_PREFIX

__all__ = ["CollectorsPlugin", "pools_app"]


def pools_app() -> FastAPI:
    app = FastAPI(title="Collectors: pool check", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/pools/{name}")
    def pool(name: str) -> dict[str, Any]:
        from airflow.models.pool import Pool
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            found = session.scalar(select(Pool).where(Pool.pool == name))
            return {"pool": name, "exists": found is not None, "slots": found.slots if found else None}

    return app


class CollectorsPlugin(AirflowPlugin):
    name = "collectors"
    fastapi_apps = [{"app": pools_app(), "url_prefix": POOL_ROUTE_PREFIX, "name": "Collectors pool check"}]
