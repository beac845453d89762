"""DAG parse time of ``dags/collectors.py`` for 1, 20 and 100 collectors, this tree against a baseline.

    PYTHONPATH=plugins:. python benchmarks/bench_dag_parse.py --counts 1 20 100 --reps 5 --baseline HEAD

- cold: a fresh child process that has imported ``--preload`` (by default
  ``airflow.dag_processing.processor``: what Airflow's DAG-file processor has loaded when it
  reads a DAG file, models included) runs the DAG file once; the child times that run
  itself, so interpreter start and Airflow's own import stay out of the figure;
  ``--preload airflow.sdk`` counts Airflow's models and executors too (a worse case);
- warm: the same child runs the DAG file again (modules already imported), median of 5;
- each also as CPU time (``time.process_time()`` of the child): on a loaded machine the
  wall-clock figures include the time the child waited for a core, its CPU time does not.

Every (tree, count) pair is one side of the same rotation, so the figures a ratio or a growth
figure compares were taken close together. At the end, each tree's marginal cost per collector
between consecutive counts, computed within each rep (``(t(N2) - t(N1)) / (N2 - N1)``), median
and range: growth is flat when the marginal cost from 20 to 100 is no higher than from 1 to 20.
``--breakdown N`` also profiles one warm parse of N collectors in this tree (cProfile) and
prints where its time goes.

The collectors file is generated: the entries of ``include/collectors.yaml`` repeated
under new names until there are N. ``--baseline REF`` extracts ``plugins/`` and ``dags/``
of that commit (``git archive``, read-only) and runs it as the other side, alternately
with this tree (benchmarks/harness.py); without it only this tree runs.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import MIN_REPS, alternate, print_load, report

ROOT = Path(__file__).resolve().parents[1]
WARM_RUNS = 5

CHILD = """
import importlib, json, runpy, statistics, sys, time
importlib.import_module(sys.argv[2])  # loaded before a DAG file is read
dag_file = sys.argv[1]
start, cpu = time.perf_counter(), time.process_time()
namespace = runpy.run_path(dag_file)
cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
warm, warm_cpu = [], []
for _ in range({warm}):
    start, cpu = time.perf_counter(), time.process_time()
    runpy.run_path(dag_file)
    warm.append(time.perf_counter() - start)
    warm_cpu.append(time.process_time() - cpu)
dags = [name for name in namespace if name.startswith("collect_")]
print(json.dumps({{"cold": cold, "cold CPU": cold_cpu, "warm": statistics.median(warm),
                  "warm CPU": statistics.median(warm_cpu), "dags": len(dags)}}))
"""

#: What a child reports besides its cold wall-clock time (which the rotation itself records).
OTHER_FIGURES = ("cold CPU", "warm", "warm CPU")


BREAKDOWN = """
import cProfile, importlib, pstats, runpy, sys
importlib.import_module(sys.argv[2])
runpy.run_path(sys.argv[1])
profile = cProfile.Profile()
profile.enable()
runpy.run_path(sys.argv[1])
profile.disable()
stats = pstats.Stats(profile).stats  # (file, line, name) -> (calls, primitive, own, cumulative, callers)
total = max(cumulative for _, _, _, cumulative, _ in stats.values())
print(f"  warm parse under cProfile: {{total * 1000:.0f}} ms (the profiler slows it down; shares are the point)")
parts = {parts}
for label, (file_part, name) in parts.items():
    cumulative = sum(c for (f, _, n), (_, _, _, c, _) in stats.items() if n == name and f.endswith(file_part))
    print(f"  {{cumulative / total:6.1%}}  {{label}}")
"""

#: What the warm breakdown reports: label -> (file suffix, function); the shares overlap where
#: one calls another (operator construction includes the params' copies).
BREAKDOWN_PARTS = {
    "DAG params validated against their JSON schemas (Airflow, DAG.__init__)": (
        "airflow/sdk/definitions/param.py",
        "validate",
    ),
    "operators built (Airflow's BaseOperator and ours)": ("airflow/sdk/bases/operator.py", "apply_defaults"),
    "  of which the DAG's params copied for each task (get_merged_defaults)": (
        "airflow/sdk/bases/operator.py",
        "get_merged_defaults",
    ),
    "task dependencies (>>)": ("airflow/sdk/definitions/_internal/node.py", "_set_relatives"),
    "include/collectors.yaml read and validated": ("core/config.py", "load_collectors_file"),
    "cron schedules checked": ("airflow/sdk/definitions/timetables/_cron.py", "validate"),
}


def collectors_file(count: int, folder: Path) -> Path:
    """A collectors file of ``count`` entries, the real file's entries repeated under new names."""
    original = yaml.safe_load((ROOT / "include" / "collectors.yaml").read_text(encoding="utf-8"))
    entries = list(original["collectors"].items())
    collectors: dict[str, Any] = {}
    for index in range(count):
        name, entry = entries[index % len(entries)]
        collectors[f"{name}_{index}"] = {**entry, "enabled": True}
    path = folder / f"collectors_{count}.yaml"
    path.write_text(yaml.safe_dump({**original, "collectors": collectors}), encoding="utf-8")
    return path


