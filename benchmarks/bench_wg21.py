"""WG21 collector benchmark: requests per run (first, unchanged, with new papers), run time,
and dispatch POSTs per 1,000 new papers, against the WG21 and GitHub fakes on loopback.

Builds ``--papers`` papers over ``--years`` years (6 mailings a year) in the fake
(``tests/fakes/wg21_server.py``), all in the index and on the mailing pages, then runs the real
collector (dispatch on, downloads off) into a fresh SQLite store (``--store URL`` for another):

1. **first**: the baseline (every page read, nothing dispatched);
2. **unchanged**: nothing changed upstream;
3. **new**: ``--new`` papers added to the newest mailing (each is dispatched once).

    PYTHONPATH=plugins:. python benchmarks/bench_wg21.py --papers 20000 --new 1000
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fakes.wg21_server import PAPERS_PATH, GitHubDispatchApi, Paper, Wg21Data, Wg21Site

from core.collectors import RunContext
from wg21_paper_tracker.collector import Wg21Collector

TOKEN = "ghp_" + "BenchDispatchToken0" * 2
MONTHS = ("01", "03", "05", "07", "09", "11")


def build(papers: int, years: int) -> tuple[Wg21Data, str]:
    data = Wg21Data()
    mailings = [f"{2026 - years + 1 + y}-{m}" for y in range(years) for m in MONTHS]
    for mailing in mailings:
        data.mailing(mailing, f"{mailing} mailing")
    for n in range(papers):
        mailing = mailings[n * len(mailings) // papers]
        data.paper(
            mailing, Paper(f"P{1000 + n}R0", f"Paper {n}", "Ada Lovelace, Bob Smith", f"{mailing}-02", "LEWG")
        )
    return data, mailings[-1]


def collect(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, first_year: int
) -> tuple[float, dict[str, Any]]:
    config = {
        "index_url": site.url("/index.json"),
        "site_url": site.url(PAPERS_PATH),
        "first_year": first_year,
        "dispatch": {"enabled": True, "repository": "acme/papers", "api_url": github.root},
    }
    collector = Wg21Collector(
        config, context=RunContext(store_url=store_url, connections={"github_dispatch": {"password": TOKEN}})
    )
    start = time.perf_counter()
    result = collector.run()
    return time.perf_counter() - start, dict(result.counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    data, newest = build(args.papers, args.years)
    with tempfile.TemporaryDirectory() as tmp, Wg21Site(data) as site, GitHubDispatchApi(TOKEN) as github:
        store_url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        first_year = 2026 - args.years + 1
        print(
            f"{args.papers} papers, {args.years} years x 6 mailings, index {len(data.index_json(site.root)) / 1e6:.1f} MB"
        )
        for label in ("first", "unchanged", "new"):
            if label == "new":
                for n in range(args.new):
                    data.paper(newest, Paper(f"P{90000 + n}R0", f"New {n}", "Carol Jones", f"{newest}-03"))
            site.log.clear()
            github.log.clear()
            seconds, counts = collect(site, github, store_url, first_year)
            statuses = collections.Counter(e.status for e in site.log)
            posts = len(github.log)
            print(
                f"{label:>9}: {seconds:6.2f} s, {len(site.log)} GETs {dict(sorted(statuses.items()))}, "
                f"{posts} dispatch POSTs, new papers {counts.get('new_papers', 0)}, sent {counts.get('outbox_sent', 0)}"
            )


if __name__ == "__main__":
    main()
