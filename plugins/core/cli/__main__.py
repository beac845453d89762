"""``python -m core.cli COMMAND``: run, summary, search, migrate, status, publish (see docs/cli.md)."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence

from core.cli import startup
from core.cli.store_url import STORE_CONN_ID, ConnectionLookup, resolve_store_url
from core.connections import connection_from_env

# Each command imports what it needs when it runs: ``run`` does not pay for the others'
# imports, and ``--help`` or a usage error pays for none.


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=None, help="store URL (default: $COLLECTOR_DB_URL, then the connection)"
    )
    parser.add_argument(
        "--store-conn-id", default=STORE_CONN_ID, help=f"the store's connection id (default {STORE_CONN_ID})"
    )


def summary(argv: Sequence[str], lookup: ConnectionLookup = connection_from_env) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.cli summary", description="Rows per table in the store"
    )
    _store_arguments(parser)
    args = parser.parse_args(argv)
    from sqlalchemy import func, inspect, select, table

    from core.store import Store

    store = Store.from_url(resolve_store_url(args.db, lookup=lookup, conn_id=args.store_conn_id))
    names = sorted(inspect(store.engine).get_table_names())
    print(f"Store: {store.describe()}")
    with store.engine.connect() as conn:
        for name in names:
            count = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            print(f"  {name:<32} {count:>10}")
    store.dispose()
    return 0


def search(argv: Sequence[str], lookup: ConnectionLookup = connection_from_env) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.cli search", description="Keyword search of the local vector sink"
    )
    parser.add_argument("query", nargs="*")
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--limit", type=int, default=10)
    _store_arguments(parser)
    args = parser.parse_args(argv)
    from core.store import Store
    from core.vectors.local_sink import search_local_records

    store = Store.from_url(resolve_store_url(args.db, lookup=lookup, conn_id=args.store_conn_id))
    rows = search_local_records(store, " ".join(args.query), namespace=args.namespace, limit=args.limit)
    for row in rows:
        text = str(row["text"]).replace("\n", " ")
        print(f"{row['namespace']}  {row['record_id']}\n    {text[:160]}")
    print(f"{len(rows)} record(s)")
    store.dispose()
    return 0


def migrate(argv: Sequence[str], lookup: ConnectionLookup = connection_from_env) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.cli migrate", description="Apply every collector's migrations"
    )
    parser.add_argument(
        "--db", default=None, help="store URL (default: $COLLECTOR_DB_URL, then the connection)"
    )
    parser.add_argument("--config-file", default=None)
    args = parser.parse_args(argv)
    from pathlib import Path

    from core.cli.run import collector_class
    from core.config import load_collectors_file, project_root
    from core.identity import ensure_identity
    from core.store import Store
    from core.vectors.ledger import VECTOR_MIGRATIONS

    path = Path(args.config_file) if args.config_file else project_root() / "include" / "collectors.yaml"
    settings = load_collectors_file(path)
    store = Store.from_url(resolve_store_url(args.db, lookup=lookup, conn_id=settings.defaults.store_conn_id))
    store.ensure_core()
    print(f"core: ok; vectors: applied {store.migrate('vectors', VECTOR_MIGRATIONS) or 'nothing new'}")
    print(f"identity: applied {ensure_identity(store) or 'nothing new'}")
    if any(entry.publish for entry in settings.collectors.values()):
        from core.publishing.ledger import COMPONENT, PUBLISH_MIGRATIONS

        print(f"publishing: applied {store.migrate(COMPONENT, PUBLISH_MIGRATIONS) or 'nothing new'}")
    for name, entry in settings.collectors.items():
        klass = collector_class(entry.collector)
        applied = store.migrate(klass.name, klass.migrations)
        print(f"{name} ({klass.name}): applied {applied or 'nothing new'}")
    store.dispose()
    return 0


def status(argv: Sequence[str], lookup: ConnectionLookup = connection_from_env) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.cli status",
        description="Per collector: state, last success, last failure and its category, counts, "
        "checkpoints (see docs/operations.md)",
    )
    parser.add_argument(
        "--db", default=None, help="store URL (default: $COLLECTOR_DB_URL, then the connection)"
    )
    parser.add_argument("--config-file", default=None, help="collectors.yaml path")
    parser.add_argument("--window-hours", type=float, default=168, help="window of the OK/FAILED counts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a collector is stale (for cron and monitors)"
    )
    args = parser.parse_args(argv)
    import datetime as dt
    import json
    from pathlib import Path

    from core.config import load_collectors_file, project_root
    from core.store import Store
    from core.store.status import (
        collector_status,
        expectations_from_settings,
        format_status_table,
        status_to_dict,
    )

    path = Path(args.config_file) if args.config_file else project_root() / "include" / "collectors.yaml"
    settings = load_collectors_file(path, check_paths=False)
    store = Store.from_url(resolve_store_url(args.db, lookup=lookup, conn_id=settings.defaults.store_conn_id))
    store.ensure_core()
    now = dt.datetime.now(dt.UTC)
    statuses = collector_status(
        store.engine,
        expectations_from_settings(settings),
        now=now,
        window=dt.timedelta(hours=args.window_hours),
    )
    store.dispose()
    stale = [s.collector for s in statuses if s.stale]
    if args.json:
        print(json.dumps([status_to_dict(s) for s in statuses], indent=2))
    else:
        print(
            f"Store: {store.describe()}   counts: last {args.window_hours:g}h   now: {now:%Y-%m-%d %H:%M} UTC"
        )
        print(format_status_table(statuses, now))
        if stale:
            print(f"\nSTALE: {', '.join(stale)} (no successful collect within the expected interval)")
    return 1 if args.check and stale else 0


def publish(argv: Sequence[str], lookup: ConnectionLookup = connection_from_env) -> int:
    from core.cli.publish import publish as run_publish

    return run_publish(argv, lookup)


COMMANDS: dict[str, Callable[[Sequence[str], ConnectionLookup], int]] = {
    "summary": summary,
    "search": search,
    "migrate": migrate,
    "status": status,
    "publish": publish,
}


def main(argv: Sequence[str] | None = None, *, lookup: ConnectionLookup = connection_from_env) -> int:
    """Run a console command; ``lookup`` reads connections (default: ``$AIRFLOW_CONN_<ID>``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m core.cli {run,summary,search,migrate,status,publish} ...")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        from core.cli.run import RunCommand

        return RunCommand(lookup).main(rest)  # resumes collection once the collector is built
    startup.resume()
    if command not in COMMANDS:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    return COMMANDS[command](rest, lookup)


if __name__ == "__main__":
    startup.pause()
    code = main()
    # The interpreter's shutdown garbage-collects every object the imports created (SQLAlchemy,
    # pydantic...): 60-180 ms per run on this machine. Nothing of ours waits for that
    # collection: the store is disposed, stdout/stderr are flushed and atexit handlers
    # (logging) still run; freezing moves those objects out of the collector's reach.
    gc.freeze()
    sys.exit(code)