def extract(ref: str, folder: Path) -> Path:
    """``plugins/`` and ``dags/`` as they are at ``ref``, in ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "plugins", "dags", "include"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(folder, filter="data")
    return folder


def parse_once(
    tree: Path, config: Path, preload: str, other: dict[str, dict[str, list[float]]], key: str
) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "plugins"),
        "COLLECTORS_CONFIG": str(config),
        "COLLECTORS_PROJECT_ROOT": str(tree),
        "PYTHONDONTWRITEBYTECODE": "",
    }
    completed = subprocess.run(
        [sys.executable, "-c", CHILD.format(warm=WARM_RUNS), str(tree / "dags" / "collectors.py"), preload],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    expected = int(config.stem.rsplit("_", 1)[1])
    if measured["dags"] != expected:
        raise SystemExit(f"{tree}: {measured['dags']} DAGs parsed, expected {expected}")
    for figure in OTHER_FIGURES:
        other[figure].setdefault(key, []).append(float(measured[figure]))
    return float(measured["cold"])


def _side(label: str, count: int) -> str:
    return f"{label}, {count} collectors"


def growth(samples: dict[int, list[float]]) -> list[str]:
    """The marginal cost per collector between consecutive counts, from each rep's own figures
    (``(rep r at N2 - rep r at N1) / (N2 - N1)``): median and range over the reps."""
    counts = sorted(samples)
    lines = []
    for low, high in itertools.pairwise(counts):
        per_rep = [
            (at_high - at_low) / (high - low) * 1000
            for at_low, at_high in zip(samples[low], samples[high], strict=True)
        ]
        lines.append(
            f"{low} -> {high}: median {statistics.median(per_rep):.2f} ms per collector "
            f"(range {min(per_rep):.2f} to {max(per_rep):.2f}, {len(per_rep)} reps)"
        )
    return lines


def breakdown(count: int, folder: Path, preload: str) -> None:
    config = collectors_file(count, folder)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "COLLECTORS_CONFIG": str(config),
        "COLLECTORS_PROJECT_ROOT": str(ROOT),
    }
    print(f"where a warm parse of {count} collectors spends its time (this tree):", flush=True)
    code = BREAKDOWN.format(parts=repr(BREAKDOWN_PARTS))
    subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "dags" / "collectors.py"), preload], env=env, check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--baseline", help="git ref to compare with (e.g. HEAD)")
    parser.add_argument(
        "--preload", default="airflow.dag_processing.processor", help="imported before the timer"
    )
    parser.add_argument("--breakdown", type=int, metavar="N", help="profile a warm parse of N collectors")
    args = parser.parse_args()
    if args.reps < MIN_REPS:
        parser.error(f"--reps must be at least {MIN_REPS}")
    print_load("before")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {f"baseline {args.baseline}": extract(args.baseline, folder / "baseline"), **trees}
        configs = {count: collectors_file(count, folder) for count in args.counts}
        # Every (tree, count) pair is a side of one rotation, so the counts a growth figure
        # compares ran close together in time, under about the same load.
        other: dict[str, dict[str, list[float]]] = {figure: {} for figure in OTHER_FIGURES}
        print(f"cold parses (fresh process, {args.preload} imported):", flush=True)
        cold = alternate(
            {
                _side(label, count): functools.partial(
                    parse_once, tree, configs[count], args.preload, other, _side(label, count)
                )
                for count in args.counts
                for label, tree in trees.items()
            },
            reps=args.reps,
        )
        baseline = next(iter(trees))
        for count in args.counts:
            print(f"{count} collectors:")
            pair = [_side(label, count) for label in trees]
            for kind, samples in (("cold", cold), *other.items()):
                for line in report({side: samples[side] for side in pair}, _side(baseline, count)):
                    print(f"  {kind} {line}")
        print("growth: marginal cost per collector between counts (median and range of the per-rep figures)")
        for label in trees:
            for kind, samples in (("cold", cold), *other.items()):
                for line in growth({count: samples[_side(label, count)] for count in args.counts}):
                    print(f"  {kind} {label}: {line}")
        if args.breakdown:
            breakdown(args.breakdown, folder, args.preload)
    print_load("after")


if __name__ == "__main__":
    main()
