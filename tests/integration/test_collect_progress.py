"""Long collects say how far they got: a throttled progress line per committed page."""

from __future__ import annotations

import logging
import re

import pytest

from core.collectors.progress import ProgressLog, collect_progress, item_counts, report_progress
from tests.fakes.newsfeed_server import NewsfeedServer, sample_data
from tests.fakes.wire import FakeClock
from tests.integration.test_newsfeed_collector import KEY, collector

PROGRESS = re.compile(r"^newsfeed: ([\d,]+) items so far( \(.*\))?, ([\d,]+) items/s, \d+m\d\ds$")


def test_every_committed_page_of_a_declared_stream_reports_progress(
    sqlite_url: str, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("COLLECTOR_PROGRESS_SECONDS", "0")
    clock = FakeClock()
    with (
        NewsfeedServer(sample_data(), api_key=KEY, clock=clock.time) as server,
        caplog.at_level(logging.INFO, logger="core.collectors.progress"),
    ):
        result = collector(server, sqlite_url, clock).run()
    lines = [r.getMessage() for r in caplog.records if r.name == "core.collectors.progress"]
    assert lines, "no progress line"
    totals = [int(PROGRESS.match(line).group(1).replace(",", "")) for line in lines]  # type: ignore[union-attr]
    assert totals == sorted(totals) and totals[-1] > 0
    written = sum(item_counts(result.counts).values())
    assert totals[-1] == written, (lines, dict(result.counts))
    assert result.counts["transactions"] == len(lines)


def test_the_interval_throttles_lines_and_the_rate_is_items_per_second() -> None:
    now = [100.0]
    progress = ProgressLog("github", interval_seconds=30, clock=lambda: now[0])
    now[0] += 10
    assert not progress.report({"commits": 10})
    now[0] += 20
    assert progress.report({"commits": 6000, "commits_pages": 60, "store_ms": 999}, "boostorg/json")
    now[0] += 29
    assert not progress.report({"commits": 9000})
    now[0] += 1
    assert progress.report({"commits": 9000})
    assert progress.lines == 2


def test_the_line_names_the_partition_with_readable_counts(caplog) -> None:
    now = [0.0]
    progress = ProgressLog("github", interval_seconds=0, clock=lambda: now[0])
    now[0] = 60.0
    with caplog.at_level(logging.INFO, logger="core.collectors.progress"):
        progress.report(
            {"commits": 11950, "issues": 450, "transactions": 120, "commits_pages": 120}, "boostorg/json"
        )
    assert caplog.records[-1].getMessage() == (
        "github: 12,400 items so far (commits 11,950, issues 450), 207 items/s, 1m00s, at boostorg/json"
    )


def test_outside_a_run_reporting_is_a_no_op_and_runs_do_not_share_a_log(caplog) -> None:
    assert report_progress({"rows": 5}) is False
    with collect_progress("outer", interval_seconds=0) as outer:
        with collect_progress("inner", interval_seconds=0) as inner:
            report_progress({"rows": 1})
        report_progress({"rows": 2})
    assert (outer.lines, inner.lines) == (1, 1)


@pytest.mark.parametrize("raw", ["abc", "-5"])
def test_a_bad_interval_setting_does_not_break_the_run(monkeypatch, raw) -> None:
    monkeypatch.setenv("COLLECTOR_PROGRESS_SECONDS", raw)
    with collect_progress("x") as progress:
        assert progress.interval_seconds in (30.0, 0.0)
