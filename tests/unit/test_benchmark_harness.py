"""The benchmark conventions (benchmarks/harness.py): alternating sides, median and range, no best-of."""

from __future__ import annotations

import pytest
from benchmarks.harness import alternate, describe, load, report


def test_sides_alternate_and_the_starting_side_rotates() -> None:
    order: list[str] = []

    def side(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run() -> float:
            order.append(name)
            return seconds

        return run

    samples = alternate({"a": side("a", 1.0), "b": side("b", 2.0)}, reps=3)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert samples == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_fewer_than_three_reps_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        alternate({"a": lambda: 1.0}, reps=2)


def test_the_report_is_median_and_range_of_values_and_of_paired_ratios() -> None:
    samples = {"old": [0.010, 0.030, 0.020], "new": [0.005, 0.030, 0.005]}
    assert describe(samples["old"]) == "median 20.0 ms (range 10.0 to 30.0, 3 reps)"
    lines = report(samples, baseline="old")
    assert lines[0] == "old: median 20.0 ms (range 10.0 to 30.0, 3 reps)"
    assert lines[1] == "new: median 5.0 ms (range 5.0 to 30.0, 3 reps)"
    # per-rep ratios 0.5, 1.0, 0.25: the median, not the best
    assert lines[2] == "new / old: median 0.50 (range 0.25 to 1.00, 3 reps)"


def test_load_names_the_averages_and_cores() -> None:
    assert load().startswith("load ") and " cores" in load()
