"""The WG21 collector against the fakes over real HTTP (the index, open-std.org's pages and
files, GitHub's dispatch endpoint), into a real store on both dialects. Only time is fake."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, ConfigError, DataValidationError, classify_failure
from core.protocols import require_activity_record
from core.store import Store, load_checkpoint
from core.store.outbox import release
from core.store.schema import core_outbox
from core.vectors.local_sink import search_local_records
from tests.fakes.wg21_server import GitHubDispatchApi, Paper, Wg21Site, pdf_bytes, sample_data
from tests.fakes.wire import FakeClock, Fault
from wg21_paper_tracker.collector import Wg21Collector
from wg21_paper_tracker.dispatch import OUTBOX_KIND
from wg21_paper_tracker.protocol_impl import Wg21Activity, Wg21CollectResult
from wg21_paper_tracker.tables import wg21_document_files, wg21_documents, wg21_mailings

TOKEN = "ghp_" + "DispatchT0kenValue" * 2
PAPERS = "/jtc1/sc22/wg21/docs/papers/"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def site(clock: FakeClock) -> Iterator[Wg21Site]:
    with Wg21Site(sample_data(), clock=clock.time) as server:
        yield server


@pytest.fixture
def github() -> Iterator[GitHubDispatchApi]:
    with GitHubDispatchApi(TOKEN) as server:
        yield server


def make(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock, **context: Any
) -> Wg21Collector:
    config: dict[str, Any] = {
        "index_url": site.url("/index.json"),
        "site_url": site.url(PAPERS),
        "first_year": 2024,
        "dispatch": {"enabled": True, "repository": "acme/papers", "api_url": github.root},
        "vectors": {"sink": "local", "namespace": "wg21"},
    }
    for key, value in context.pop("config", {}).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    made = Wg21Collector(
        config,
        context=RunContext(
            store_url=store_url, connections={"github_dispatch": {"password": TOKEN}}, **context
        ),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def run(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock, **context: Any
) -> Wg21CollectResult:
    result = make(site, github, store_url, clock, **context).run()
    assert isinstance(result, Wg21CollectResult)
    return result


def documents(store_url: str) -> dict[str, dict[str, Any]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        found = {r["doc_id"]: dict(r) for r in conn.execute(select(wg21_documents)).mappings()}
    store.dispose()
    return found


def outbox(store_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        found = [
            dict(r) for r in conn.execute(select(core_outbox).order_by(core_outbox.c.event_key)).mappings()
        ]
    store.dispose()
    return found


def mailing_state(store_url: str) -> dict[str, tuple[int, bool]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(wg21_mailings.c.mailing_id, wg21_mailings.c.paper_count, wg21_mailings.c.complete)
        )
        found = {m: (count, bool(complete)) for m, count, complete in rows}
    store.dispose()
    return found


def new_paper(site: Wg21Site, doc_id: str = "P3100R0", mailing: str = "2025-02", **kwargs: Any) -> None:
    fields = {"title": "Reflection for C++26", "author": "Faye Gray", "date": "2025-02-03", "subgroup": "EWG"}
    fields.update(kwargs)
    site.data.paper(mailing, Paper(doc_id, text="Abstract: static reflection.", **fields))


def test_first_run_stores_index_and_mailings_on_number_and_revision_without_dispatching(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    result = run(site, github, store_url, clock)
    docs = documents(store_url)
    assert set(docs) == {"P2300R10", "P3000R1", "N5001"}
    p2300 = docs["P2300R10"]
    assert (p2300["paper"], p2300["prefix"], p2300["revision"]) == ("P2300", "P", 10)
    assert p2300["authors"] == ["Ada Lovelace", "Bob Smith"] and p2300["mailing_id"] == "2025-01"
    assert p2300["file_urls"][0].endswith("p2300r10.html")  # html preferred over pdf
    assert docs["P3000R1"]["previous_version"] == "P3000R0"
    assert docs["P3000R1"]["authors"] == ["Carol Jones", "Dan Wu"] and docs["P3000R1"]["subgroups"] == [
        "EWG",
        "SG21",
    ]
    assert docs["N5001"]["revision"] is None and str(docs["N5001"]["document_date"]) == "2025-01-14"
    assert result.counts["new_papers"] == 3 and result.counts.get("dispatch_enqueued", 0) == 0  # the baseline
    assert github.accepted == [] and outbox(store_url) == []
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        mailings = {r["mailing_id"]: dict(r) for r in conn.execute(select(wg21_mailings)).mappings()}
        assert load_checkpoint(conn, "wg21") is not None
    store.dispose()
    assert mailings["2025-01"]["paper_count"] == 3 and mailings["2025-01"]["complete"]
    assert mailings["2025-02"]["paper_count"] == 0 and not mailings["2025-02"]["complete"]
    activity = Wg21Activity.from_row(p2300)
    require_activity_record(activity)
    assert activity.external_id == "P2300R10" and activity.actor_external_id == "Ada Lovelace"


def test_unchanged_rerun_costs_only_conditional_requests(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    site.log.clear()
    result = run(site, github, store_url, clock)
    statuses = collections.Counter((e.path, e.status) for e in site.log)
    assert statuses == {("/index.json", 304): 1, (PAPERS, 304): 1, (PAPERS + "2025/", 304): 1}
    assert result.counts["index_not_modified"] == 1 and result.counts.get("new_papers", 0) == 0
    assert all(e.header("If-None-Match") for e in site.log)


def test_a_new_paper_is_dispatched_exactly_once(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    new_paper(site)
    result = run(site, github, store_url, clock)
    assert result.counts["dispatch_enqueued"] == 1 and result.counts["outbox_sent"] == 1
    assert result.news == {"papers": ["P3100R0"]}
    assert len(github.accepted) == 1
    body = github.accepted[0]
    assert body["repository"] == "acme/papers" and body["event_type"] == "wg21_papers_convert"
    assert body["client_payload"]["ids"] == ["P3100R0"] and body["client_payload"]["count"] == 1
    assert body["client_payload"]["papers"] == [site.url(PAPERS + "2025/p3100r0.pdf")]
    assert github.log.select()[0].header("X-GitHub-Api-Version") == "2022-11-28"
    run(site, github, store_url, clock)  # index and mailing both saw it already: nothing more
    assert github.papers() == ["P3100R0"]


def test_a_failed_dispatch_keeps_the_paper_pending_and_the_next_run_sends_it(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    """The original's bug: a failed dispatch after the rows were committed lost the papers."""
    run(site, github, store_url, clock)
    new_paper(site)
    github.inject(Fault(502, path="/repos/"))
    with pytest.raises(Exception) as failed:
        run(site, github, store_url, clock)
    assert classify_failure(failed.value) is CollectorFailureCategory.NETWORK
    assert "P3100R0" in documents(store_url)  # the rows are stored
    [item] = outbox(store_url)
    assert item["sent_at"] is None and item["attempts"] == 1 and item["last_category"] == "network"
    run(site, github, store_url, clock)  # still backing off: not sent yet, nothing lost
    assert github.papers() == []
    clock.advance(120)
    result = run(site, github, store_url, clock)
    assert result.counts["outbox_sent"] == 1 and github.papers() == ["P3100R0"]


