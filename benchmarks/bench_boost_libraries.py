"""Boost library tracker benchmark: GitHub requests per release (first backfill, one new release,
an unchanged run) and the time per release, against the Boost GitHub fake over loopback (never
the internet), into a fresh store.

The fake holds ``--libraries`` library repositories (a realistic superproject has about 160
under ``libs/``), every tenth a list of three sub-libraries; ``--releases`` releases are tagged,
and between two releases a ``--moved`` share of the submodules moves to a new commit (the rest
stay pinned where they were, so their ``libraries.json`` is read once for all releases).

    PYTHONPATH=plugins:. python benchmarks/bench_boost_libraries.py --libraries 160 --releases 5 --moved 0.7
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fakes.boost_github import BoostDataset, FakeBoostGitHub

from boost_library_tracker.collector import BoostLibrariesCollector
from boost_library_tracker.protocol_impl import BoostLibrariesResult
from core.collectors import RunContext

TOKEN = "ghp_" + "BenchT0ken" * 4


def library_meta(index: int, release: int) -> Any:
    key = f"lib{index:03d}"
    entry = {
        "key": key,
        "name": f"Library {index}",
        "authors": [f"Author {index}"],
        "description": f"Synthetic library {index}, revision {release}.",
        "category": ["Synthetic"],
        "maintainers": [f"Maintainer {index} <m{index} -at- example.org>"],
        "cxxstd": "11",
    }
    if index % 10:
        return entry
    return [entry, *({**entry, "key": f"{key}/part{n}", "name": f"Part {n}"} for n in (1, 2))]


def build(libraries: int, releases: int, moved: float, seed: int) -> tuple[BoostDataset, list[str]]:
    rng = random.Random(seed)
    ds = BoostDataset()
    revision = dict.fromkeys(range(libraries), 0)
    for index in range(libraries):
        ds.set_library(f"libs/lib{index:03d}", f"lib{index:03d}", library_meta(index, 0))
    versions = [f"1.{80 + n}.0" for n in range(releases + 1)]
    for number, version in enumerate(versions[:-1]):
        if number:
            for index in rng.sample(range(libraries), round(moved * libraries)):
                revision[index] = number
                ds.set_library(f"libs/lib{index:03d}", f"lib{index:03d}", library_meta(index, number))
        ds.add_release(version)
    return ds, versions


def collect(server: FakeBoostGitHub, store_url: str) -> tuple[BoostLibrariesResult, int, float]:
    server.clear_log()
    context = RunContext(
        store_url=store_url, connections={"github_default": {"host": server.base_url, "password": TOKEN}}
    )
    started = time.perf_counter()
    result = BoostLibrariesCollector({}, context=context).run()
    assert isinstance(result, BoostLibrariesResult)
    return result, len(server.served), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", type=int, default=160)
    parser.add_argument("--releases", type=int, default=5)
    parser.add_argument("--moved", type=float, default=0.7, help="share of submodules moving per release")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--db", help="store URL (default: a new SQLite file)")
    args = parser.parse_args()

    ds, versions = build(args.libraries, args.releases, args.moved, args.seed)
    with tempfile.TemporaryDirectory() as tmp, FakeBoostGitHub(ds, tokens={TOKEN: 100_000}) as server:
        store_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        report: dict[str, Any] = {
            "libraries": args.libraries,
            "moved": args.moved,
            "store": store_url.split(":")[0],
        }

        first, requests, seconds = collect(server, store_url)
        report["backfill"] = {
            "releases": first.counts["releases_new"],
            "requests": requests,
            "requests_per_release": round(requests / args.releases, 1),
            "meta_files_fetched": first.counts["meta_files_fetched"],
            "meta_files_reused": first.counts["meta_files_reused"],
            "library_versions": first.counts["library_versions"],
            "seconds_per_release": round(seconds / args.releases, 3),
        }

        for index in random.Random(args.seed + 1).sample(
            range(args.libraries), round(args.moved * args.libraries)
        ):
            ds.set_library(f"libs/lib{index:03d}", f"lib{index:03d}", library_meta(index, 99))
        ds.add_release(versions[-1])
        new, requests, seconds = collect(server, store_url)
        report["one_new_release"] = {
            "requests": requests,
            "meta_files_fetched": new.counts["meta_files_fetched"],
            "seconds": round(seconds, 3),
        }

        _, requests, seconds = collect(server, store_url)
        report["unchanged"] = {
            "requests": requests,
            "not_modified": server.count(status=304),
            "seconds": round(seconds, 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
