"""The Boost library tracker against the Boost GitHub fake over real HTTP, into a real store on
both dialects: stable tags oldest first, one transaction per release, the set of versions as
checkpoint, news only for newly stored releases, libraries.json in every real shape, files reused
for unmoved submodules, 304 on an unchanged listing, bad files skipped by name, failures by
category without the token, documents in the local sink. Only time is fake."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from boost_library_tracker.collector import BoostLibrariesCollector
from boost_library_tracker.protocol_impl import (
    BoostLibrariesResult,
    BoostLibraryVersionActivity,
    BoostReleasesState,
)
from boost_library_tracker.tables import (
    boost_libraries,
    boost_library_roles,
    boost_library_versions,
    boost_releases,
)
from core.collectors import RunContext
from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    ConfigError,
    DataValidationError,
    NetworkError,
    RateLimitError,
    classify_failure,
)
from core.identity import person_profiles, profile_emails
from core.identity.profiles import email_sha256
from core.protocols import require_activity_record, require_incremental_state
from core.store import Store, load_checkpoint
from core.vectors.local_sink import search_local_records
from tests.fakes.boost_github import FakeBoostGitHub, add_release, next_release, running, sample_dataset
from tests.fakes.github_server import Fault
from tests.fakes.wire import FakeClock

TOKEN = "ghp_" + "B00stLibrariesT0ken" * 2
LIBRARY_FILES = 6  # sample submodules under libs/
PER_RELEASE = 3  # git commit, tree, .gitmodules


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeBoostGitHub]:
    with FakeBoostGitHub(sample_dataset(), tokens={TOKEN: 5000}, clock=clock.time) as srv:
        yield srv


def collector(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock, *, token: str = TOKEN, **context: Any
) -> BoostLibrariesCollector:
    config = {"api_url": server.base_url, "per_page": 2, "vectors": {"sink": "local", "namespace": "boost"}}
    config.update(context.pop("config", {}))
    made = BoostLibrariesCollector(
        config,
        context=RunContext(
            store_url=store_url, connections={"github_default": {"password": token}}, **context
        ),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def run(server: FakeBoostGitHub, store_url: str, clock: FakeClock, **context: Any) -> BoostLibrariesResult:
    result = collector(server, store_url, clock, **context).run()
    assert isinstance(result, BoostLibrariesResult)
    return result


def table(store_url: str, tbl: Any, *order: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(tbl).order_by(*(tbl.c[o] for o in order))).mappings()]
    store.dispose()
    return rows


def state(store_url: str) -> BoostReleasesState:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        loaded = BoostReleasesState.from_state(load_checkpoint(conn, "boost_libraries"))
    store.dispose()
    return loaded


def test_first_run_stores_each_stable_release_oldest_first_with_every_library_shape(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    result = run(server, store_url, clock)
    assert result.news == {"versions": ["1.85.0", "1.86.0"]}  # not the beta, not develop-snapshot
    assert result.counts["releases_new"] == 2 and result.errors == ()
    assert state(store_url).versions == ["1.85.0", "1.86.0"] and state(store_url).unannounced == []

    releases = table(store_url, boost_releases, "version_order")
    assert [(r["version"], r["tag"], r["libraries"]) for r in releases] == [
        ("1.85.0", "boost-1.85.0", 8),
        ("1.86.0", "boost-1.86.0", 8),
    ]
    assert releases[0]["detected_at"] <= releases[1]["detected_at"]  # oldest first

    versions = {
        (r["key"], r["version"]): r for r in table(store_url, boost_library_versions, "key", "version")
    }
    minmax = versions[("algorithm/minmax", "1.86.0")]  # list form, -at- address, documentation
    assert minmax["repo_full_name"] == "boostorg/algorithm" and minmax["documentation"] == "minmax/"
    assert minmax["maintainers"] == [{"name": "Marshall Clow", "email": "mclow.lists@gmail.com"}]
    assert minmax["cxxstd"] == "C++03" and minmax["submodule_path"] == "libs/algorithm"
    beast = versions[("beast", "1.86.0")]  # object form, std instead of cxxstd, plain address
    assert beast["cxxstd"] == "C++11" and beast["categories"] == ["Concurrent", "IO"]
    assert beast["maintainers"] == [{"name": "vinnie.falco", "email": "vinnie.falco@gmail.com"}]
    conversion = versions[("numeric/conversion", "1.86.0")]  # nested path, string fields, bare name
    assert conversion["repo_full_name"] == "boostorg/numeric_conversion"
    assert conversion["authors"] == ["Fernando Cacciola"] and conversion["categories"] == ["Math"]
    assert conversion["status"] == "deprecated" and conversion["cxxstd"] is None
    assert conversion["maintainers"][1] == {"name": "Brandon Kohn", "email": None}
    assert versions[("json", "1.85.0")]["content_hash"] != versions[("json", "1.86.0")]["content_hash"]
    assert versions[("asio", "1.85.0")]["content_hash"] == versions[("asio", "1.86.0")]["content_hash"]

    libraries = {r["key"]: r for r in table(store_url, boost_libraries, "key")}
    assert (libraries["json"]["first_version"], libraries["json"]["last_version"]) == ("1.85.0", "1.86.0")

    roles = table(store_url, boost_library_roles, "key", "version", "role", "name")
    url = [
        (r["role"], r["name"], r["email_sha256"])
        for r in roles
        if (r["key"], r["version"]) == ("url", "1.86.0")
    ]
    assert ("maintainer", "Alan de Freitas", email_sha256("alandefreitas@gmail.com")) in url
    assert ("author", "Vinnie Falco", None) in url
    profiles = {r["external_id"]: r for r in table(store_url, person_profiles, "source", "external_id")}
    assert profiles[email_sha256("chris@kohlhoff.com")]["username"] == "Chris Kohlhoff"
    assert "name:brandon kohn" in profiles
    emails = table(store_url, profile_emails, "source", "external_id", "email_sha256")
    assert {e["email"] for e in emails} == {None}  # hashes only, never the plain address
    assert {e["evidence"] for e in emails} == {"boost_libraries_json"}

    tools = [s for s in server.served if "numeric_conversion" in s.path or "/repos/boostorg/build" in s.path]
    assert [s.path for s in tools] == ["/repos/boostorg/numeric_conversion/contents/meta/libraries.json"]


def test_requests_per_release_and_files_reused_for_unmoved_submodules(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    first = run(server, store_url, clock)
    # 1.85.0 reads every library; 1.86.0 only the one whose submodule moved (json)
    assert first.counts["meta_files_fetched"] == LIBRARY_FILES + 1
    assert first.counts["meta_files_reused"] == LIBRARY_FILES - 1
    tag_pages = server.count(path="/repos/boostorg/boost/tags")
    assert tag_pages == 2  # 4 tags, 2 per page
    assert len(server.served) == tag_pages + 2 * PER_RELEASE + LIBRARY_FILES + 1
    assert all(s.token == TOKEN for s in server.served)


def test_an_unchanged_run_costs_one_304_and_reports_no_news(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    config = {"per_page": 100}
    run(server, store_url, clock, config=config)
    server.clear_log()
    again = run(server, store_url, clock, config=config)
    assert again.news is None and again.counts["tags_not_modified"] == 1
    assert [(s.path, s.status, s.conditional) for s in server.served] == [
        ("/repos/boostorg/boost/tags", 304, True)
    ]

    next_release(server.dataset, "1.87.0")
    server.clear_log()
    third = run(server, store_url, clock, config=config)
    assert third.news == {"versions": ["1.87.0"]} and third.counts["releases_new"] == 1
    assert (
        server.count(path="/repos/boostorg/json/contents") == 1
        and server.count(path="/repos/boostorg/asio") == 0
    )


def test_a_multi_page_listing_keeps_no_validators_so_a_new_tag_on_page_two_is_seen(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)  # per_page 2: three pages, the first page's validators are not kept
    server.dataset.add_release("1.10.0")  # sorts last: it lands on the last page, page one unchanged
    server.clear_log()
    assert run(server, store_url, clock).news is None  # 1.10.0 < 1.16.1: not a release
    assert not any(s.conditional for s in server.served)
    server.dataset.add_release("1.9.9", tag="boost-1.79.0")
    assert run(server, store_url, clock).news == {"versions": ["1.79.0"]}


def test_releases_param_rereads_all_or_listed_versions_without_news(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock, config={"releases": ["1.86.0"]})
    assert state(store_url).versions == ["1.86.0"]
    libraries = {r["key"]: r for r in table(store_url, boost_libraries, "key")}
    assert libraries["json"]["first_version"] == "1.86.0"

    backfill = run(server, store_url, clock, config={"releases": "1.85.0"})  # older release after a newer one
    assert backfill.news == {"versions": ["1.85.0"]} and backfill.counts["releases_new"] == 1
    libraries = {r["key"]: r for r in table(store_url, boost_libraries, "key")}
    assert (libraries["json"]["first_version"], libraries["json"]["last_version"]) == ("1.85.0", "1.86.0")
    assert "as of 1.86.0" in _latest_description(store_url, "json")

    again = run(server, store_url, clock, config={"releases": ["all"]})
    assert again.news is None and again.counts["releases_reread"] == 2

    by_param = run(server, store_url, clock, params={"releases": ["1.85.0"]}, config={"releases": "all"})
    assert (
        by_param.counts["releases_reread"] == 1 and by_param.counts["releases_selected"] == 1
    )  # the param wins
    with pytest.raises(ConfigError, match=r"param 'releases': not a release version"):
        collector(server, store_url, clock, params={"releases": ["1.85"]}).validate_config()
    with pytest.raises(ConfigError, match=r"releases: no stable tag boost-1\.99\.0"):
        run(server, store_url, clock, config={"releases": ["1.99.0"]})
    with pytest.raises(ConfigError, match=r"releases: .*not a release version"):
        collector(server, store_url, clock, config={"releases": ["latest"]}).validate_config()


def _latest_description(store_url: str, key: str) -> str:
    library = {r["key"]: r for r in table(store_url, boost_libraries, "key")}[key]
    versions = table(store_url, boost_library_versions, "key", "version")
    return next(
        v["description"] for v in versions if (v["key"], v["version"]) == (key, library["last_version"])
    )


def test_a_bad_libraries_json_is_skipped_by_name_and_the_good_ones_are_stored(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    ds = server.dataset
    ds.current["libs/beast"] = '{"key": "beast", "name": "Beast", "cxxstd": "11"'  # cut short
    ds.current["libs/asio"] = '[{"key": "asio", "name": "Asio"}, {"key": "asio/ts", "category": 5}]'
    ds.set_library("libs/headers", "headers", None)  # a submodule without meta/libraries.json
    next_release(ds, "1.87.0")
    result = run(server, store_url, clock)
    assert result.success and result.news == {"versions": ["1.85.0", "1.86.0", "1.87.0"]}
    problems = [e for e in result.errors if e.startswith("1.87.0")]
    assert len(problems) == 2 and result.counts["libraries_invalid"] == 2
    assert "boostorg/beast@" in problems[0] or "boostorg/beast@" in problems[1]
    assert any("boostorg/asio@" in p and "$[1].name" in p for p in problems)
    assert result.counts["submodules_without_meta"] == 1
    keys = {
        r["key"]
        for r in table(store_url, boost_library_versions, "key", "version")
        if r["version"] == "1.87.0"
    }
    assert "asio" in keys and "asio/ts" not in keys and "beast" not in keys and "json" in keys


def test_an_oversized_file_is_refused_naming_it(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    server.dataset.current["libs/url"] = '{"key": "url", "name": "URL", "description": "' + "x" * 5000 + '"}'
    next_release(server.dataset, "1.87.0")
    result = run(server, store_url, clock, config={"max_meta_bytes": 4096})
    assert any("boostorg/url@" in e and "at=size" in e for e in result.errors)


def test_a_broken_superproject_answer_fails_validation_and_keeps_the_releases_before_it(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    commit = server.dataset.releases["boost-1.86.0"].commit_sha
    server.inject(Fault("status", status=200, path=f"/repos/boostorg/boost/git/commits/{commit}", times=0))
    server.faults.clear()
    server.inject(Fault("malformed", path=f"/repos/boostorg/boost/git/commits/{commit}", times=5))
    with pytest.raises((DataValidationError, NetworkError)) as info:
        run(server, store_url, clock)
    assert classify_failure(info.value) in (
        CollectorFailureCategory.VALIDATION,
        CollectorFailureCategory.NETWORK,
    )
    assert state(store_url).versions == ["1.85.0"] and state(store_url).unannounced == ["1.85.0"]
    assert [r["version"] for r in table(store_url, boost_releases, "version_order")] == ["1.85.0"]
    server.faults.clear()
    window = run(server, store_url, clock, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert window.news is None and state(store_url).unannounced == ["1.85.0"]  # a bounded run: rows only
    resumed = run(server, store_url, clock)  # the release stored by the failed run is still news
    assert resumed.news == {"versions": ["1.85.0", "1.86.0"]}
    assert state(store_url).unannounced == []


def test_rate_limits_are_waited_out_or_fail_with_retry_at(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    server.inject(Fault("secondary", status=429, retry_after=30, path="/repos/boostorg/json/contents"))
    assert run(server, store_url, clock).counts["releases_new"] == 2
    assert clock.sleeps and max(clock.sleeps) >= 30

    next_release(server.dataset, "1.87.0")
    server.inject(Fault("secondary", status=429, retry_after=7200, path="/repos/boostorg/json/contents"))
    with pytest.raises(RateLimitError) as info:
        run(server, store_url, clock)
    assert (
        info.value.retry_at is not None
        and classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT
    )
    assert state(store_url).versions == ["1.85.0", "1.86.0"]  # 1.87.0 not half-written
    assert "1.87.0" not in [r["version"] for r in table(store_url, boost_releases, "version_order")]


def test_a_wrong_token_is_an_auth_failure_that_never_shows_the_token(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    wrong = "ghp_" + "WrongTokenValue0" * 3
    with pytest.raises(AuthenticationError) as info:
        collector(server, store_url, clock, token=wrong).validate()
    assert classify_failure(info.value) is CollectorFailureCategory.AUTH and wrong not in str(info.value)


def test_documents_one_per_library_from_its_latest_version(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    synced = collector(server, store_url, clock).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 8
    store = Store.from_url(store_url)
    found = search_local_records(store, "Min-Max", namespace="boost")
    assert [r["record_id"] for r in found] == ["boost_libraries:algorithm/minmax:0"]
    text = str(found[0]["text"])
    assert "https://www.boost.org/doc/libs/1_86_0/libs/algorithm/minmax/" in text and "Marshall Clow" in text
    assert "mclow" not in text  # names only, never addresses
    assert search_local_records(store, "as of 1.86.0", namespace="boost")

    unchanged = collector(server, store_url, clock).sync_pinecone()
    assert unchanged is not None and unchanged.counts["documents"] == 0

    next_release(server.dataset, "1.87.0")
    run(server, store_url, clock)
    third = collector(server, store_url, clock).sync_pinecone()
    assert third is not None and third.counts["records_upserted"] >= 1
    assert search_local_records(store, "as of 1.87.0", namespace="boost")
    assert search_local_records(store, "as of 1.86.0", namespace="boost") == []
    store.dispose()


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"superproject": "boost"}, "superproject"),
        ({"per_page": 0}, "per_page"),
        ({"releases": 5}, "releases"),
        ({"relaeses": "all"}, "relaeses"),
    ],
)
def test_config_errors_name_the_field(
    server: FakeBoostGitHub, sqlite_url: str, clock: FakeClock, config: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        collector(server, sqlite_url, clock, config=config).validate_config()


def test_the_checkpoint_counts_releases(server: FakeBoostGitHub, sqlite_url: str, clock: FakeClock) -> None:
    run(server, sqlite_url, clock)
    store = Store.from_url(sqlite_url)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(boost_releases)).scalar() == 2
        loaded = load_checkpoint(conn, "boost_libraries")
    assert loaded is not None and loaded.human_readable_marker == "2 releases, latest 1.86.0"
    store.dispose()


def test_the_fake_runs_as_a_subprocess_and_tags_a_release_at_runtime(tmp_path: Path, sqlite_url: str) -> None:
    with running(tmp_path / "fake.log", releases="1.85.0", token=TOKEN) as url:
        first = run_at(url, sqlite_url)
        assert first.news == {"versions": ["1.85.0"]}
        assert add_release(url, "1.86.0") == "boost-1.86.0"
        second = run_at(url, sqlite_url)
        assert second.news == {"versions": ["1.86.0"]} and second.counts["meta_files_fetched"] == 1


def run_at(url: str, store_url: str) -> BoostLibrariesResult:
    context = RunContext(
        store_url=store_url, connections={"github_default": {"host": url, "password": TOKEN}}
    )
    result = BoostLibrariesCollector({}, context=context).run()  # the fake's clock is the real one
    assert isinstance(result, BoostLibrariesResult)
    return result


def test_a_bounded_run_stores_the_releases_of_its_window_and_no_checkpoint(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    dated = sorted((r.date, r.tag) for r in server.dataset.releases.values())
    (first_date, _), (second_date, _) = dated
    result = run(
        server,
        store_url,
        clock,
        since=first_date + dt.timedelta(hours=1),
        until=second_date + dt.timedelta(hours=1),
    )
    assert [r["version"] for r in table(store_url, boost_releases, "version_order")] == ["1.86.0"]
    assert result.news is None and result.counts["releases_outside_window"] == 1
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "boost_libraries") is None
    store.dispose()
    assert run(server, store_url, clock).news == {
        "versions": ["1.85.0", "1.86.0"]
    }  # the forward run still sees both


def test_a_release_of_many_libraries_goes_through_bulk_writes_and_nul_escapes_are_dropped(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    """60 files (PostgreSQL writes 50+ rows through COPY), each with a ``\\u0000`` escape."""
    ds = server.dataset
    for index in range(60):
        meta = {"key": f"lib{index}", "name": f"Lib {index}", "description": f"number {index}\u0000 end"}
        ds.set_library(f"libs/lib{index}", f"lib{index}", meta)
    next_release(ds, "1.87.0")
    result = run(server, store_url, clock)
    assert result.counts["releases_new"] == 3 and result.errors == ()
    stored = {
        r["key"]: r["description"]
        for r in table(store_url, boost_library_versions, "key", "version")
        if r["version"] == "1.87.0"
    }
    assert len(stored) == 8 + 60 and stored["lib3"] == "number 3 end"


def test_a_truncated_tree_fails_rather_than_store_a_release_with_libraries_missing(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    server.dataset.truncated_trees = True
    with pytest.raises(DataValidationError, match="truncated") as info:
        run(server, store_url, clock)
    assert classify_failure(info.value) is CollectorFailureCategory.VALIDATION
    assert table(store_url, boost_releases, "version_order") == []


def test_a_full_refresh_reads_the_listing_unconditionally_and_every_release(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock, config={"per_page": 100})
    server.clear_log()
    refreshed = run(server, store_url, clock, config={"per_page": 100}, full_refresh=True)
    assert refreshed.news is None and refreshed.counts["releases_reread"] == 2
    assert not any(s.conditional for s in server.served)


def test_a_5xx_echoing_the_token_fails_as_network_without_it_in_the_error_or_the_log(
    server: FakeBoostGitHub, store_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    echo = f"upstream said: Authorization: token {TOKEN}"
    server.inject(Fault("status", status=502, message=echo, path="/repos/boostorg/json/contents", times=20))
    with pytest.raises(NetworkError) as info:
        run(server, store_url, clock)
    assert classify_failure(info.value) is CollectorFailureCategory.NETWORK
    assert "upstream said: Authorization: [REDACTED]" in str(info.value)  # the body is quoted, redacted
    assert TOKEN not in str(info.value) and TOKEN[8:30] not in str(info.value)
    assert TOKEN not in caplog.text and TOKEN[8:30] not in caplog.text
    assert table(store_url, boost_releases, "version_order") == []


def test_a_tag_listing_longer_than_max_tag_pages_fails_naming_the_bound(
    server: FakeBoostGitHub, sqlite_url: str, clock: FakeClock
) -> None:
    with pytest.raises(DataValidationError, match="max_pages=2") as info:
        run(server, sqlite_url, clock, config={"per_page": 1, "max_tag_pages": 2})
    assert "/tags" in str(info.value)
    assert table(sqlite_url, boost_releases, "version_order") == []


def test_protocol_types_round_trip_and_pass_the_guards(
    server: FakeBoostGitHub, sqlite_url: str, clock: FakeClock
) -> None:
    result = run(server, sqlite_url, clock)
    assert BoostLibrariesResult.from_dict(json.loads(json.dumps(result.asdict()))) == result
    loaded = state(sqlite_url)
    assert require_incremental_state(loaded) is loaded
    assert BoostReleasesState.from_dict(json.loads(json.dumps(loaded.asdict()))) == loaded
    row = next(r for r in table(sqlite_url, boost_library_versions, "key", "version") if r["key"] == "beast")
    release = table(sqlite_url, boost_releases, "version_order")[0]
    activity = require_activity_record(BoostLibraryVersionActivity.from_row(row, release["released_at"]))
    assert (activity.external_id, activity.activity_type) == ("beast@1.85.0", "library_released")
    assert activity.occurred_at.tzinfo is not None and activity.summary.startswith("Beast 1.85.0: ")
