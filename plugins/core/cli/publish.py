"""``python -m core.cli publish NAME``: the publish step of one collector outside Airflow.

For one-off repairs and first adoptions watched by a person: reads the entry's ``publish:``
section from ``collectors.yaml``, the publishing connection (``$AIRFLOW_CONN_<ID>``, or the
lookup the console was given) and the store, then renders, plans and commits exactly as the
``publish`` task does. Prints the counts as JSON; on failure exits 1 and prints
``{"failure_category": ..., "error": ...}`` (sanitized) on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli.store_url import ConnectionLookup, resolve_store_url
from core.config import load_collectors_file, project_root
from core.errors import classify_failure, sanitize_exception_message

__all__ = ["publish"]


def publish(argv: Sequence[str], lookup: ConnectionLookup) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.cli publish", description="Publish one collector's Markdown (docs/publishing.md)"
    )
    parser.add_argument("name", help="collector name in collectors.yaml (its entry has publish:)")
    parser.add_argument("--config-file", default=None, help="collectors.yaml path")
    parser.add_argument(
        "--db", default=None, help="store URL (default: $COLLECTOR_DB_URL, then the connection)"
    )
    parser.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    parser.add_argument("--full-refresh", action="store_true", help="render every item again")
    args = parser.parse_args(argv)

    from core.publishing.connection import publish_client, publish_writer
    from core.publishing.source import load_source
    from core.publishing.step import publish_rows
    from core.store import Store

    path = Path(args.config_file) if args.config_file else project_root() / "include" / "collectors.yaml"
    settings = load_collectors_file(path)
    entry = settings.collectors.get(args.name)
    if entry is None or entry.publish is None:
        print(f"collector {args.name!r} has no publish: section in {path}", file=sys.stderr)
        return 2
    options = entry.publish
    fields = lookup(options.connection_id)
    secrets = [str(fields.get("password") or "")] if fields else []
    try:
        store = Store.from_url(
            resolve_store_url(args.db, lookup=lookup, conn_id=settings.defaults.store_conn_id)
        )
        with publish_client(options, fields) as client:
            writer = publish_writer(options, client)
            result = publish_rows(
                store,
                load_source(options),
                options,
                writer,
                collector=args.name,
                run_id="cli",
                dry_run=args.dry_run,
                full_refresh=args.full_refresh,
            )
        store.dispose()
    except Exception as exc:  # noqa: BLE001 - the console edge: categorize, sanitize
        failure = {
            "failure_category": classify_failure(exc).value,
            "error": sanitize_exception_message(exc, [s for s in secrets if s]),
        }
        print(json.dumps(failure), file=sys.stderr)
        return 1
    print(
        json.dumps({"collector": args.name, "target": options.ledger_target, "counts": dict(result.counts)})
    )
    return 0
