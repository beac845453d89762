"""Conventions every benchmark follows on a shared, noisy machine (docs/performance.md).

- print the machine's load before and after (:func:`print_load`);
- run the sides being compared alternately, in one process tree, at least three reps each,
  the starting side rotating from rep to rep (:func:`alternate`);
- report the median and the range of every side and of the per-rep ratios
  (:func:`report`): ratios are the claim, absolute numbers only describe this machine.
  Never a best-of-N headline.

A side is a callable returning the seconds it measured itself, so its setup (a fresh
database, a child process's start) stays out of the figure when it should.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

__all__ = ["MIN_REPS", "alternate", "describe", "load", "print_load", "report", "timed"]

MIN_REPS = 3


def load() -> str:
    """The 1/5/15-minute load averages and the core count, e.g. ``load 3.1 2.8 2.5 on 2 cores``."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def print_load(when: str) -> None:
    print(f"machine {when}: {load()}", flush=True)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took (wall clock)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alternate(sides: Mapping[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Seconds per rep of every side, run in turn: A B, then B A, then A B...

    Rotating the order keeps a side from always following the same neighbour (a warm cache,
    a burst of someone else's load).
    """
    if reps < MIN_REPS:
        raise ValueError(f"reps must be at least {MIN_REPS}, got {reps}")
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = sides[name]()
            samples[name].append(seconds)
            print(f"  rep {rep + 1} {name}: {seconds * 1000:.1f} ms", flush=True)
    return samples


def describe(values: Sequence[float], unit: str = "ms", scale: float = 1000.0) -> str:
    """``median 12.3 ms (range 11.0 to 15.2, 5 reps)``."""
    scaled = [value * scale for value in values]
    return (
        f"median {statistics.median(scaled):.1f} {unit} "
        f"(range {min(scaled):.1f} to {max(scaled):.1f}, {len(scaled)} reps)"
    )


def report(samples: Mapping[str, Sequence[float]], baseline: str) -> list[str]:
    """One line per side, and for every other side its per-rep ratio to ``baseline``."""
    lines = [f"{name}: {describe(values)}" for name, values in samples.items()]
    base = samples[baseline]
    for name, values in samples.items():
        if name == baseline:
            continue
        ratios = [value / reference for value, reference in zip(values, base, strict=True)]
        lines.append(
            f"{name} / {baseline}: median {statistics.median(ratios):.2f} "
            f"(range {min(ratios):.2f} to {max(ratios):.2f}, {len(ratios)} reps)"
        )
    return lines
