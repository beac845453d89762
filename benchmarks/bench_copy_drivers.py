"""The store's write paths through psycopg2 and through psycopg 3, on the same rows, alternately.

    PYTHONPATH=plugins:. python benchmarks/bench_copy_drivers.py --rows 100000 --reps 5

On a scratch database of the local PostgreSQL (``--admin-url``), every rep and driver:

- ``copy new``: ``upsert_rows(..., expect_new=True)`` of ``--rows`` rows into an empty
  table (one COPY straight into the table);
- ``copy upsert``: the same rows again, a third of them changed (COPY into the staging
  table, then ``INSERT ... SELECT ... ON CONFLICT``);
- ``bound``: the rows in batches of ``COPY_THRESHOLD - 1`` (multi-row ``INSERT ... ON
  CONFLICT`` with bound parameters: the small-batch path).

The rows carry every type the trackers write (text with escapes, JSONB, timestamptz,
boolean, bigint, bytea). Encoding the rows (``encode_rows``) is in the figure: it is the
same code for both drivers. Ratios (psycopg / psycopg2) are the claim. Wall time includes
the server's work, which is the same COPY text for both drivers; the benchmark's own CPU
time (client side: encoding, the driver, SQLAlchemy) is the part a driver changes, and
moves less with other people's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from benchmarks.harness import MIN_REPS, alternate, print_load, report
from core.store import create_store_engine, upsert_rows
from core.store.upsert import COPY_THRESHOLD

DRIVERS = ("psycopg2", "psycopg")

meta = MetaData()
rows_table = Table(
    "bench_copy_rows",
    meta,
    Column("item_id", String(40), primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text),
    Column("payload", JSON().with_variant(JSONB(), "postgresql")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("score", BigInteger),
    Column("digest", LargeBinary),
)


def make_rows(count: int, version: int) -> list[dict[str, Any]]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        {
            "item_id": f"item-{n:09d}",
            "title": f"Title {n} v{version if n % 3 == 0 else 0}",
            "body": None if n % 7 == 0 else f"line one\nline\ttwo \\ {n} " + "lorem ipsum " * 20,
            "payload": {"n": n, "labels": ["a", "b"], "author": {"login": f"user{n % 500}"}},
            "created_at": start + dt.timedelta(seconds=n),
            "flagged": n % 2 == 0,
            "score": n * 31,
            "digest": n.to_bytes(8, "big") * 4,
        }
        for n in range(count)
    ]


def timed_side(
    url: str,
    rows: list[dict[str, Any]],
    changed: list[dict[str, Any]],
    path: str,
    cpu: list[float],
) -> Callable[[], float]:
    """Wall seconds of one rep of ``path``; this process's CPU seconds go to ``cpu``."""

    def run() -> float:
        engine = create_store_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {rows_table.name}"))
                if path == "copy upsert":
                    upsert_rows(conn, rows_table, rows, ["item_id"], expect_new=True)
            start, start_cpu = time.perf_counter(), time.process_time()
            with engine.begin() as conn:
                if path == "copy new":
                    upsert_rows(conn, rows_table, rows, ["item_id"], expect_new=True)
                elif path == "copy upsert":
                    upsert_rows(conn, rows_table, changed, ["item_id"], only_if_changed=["title"])
                else:
                    size = COPY_THRESHOLD - 1
                    for offset in range(0, len(rows), size):
                        upsert_rows(conn, rows_table, rows[offset : offset + size], ["item_id"])
            cpu.append(time.process_time() - start_cpu)
            return time.perf_counter() - start
        finally:
            engine.dispose()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bound-rows", type=int, default=20_000, help="rows for the small-batch path")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if args.reps < MIN_REPS:
        parser.error(f"--reps must be at least {MIN_REPS}")
    name = f"bench_copy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = args.admin_url.rsplit("/", 1)[0].split("://", 1)[1]
    urls = {driver: f"postgresql+{driver}://{base}/{name}" for driver in DRIVERS}
    try:
        setup = create_engine(urls["psycopg2"])
        meta.create_all(setup)
        setup.dispose()
        rows = make_rows(args.rows, 1)
        changed = make_rows(args.rows, 2)
        bound_rows = rows[: args.bound_rows]
        print_load("before")
        for path, path_rows in (("copy new", rows), ("copy upsert", rows), ("bound", bound_rows)):
            print(f"{path}: {len(path_rows):,} rows", flush=True)
            cpu: dict[str, list[float]] = {driver: [] for driver in DRIVERS}
            samples = alternate(
                {
                    driver: timed_side(urls[driver], path_rows, changed, path, cpu[driver])
                    for driver in DRIVERS
                },
                reps=args.reps,
            )
            for line in report(samples, baseline="psycopg2"):
                print(f"  wall {line}")
            for line in report(cpu, baseline="psycopg2"):
                print(f"  client CPU {line}")
            for driver, values in samples.items():
                rates = sorted(len(path_rows) / value for value in values)
                print(f"  {driver}: median {rates[len(rates) // 2]:,.0f} rows/s")
        print_load("after")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
