"""Boost docs tracker benchmark: documentation pages/s and peak RSS for a whole release archive.

Generates (on demand, under ``--work``, never committed) a release archive of the real layout
with ``--pages`` documentation pages in the three toolchains' frames (BoostBook, Asciidoctor,
Antora; ~10 KB of varied text each, spread over 150 libraries), header files and
incompressible images up to ``--size-mb`` MB compressed. The archive is served by the archive
fake (``tests/fakes/boost_archive_server.py``, a subprocess: its memory is not counted) over
loopback HTTP. The collector runs in a child process (``python -c``: a new program, so its
``VmHWM`` is its own) on a fresh store (PostgreSQL with ``--db``, else SQLite): download with
resume support, streamed read, conversion, one transaction per ``batch_pages`` pages.

    PYTHONPATH=plugins:. python benchmarks/bench_boost_docs.py --size-mb 300 --pages 15000 \\
        --db postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
from tests.fakes.boost_archive import antora_page, asciidoctor_page, boostbook_page
from tests.fakes.boost_archive_server import running

ROOT = Path(__file__).resolve().parents[1]
VERSION = "1.86.0"
TOP = "boost_1_86_0"
WORDS = tuple(
    [
        "allocator",
        "iterator",
        "range",
        "container",
        "adaptor",
        "policy",
        "handler",
        "executor",
        "strand",
        "buffer",
        "stream",
        "socket",
        "parser",
        "grammar",
        "token",
        "visitor",
        "variant",
        "optional",
        "expected",
        "error",
        "category",
        "coroutine",
        "awaitable",
        "serializer",
        "archive",
        "regex",
        "match",
        "locale",
        "facet",
        "thread",
        "mutex",
        "condition",
        "future",
        "promise",
        "atomic",
    ]
)

_CHILD = """
import json, sys, time
from core.collectors import RunContext
from boost_docs_tracker.collector import BoostDocsCollector
config = json.loads(sys.argv[1])
started = time.perf_counter()
result = BoostDocsCollector(config, context=RunContext(store_url=sys.argv[2])).run()
elapsed = time.perf_counter() - started
with open("/proc/self/status") as status:
    peak = int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
print(json.dumps({"elapsed": elapsed, "peak_rss_kb": peak, "counts": dict(result.counts)}))
"""


def _sections(rng: random.Random, n: int) -> list[tuple[str, str]]:
    return [
        (" ".join(rng.choices(WORDS, k=3)).title(), " ".join(rng.choices(WORDS, k=180)) + ".")
        for _ in range(n)
    ]


def _pages(count: int, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    for i in range(count):
        lib = f"lib{i % 150:03d}"
        kind = i % 3
        title = " ".join(rng.choices(WORDS, k=4)).title()
        if kind == 0:
            yield (
                f"libs/{lib}/doc/html/{lib}/page_{i}.html",
                boostbook_page(title, _sections(rng, 6)).encode(),
            )
        elif kind == 1:
            yield f"libs/{lib}/doc/html/{lib}_{i}.html", asciidoctor_page(title, _sections(rng, 6)).encode()
        else:
            yield (
                f"doc/antora/{lib}/page_{i}.html",
                antora_page(title, _sections(rng, 6), component=lib).encode(),
            )


def _noise(total: int, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    n = 0
    while n * 4 * 1024 * 1024 < total:
        yield f"libs/lib{n % 150:03d}/doc/html/images/figure_{n}.png", rng.randbytes(4 * 1024 * 1024)
        n += 1


def _headers(count: int) -> Iterator[tuple[str, bytes]]:
    for n in range(count):
        body = "".join(
            f"template <class T> struct trait_{n}_{i} {{ using type = T; }};\n" for i in range(300)
        )
        yield f"boost/detail/generated_{n:05d}.hpp", body.encode()


def generate(path: Path, *, pages: int, size_mb: int) -> None:
    rng = random.Random(1)
    with (
        path.open("wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as packed,
        tarfile.open(fileobj=packed, mode="w|") as tar,
    ):
        members = [_pages(pages, rng), _headers(4000), _noise(size_mb * 1024 * 1024, rng)]
        for stream in members:
            for name, data in stream:
                info = tarfile.TarInfo(f"{TOP}/{name}")
                info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(data))
                if out.tell() > size_mb * 1024 * 1024:
                    return


def fresh_store(db: str | None, work: Path) -> str:
    if not db:
        path = work / f"bench_{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}"
    name = f"bench_boost_docs_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(db)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    return db.rsplit("/", 1)[0] + f"/{name}"


def drop_store(db: str | None, store_url: str) -> None:
    if not db:
        Path(store_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    admin = psycopg2.connect(db)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {store_url.rsplit('/', 1)[1]}")
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300, help="compressed archive size")
    parser.add_argument("--pages", type=int, default=15000)
    parser.add_argument("--batch-pages", type=int, default=200)
    parser.add_argument("--db", default=None, help="PostgreSQL server URL (a fresh database is created)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_boost_docs")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    archive = args.work / f"{TOP}_{args.pages}p_{args.size_mb}mb.tar.gz"
    if not archive.exists():
        started = time.perf_counter()
        generate(archive.with_suffix(".part"), pages=args.pages, size_mb=args.size_mb)
        archive.with_suffix(".part").rename(archive)
        print(f"generated {archive} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    store_url = fresh_store(args.db, args.work)
    with running(args.work / "fake.log", releases="", archives={VERSION: archive}) as url:
        config = {"archive_url": url, "work_dir": str(args.work / "download"), "batch_pages": args.batch_pages,
                  "vectors": {"sink": "local", "namespace": "bench"}}  # fmt: skip
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}"}
        child = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_CHILD), json.dumps(config), store_url],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    drop_store(args.db, store_url)
    if child.returncode != 0:
        sys.exit(child.stderr[-4000:])
    report = json.loads(child.stdout.strip().splitlines()[-1])
    counts = report["counts"]
    print(json.dumps({
        "archive_mb": round(archive.stat().st_size / 1024 / 1024, 1),
        "pages_stored": counts.get("pages", 0),
        "seconds": round(report["elapsed"], 1),
        "pages_per_second": round(counts.get("pages", 0) / report["elapsed"], 1),
        "peak_rss_mb": round(report["peak_rss_kb"] / 1024, 1),
        "transactions": counts.get("transactions", 0),
        "archive_requests": counts.get("archive_requests", 0),
        "store": store_url.split(":", 1)[0],
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