def test_a_refused_token_parks_the_dispatch_until_released_and_never_shows_the_token(
    site: Wg21Site,
    github: GitHubDispatchApi,
    store_url: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run(site, github, store_url, clock)
    new_paper(site)
    github.token = "another-token"
    with pytest.raises(Exception) as failed:
        run(site, github, store_url, clock)
    assert classify_failure(failed.value) is CollectorFailureCategory.AUTH
    assert TOKEN not in str(failed.value) and TOKEN[:12] not in str(failed.value)
    [item] = outbox(store_url)
    assert item["failed_at"] is not None and TOKEN not in (item["last_error"] or "")
    assert "Bad credentials" in caplog.text and TOKEN not in caplog.text and TOKEN[:12] not in caplog.text
    github.token = TOKEN
    result = run(site, github, store_url, clock)  # parked: reported, not resent
    assert github.papers() == [] and result.counts["outbox_parked"] == 1
    store = Store.from_url(store_url)
    with store.transaction() as conn:
        assert release(conn, OUTBOX_KIND, now=dt.datetime.fromtimestamp(clock.time(), dt.UTC)) == 1
    store.dispose()
    run(site, github, store_url, clock)
    assert github.papers() == ["P3100R0"]


def test_many_new_papers_are_split_within_githubs_limits(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    for n in range(250):
        new_paper(site, f"P{4000 + n}R0", title=f"Paper {n} " + "x" * 200)
    result = run(
        site,
        github,
        store_url,
        clock,
        config={"dispatch": {"max_papers_per_dispatch": 100, "max_payload_bytes": 5_000}},
    )
    assert result.counts["outbox_sent"] == 250
    assert sorted(github.papers()) == sorted(f"P{4000 + n}R0" for n in range(250))
    assert all(len(e.body) < 5_000 for e in github.log.select())
    assert all(len(b["client_payload"]["ids"]) <= 100 for b in github.accepted)
    assert len(github.accepted) > 3  # the byte cap, not only the count, split them


def test_html_drift_fails_as_validation_naming_the_mailing_and_keeps_the_index(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.data.header_override = ["Doc", "Name", "Who", "When", "Mailed", "Before", "Group", "Fate"]
    with pytest.raises(DataValidationError, match=r"mailing 2025-01.*no paper number or title column"):
        run(site, github, store_url, clock)
    docs = documents(store_url)
    assert set(docs) == {"P2300R10", "P3000R1", "N5001"} and docs["P2300R10"]["mailing_id"] is None
    site.data.header_override = None
    site.data.touch("2025")
    run(site, github, store_url, clock)
    assert documents(store_url)["P2300R10"]["mailing_id"] == "2025-01"


def test_bad_index_entries_are_named_and_the_good_ones_kept(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.data.index["P9999R0"] = {"type": "paper", "title": ["not", "a", "string"]}
    site.data.index["garbage key!"] = {"title": "x"}
    site.data.index["P1000"] = {"type": "paper", "title": "alias of the latest revision"}
    site.data.index["CWG2000"] = {"type": "issue", "title": "A core issue", "author": None, "date": "unknown"}
    site.data.index["P9998R1"] = {
        "type": "paper",
        "title": "Listed authors",
        "author": ["Ann A", "Ben B"],
        "extra": 1,
    }
    result = run(site, github, store_url, clock)
    assert result.counts["index_rejected"] == 2 and result.counts["index_aliases"] == 1
    assert any("P9999R0: title" in e for e in result.errors)
    docs = documents(store_url)
    assert "CWG2000" in docs and docs["CWG2000"]["document_date"] is None and "P9999R0" not in docs
    assert docs["P9998R1"]["authors"] == ["Ann A", "Ben B"]
    site.log.clear()
    run(site, github, store_url, clock)  # validators not kept: the index is read again in full
    assert [e.status for e in site.log.select(path="/index.json")] == [200]


def test_index_5xx_and_cut_bodies_are_retried(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.inject(Fault(503, path="/index.json"), Fault(disconnect="mid_body", path=PAPERS + "2025/"))
    result = run(site, github, store_url, clock)
    assert set(documents(store_url)) == {"P2300R10", "P3000R1", "N5001"}
    assert result.counts["http_retries"] >= 2


def test_downloads_convert_pdf_and_html_within_caps_and_feed_documents(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.data.mailing("2024-11", "2024-11 mailing")
    site.data.paper(
        "2024-11", Paper("P2900R9", "Huge", "Zed", "2024-11-01"), body=pdf_bytes(["big"]) + b"%" * 300_000
    )
    site.data.paper(
        "2024-11", Paper("P2901R0", "Broken", "Zed", "2024-11-02"), body=b"%PDF-1.4 this is no pdf"
    )
    download = {"enabled": True, "max_bytes": 200_000, "max_pages": 1}
    result = run(site, github, store_url, clock, config={"download": download})
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        files = {r["doc_id"]: dict(r) for r in conn.execute(select(wg21_document_files)).mappings()}
    assert "Abstract: a framework for asynchrony." in files["P2300R10"]["text"]  # HTML, preferred
    assert files["P2300R10"]["converter"] == "beautifulsoup4" and files["P2300R10"]["format"] == "html"
    assert "pre and post conditions" in files["P3000R1"]["text"] and files["P3000R1"]["pages"] == 1
    assert "Section 2" not in files["P3000R1"]["text"]  # max_pages
    assert files["P2900R9"]["text"] is None and "max_bytes=200000" in files["P2900R9"]["error"]
    assert files["P2901R0"]["error_category"] == "validation" and "P2901R0" in files["P2901R0"]["error"]
    assert result.counts["downloads"] == 3 and result.counts["downloads_failed"] == 2
    site.log.clear()
    run(site, github, store_url, clock, config={"download": download})  # failed files are not fetched again
    assert not [e for e in site.log if e.path.endswith((".pdf", ".html"))]

    synced = make(site, github, store_url, clock).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 5
    found = search_local_records(store, "pre and post conditions", namespace="wg21")
    assert found and found[0]["record_id"] == "wg21:P3000R1:0"
    assert "Carol Jones" in str(found[0]["text"])
    assert found[0]["metadata"]["revisions"] == ["P3000R1"] and found[0]["metadata"]["mailing"] == "2025-01"
    again = make(site, github, store_url, clock).sync_pinecone()
    assert again is not None and again.counts["documents"] == 0
    store.dispose()


def test_revisions_are_linked_in_the_documents(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    make(site, github, store_url, clock).sync_pinecone()
    new_paper(site, "P3000R2", title="Contracts for C++", previous="P3000R1")
    run(site, github, store_url, clock)
    synced = make(site, github, store_url, clock).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 1
    store = Store.from_url(store_url)
    [record] = [
        r
        for r in search_local_records(store, "Contracts", namespace="wg21")
        if r["record_id"] == "wg21:P3000R2:0"
    ]
    store.dispose()
    assert (
        record["metadata"]["revisions"] == ["P3000R1", "P3000R2"] and record["metadata"]["paper"] == "P3000"
    )
    assert (record["metadata"]["number"], record["metadata"]["revision"]) == (3000, 2)


def test_config_errors_name_the_field(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    with pytest.raises(ConfigError, match=r"dispatch\.event_type"):
        make(site, github, store_url, clock, config={"dispatch": {"event_type": "x" * 101}}).validate_config()
    with pytest.raises(ConfigError, match=r"dispatch\.repository: required"):
        make(site, github, store_url, clock, config={"dispatch": {"repository": ""}}).validate_config()
    with pytest.raises(ConfigError, match=r"download\.max_byte"):
        make(site, github, store_url, clock, config={"download": {"max_byte": 1}}).validate_config()


_CHILD = textwrap.dedent(
    """
    import json, sys
    from core.collectors import RunContext
    from wg21_paper_tracker.collector import Wg21Collector
    config, store_url, token = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    Wg21Collector(config, context=RunContext(store_url=store_url,
                  connections={"github_dispatch": {"password": token}})).run()
    """
)


def test_a_crash_between_the_commit_and_the_send_dispatches_exactly_once_on_the_next_run(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str
) -> None:
    """A real process is killed after the index step committed the paper and its outbox item,
    while it waits on the mailing pages (so before any send): the next run sends it, once."""
    config = {
        "index_url": site.url("/index.json"),
        "site_url": site.url(PAPERS),
        "first_year": 2024,
        "dispatch": {"enabled": True, "repository": "acme/papers", "api_url": github.root},
    }
    Wg21Collector(
        config, context=RunContext(store_url=store_url, connections={"github_dispatch": {"password": TOKEN}})
    ).run()
    new_paper(site)
    site.inject(Fault(delay=60, path=PAPERS, times=5))  # the child hangs after its first commit
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(config), store_url, TOKEN], env=env)
    try:
        deadline = time.monotonic() + 60
        while not outbox(store_url) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
        assert [i["event_key"] for i in outbox(store_url)] == ["wg21:P3100R0"]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert github.accepted == [] and outbox(store_url)[0]["sent_at"] is None
    site.faults.clear()
    again = Wg21Collector(
        config, context=RunContext(store_url=store_url, connections={"github_dispatch": {"password": TOKEN}})
    )
    result = again.run()
    assert result.counts["outbox_sent"] == 1 and github.papers() == ["P3100R0"]
    Wg21Collector(
        config, context=RunContext(store_url=store_url, connections={"github_dispatch": {"password": TOKEN}})
    ).run()
    assert github.papers() == ["P3100R0"]


def test_old_pages_with_five_columns_and_name_anchors_are_read(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.data.mailing("2024-02", "2024-02 mailing", legacy=True)
    site.data.paper(
        "2024-02", Paper("N4970", "Old layout paper", "Gus Old", "2024-02-05", "Library"), in_index=False
    )
    run(site, github, store_url, clock)
    doc = documents(store_url)["N4970"]
    assert (doc["mailing_id"], doc["mailing_title"], doc["mailing_authors"]) == (
        "2024-02",
        "Old layout paper",
        ["Gus Old"],
    )
    assert (
        doc["mailing_subgroup"] == "Library" and doc["type"] is None
    )  # not in the index: the mailing is its source
    synced = make(site, github, store_url, clock).sync_pinecone()
    assert synced is not None
    store = Store.from_url(store_url)
    [record] = [
        r
        for r in search_local_records(store, "Old layout paper", namespace="wg21")
        if r["record_id"] == "wg21:N4970:0"
    ]
    store.dispose()
    assert "Gus Old" in str(record["text"]) and record["metadata"]["mailing"] == "2024-02"


def test_a_mailing_is_read_again_until_it_has_papers_and_has_settled(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    site.data.mailing("2025-06", "2025-06 mailing", announced_only=True)  # the fake clock is mid-June 2025
    run(site, github, store_url, clock)
    new_paper(site, "P3200R0", mailing="2025-06")
    site.data.index.pop("P3200R0")  # only the mailing page has it (the index lags)
    site.data.touch("index")
    result = run(site, github, store_url, clock)
    assert result.counts["mailings_parsed"] == 1 and github.papers() == [
        "P3200R0"
    ]  # 2025-02 has no table yet
    assert github.accepted[0]["client_payload"]["mailings"] == ["2025-06"]
    assert mailing_state(store_url)["2025-06"] == (1, False)  # has papers, has not settled
    site.log.clear()
    run(site, github, store_url, clock)
    assert site.log.count("GET", PAPERS + "2025/") == 1  # still read (a 304)
    clock.advance(45 * 86_400)  # past the month's end + 14 days
    run(site, github, store_url, clock)
    assert mailing_state(store_url)["2025-06"] == (1, True)  # settled on an unchanged page
    site.data.paper("2025-02", Paper("P3201R0", "Late", "Hal Late", "2025-02-20"))
    run(site, github, store_url, clock)  # 2025-02 gets its papers (complete at once: long settled)
    site.log.clear()
    run(site, github, store_url, clock)
    assert site.log.count("GET", PAPERS + "2025/") == 0  # every 2025 mailing complete: not read again


def test_a_rate_limited_dispatch_waits_for_githubs_reset(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    new_paper(site)
    github.inject(Fault(429, headers={"Retry-After": "3600"}, path="/repos/"))
    with pytest.raises(Exception) as failed:
        run(site, github, store_url, clock)
    assert classify_failure(failed.value) is CollectorFailureCategory.RATE_LIMIT
    [item] = outbox(store_url)
    start = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    assert item["last_category"] == "rate_limit" and item["next_attempt_at"].replace(
        tzinfo=dt.UTC
    ) >= start + dt.timedelta(seconds=3590)
    clock.advance(1800)
    run(site, github, store_url, clock)
    assert github.papers() == []
    clock.advance(1900)
    run(site, github, store_url, clock)
    assert github.papers() == ["P3100R0"]


def test_a_paper_too_large_for_one_dispatch_is_parked_and_the_others_sent(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    run(site, github, store_url, clock)
    new_paper(site, "P3300R0")
    new_paper(site, "P3301R0")
    site.data.index["P3300R0"]["long_link"] = "https://example.org/" + "a" * 2000
    with pytest.raises(DataValidationError, match="wg21:P3300R0 alone exceeds 1000 bytes"):
        run(site, github, store_url, clock, config={"dispatch": {"max_payload_bytes": 1000}})
    assert github.papers() == ["P3301R0"]
    parked = {i["event_key"]: i for i in outbox(store_url)}["wg21:P3300R0"]
    assert parked["failed_at"] is not None and parked["last_category"] == "validation"


def test_files_come_only_from_allowed_origins(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    with Wg21Site(sample_data()) as mirror:
        for entry in site.data.index.values():
            entry["long_link"] = mirror.url(entry["long_link"])
        site.data.header_override = None
        download = {"enabled": True}
        result = run(site, github, store_url, clock, config={"download": download, "mailings": False})
        assert result.counts["downloads_skipped"] == 3 and not [e for e in mirror.log]
        allowed = {"enabled": True, "origins": [mirror.root]}
        result = run(
            site,
            github,
            store_url,
            clock,
            config={"download": allowed, "mailings": False, "first_year": 2024},
        )
        assert result.counts["downloads"] == 3 and len([e for e in mirror.log]) == 3


def test_a_bounded_run_writes_rows_only_and_a_full_refresh_sends_no_validators(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    run(site, github, store_url, clock, since=since)
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "wg21") is None
    store.dispose()
    assert len(documents(store_url)) == 3
    run(site, github, store_url, clock)
    site.log.clear()
    run(site, github, store_url, clock, full_refresh=True)
    assert site.log.select() and not [e for e in site.log if e.header("If-None-Match")]
    assert all(e.status == 200 for e in site.log)


def test_disabled_dispatch_enqueues_nothing_and_enabled_dispatch_needs_a_token(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    off = {"dispatch": {"enabled": False}}
    run(site, github, store_url, clock, config=off)
    new_paper(site)
    result = run(site, github, store_url, clock, config=off)
    assert result.counts["new_papers"] == 1 and outbox(store_url) == [] and github.log.select() == []
    config = {"dispatch": {"enabled": True, "repository": "acme/papers", "api_url": github.root}}
    made = Wg21Collector(
        config, context=RunContext(store_url=store_url, connections={"github_dispatch": {"host": "x"}})
    )
    with pytest.raises(ConfigError, match="connection github_dispatch has no password"):
        made.validate_config()


def test_a_file_failing_on_the_network_is_retried_on_later_runs_up_to_max_attempts(
    site: Wg21Site, github: GitHubDispatchApi, store_url: str, clock: FakeClock
) -> None:
    download = {"download": {"enabled": True, "max_attempts": 2}, "mailings": False}
    path = PAPERS + "2025/n5001.pdf"
    site.inject(Fault(500, path=path, times=10))
    result = run(site, github, store_url, clock, config=download)
    assert result.counts["downloads_failed"] == 1 and result.counts["downloads"] == 2
    assert any("download N5001" in e for e in result.errors)
    run(site, github, store_url, clock, config=download)
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(wg21_document_files).where(wg21_document_files.c.doc_id == "N5001"))
            .mappings()
            .one()
        )
    store.dispose()
    assert (row["attempts"], row["error_category"], row["text"]) == (2, "network", None)
    site.log.clear()
    site.faults.clear()
    run(site, github, store_url, clock, config=download)  # attempts used up: not fetched again
    assert site.log.count("GET", path) == 0
