"""``python -m core.cli run NAME``: one collector from ``collectors.yaml``, outside Airflow.

Imported only when that command runs (the other commands do not pay for the collector
framework's imports).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Any

from core.cli import startup
from core.cli.store_url import ConnectionLookup, resolve_store_url
from core.collectors import AbstractCollector, BaseCollectorCommand, RunContext
from core.collectors.context import parse_instant
from core.config import load_collectors_file
from core.connections import connection_from_env
from core.errors import ConfigError
from core.vectors.sinks import vector_connection_ids

__all__ = ["RunCommand", "collector_class"]


def collector_class(path: str) -> type[AbstractCollector]:
    module_name, _, attr = path.partition(":")
    klass = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(klass, type) and issubclass(klass, AbstractCollector)):
        raise ConfigError(f"{path} is not an AbstractCollector")
    return klass


class RunCommand(BaseCollectorCommand):
    help = "Run one collector from include/collectors.yaml outside Airflow (collect, then vector sync)."

    def __init__(self, lookup: ConnectionLookup = connection_from_env) -> None:
        self.lookup = lookup
        self.context: RunContext | None = None

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run, then close the store's pooled connections (the process may leave without
        collecting them: ``python -m core.cli`` freezes the garbage collector on the way out)."""
        try:
            return super().main(argv)
        finally:
            startup.resume()
            store = self.context._store if self.context is not None else None  # created only if used
            if store is not None:
                store.dispose()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("name", help="collector name in collectors.yaml")
        parser.add_argument("--config-file", default=None, help="collectors.yaml path")
        parser.add_argument(
            "--db", default=None, help="store URL (default: $COLLECTOR_DB_URL, then the store connection)"
        )
        parser.add_argument("--since", default=None)
        parser.add_argument("--until", default=None)
        parser.add_argument("--partition", default=None)
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--full-refresh", action="store_true")

    def get_collector(self, **options: Any) -> AbstractCollector:
        from pathlib import Path

        from core.config import project_root

        path = (
            Path(options["config_file"])
            if options.get("config_file")
            else project_root() / "include" / "collectors.yaml"
        )
        settings = load_collectors_file(path)
        entry = settings.collectors.get(options["name"])
        if entry is None:
            raise SystemExit(
                f"unknown collector {options['name']!r}; known: {', '.join(settings.collectors)}"
            )

        wanted = [*entry.connections, *vector_connection_ids(entry.config)]
        found = {conn_id: self.lookup(conn_id) for conn_id in dict.fromkeys(wanted)}
        context = RunContext(
            store_url=resolve_store_url(
                options.get("db"), lookup=self.lookup, conn_id=settings.defaults.store_conn_id
            ),
            connections={conn_id: dict(fields) for conn_id, fields in found.items() if fields is not None},
            collector_name=options["name"],
            run_id="cli",
            since=parse_instant("since", options.get("since")),
            until=parse_instant("until", options.get("until")),
            partition=options.get("partition"),
            dry_run=bool(options.get("dry_run")),
            full_refresh=bool(options.get("full_refresh")),
        )
        self.context = context
        collector = collector_class(entry.collector)(entry.config, context=context)
        startup.resume()  # imports and settings done: collect with the garbage collector on
        return collector
