"""The tutorial's collector (docs/tutorial-new-source.md) against the fake Newsfeed API over real
HTTP, into a real store on both dialects: pagination of both streams, 429 + Retry-After, ETag/304,
checkpoint resume after a bad page, a bounded run, person profiles and documents through the
local sink. Only time is fake (the client's sleeps advance a clock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    ConfigError,
    DataValidationError,
    RateLimitError,
    classify_failure,
)
from core.identity import person_profiles
from core.protocols import require_activity_record
from core.store import Store, load_checkpoint
from core.store.schema import http_validators
from core.streams import StreamCursors
from core.vectors.local_sink import search_local_records
from newsfeed_activity_tracker.collector import NewsfeedCollector
from newsfeed_activity_tracker.protocol_impl import NewsfeedActivity, NewsfeedCollectResult
from newsfeed_activity_tracker.tables import newsfeed_comments, newsfeed_stories
from tests.fakes.newsfeed_server import NewsfeedData, NewsfeedServer, sample_data
from tests.fakes.wire import FakeClock, Fault

KEY = "nf_" + "S3cretApiKeyValue" * 2


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[NewsfeedServer]:
    with NewsfeedServer(sample_data(), api_key=KEY, clock=clock.time) as srv:
        yield srv


def collector(
    server: NewsfeedServer, store_url: str, clock: FakeClock, *, key: str = KEY, **context: Any
) -> NewsfeedCollector:
    config = {"api_url": server.root, "page_size": 2, "vectors": {"sink": "local", "namespace": "newsfeed"}}
    config.update(context.pop("config", {}))
    made = NewsfeedCollector(
        config,
        context=RunContext(store_url=store_url, connections={"newsfeed_default": {"password": key}}, **context),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def run(server: NewsfeedServer, store_url: str, clock: FakeClock, **context: Any) -> NewsfeedCollectResult:
    result = collector(server, store_url, clock, **context).run()
    assert isinstance(result, NewsfeedCollectResult)
    return result


def rows(store_url: str) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        stories = {r["story_id"]: dict(r) for r in conn.execute(select(newsfeed_stories)).mappings()}
        comments = {r["comment_id"]: dict(r) for r in conn.execute(select(newsfeed_comments)).mappings()}
    store.dispose()
    return stories, comments


def cursors(store_url: str) -> StreamCursors:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        state = StreamCursors.from_state(load_checkpoint(conn, "newsfeed", ""))
    store.dispose()
    return state


def validators(store_url: str) -> list[str]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        found = list(conn.execute(select(http_validators.c.scope)).scalars())
    store.dispose()
    return found


def test_first_run_pages_both_streams_stores_rows_profiles_and_the_checkpoint(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    result = run(server, store_url, clock)
    stories, comments = rows(store_url)
    assert len(stories) == 3 and len(comments) == 3
    # page_size 2: 3 stories -> 2 pages (cursor in the body), 3 comments -> 2 pages (Link header)
    assert result.counts["stories"] == 3 and result.counts["stories_pages"] == 2
    assert result.counts["comments"] == 3 and result.counts["comments_pages"] == 2
    assert server.log.count("GET", "/v1/stories", where=lambda e: "cursor=2" in e.query) == 1
    assert server.log.count("GET", "/v1/comments", where=lambda e: "page=2" in e.query.split("&")) == 1
    assert all(e.header("X-Api-Key") == KEY for e in server.log)
    assert sum(1 for s in stories.values() if s["deleted"]) == 1
    newest = max(s["updated_at"] for s in server.data.stories.values())
    assert cursors(store_url).cursor("stories") == newest
    # the first page of a multi-page listing proves nothing about the rest: no validators kept
    assert validators(store_url) == []
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        people = set(conn.execute(select(person_profiles.c.username)).scalars())
    store.dispose()
    assert people == {"ada", "bob", "carol", "dave", "erin"}  # the deleted story has no author
    activity = NewsfeedActivity.from_row(stories[min(stories)], server.root)
    assert require_activity_record(activity).actor_external_id == "ada"
    assert NewsfeedActivity.from_dict(activity.asdict()) == activity


def test_rerun_reads_the_overlap_then_answers_304_until_something_changes(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock, config={"overlap_minutes": 0})
    second = run(server, store_url, clock, config={"overlap_minutes": 0})
    assert second.counts["stories"] == 1  # the newest story again (updated_since is inclusive)
    assert sorted(validators(store_url)) == ["newsfeed:comments", "newsfeed:stories"]  # one short page each

    third = run(server, store_url, clock, config={"overlap_minutes": 0})
    assert third.counts["stories_not_modified"] == 1 and third.counts["comments_not_modified"] == 1
    assert third.counts["http_not_modified"] == 2 and third.counts["http_requests"] == 2
    assert "stories" not in third.counts

    story = next(iter(server.data.stories))
    server.data.edit(story, title="Modules in practice (updated)")
    fourth = run(server, store_url, clock, config={"overlap_minutes": 0})
    assert fourth.counts["stories"] == 1 and "stories_not_modified" not in fourth.counts
    assert rows(store_url)[0][story]["title"] == "Modules in practice (updated)"



def test_a_full_refresh_never_sends_validators(server: NewsfeedServer, store_url: str, clock: FakeClock) -> None:
    run(server, store_url, clock, config={"page_size": 10})  # one short page per stream, no cursor yet
    assert sorted(validators(store_url)) == ["newsfeed:comments", "newsfeed:stories"]
    full = run(server, store_url, clock, full_refresh=True, config={"page_size": 10})  # the same requests
    assert full.counts["stories"] == 3 and full.counts["comments"] == 3 and full.counts["http_not_modified"] == 0
    assert not any(e.header("If-None-Match") for e in server.log)


def test_a_429_with_retry_after_is_waited_out(server: NewsfeedServer, store_url: str, clock: FakeClock) -> None:
    server.inject(Fault(429, headers={"Retry-After": "7"}, path="/v1/comments"))
    result = run(server, store_url, clock)
    assert result.counts["comments"] == 3 and result.counts["http_rate_limit_waits"] == 1
    assert any(7 <= s <= 8 for s in clock.sleeps)  # Retry-After plus at most 1 s of jitter
    assert server.log.count("GET", "/v1/comments", status=429) == 1


def test_a_long_retry_after_fails_rate_limited_and_the_rerun_finishes(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    server.inject(Fault(429, headers={"Retry-After": "3600"}, path="/v1/comments", times=10))
    with pytest.raises(RateLimitError) as info:
        run(server, store_url, clock)
    assert classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT
    assert info.value.retry_at is not None and info.value.retry_at.timestamp() >= clock.time() + 3000
    assert len(rows(store_url)[0]) == 3 and rows(store_url)[1] == {}  # stories committed, comments not
    assert cursors(store_url).cursor("comments") is None

    server.faults.clear()
    result = run(server, store_url, clock)
    assert result.counts["comments"] == 3 and len(rows(store_url)[1]) == 3


def test_a_bad_page_fails_naming_the_field_and_the_rerun_resumes_at_the_checkpoint(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    broken = b'{"stories": [{"id": 1, "time": "yesterday", "updated_at": "2024-01-01T00:00:00Z"}]}'
    last_page = lambda real: broken if b'"next_cursor": null' in real else real  # noqa: E731
    server.inject(Fault(status=None, path="/v1/stories", body=last_page, times=2))
    with pytest.raises(DataValidationError) as info:
        run(server, store_url, clock, config={"overlap_minutes": 0})
    assert info.value.location == "$[0].time" and "/v1/stories" in (info.value.source or "")
    assert len(rows(store_url)[0]) == 2  # page 1 and its checkpoint committed together
    committed = cursors(store_url).cursor("stories")
    assert committed is not None

    result = run(server, store_url, clock, config={"overlap_minutes": 0})
    assert len(rows(store_url)[0]) == 3
    resumed = server.log.select("GET", "/v1/stories")[-1]
    assert f"updated_since={committed:%Y-%m-%dT%H:%M:%SZ}".replace(":", "%3A") in resumed.query
    assert result.counts["stories"] == 2  # the committed newest again (inclusive), then the rest


def test_a_bounded_run_writes_rows_only(server: NewsfeedServer, store_url: str, clock: FakeClock) -> None:
    stamps = sorted(s["updated_at"] for s in server.data.stories.values())
    result = run(server, store_url, clock, since=stamps[0], until=stamps[1])
    assert set(rows(store_url)[0]) == {
        i for i, s in server.data.stories.items() if stamps[0] <= s["updated_at"] <= stamps[1]
    }
    assert result.counts["stories"] == 2
    assert cursors(store_url).cursors == {} and validators(store_url) == []
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "newsfeed", "") is None
    store.dispose()


def test_documents_reach_the_local_sink_and_follow_edits_and_deletions(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    synced = collector(server, store_url, clock).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 2  # the deleted story is no document
    store = Store.from_url(store_url)
    found = search_local_records(store, "HALO allocation", namespace="newsfeed")
    coroutines = next(i for i, s in server.data.stories.items() if s.get("by") == "dave")
    assert [r["record_id"] for r in found] == [f"newsfeed:{coroutines}:0"]
    assert "coroutine frame" in str(found[0]["text"]).lower()

    again = collector(server, store_url, clock).sync_pinecone()
    assert again is not None and again.counts["documents"] == 0 and again.counts["records_upserted"] == 0

    modules, coroutines = sorted(i for i, s in server.data.stories.items() if not s.get("deleted"))
    server.data.comment(modules, "Try import std; it is faster still.", by="frank")
    server.data.delete(coroutines)
    run(server, store_url, clock)
    third = collector(server, store_url, clock).sync_pinecone()
    assert third is not None and third.counts["documents"] == 1
    assert search_local_records(store, "import std", namespace="newsfeed")
    assert search_local_records(store, "HALO", namespace="newsfeed") == []
    store.dispose()


def test_a_wrong_key_is_an_auth_failure_that_never_shows_the_key(
    server: NewsfeedServer, store_url: str, clock: FakeClock
) -> None:
    wrong = "nf_" + "WrongKeyValue0" * 2
    with pytest.raises(AuthenticationError) as info:
        collector(server, store_url, clock, key=wrong).validate()
    assert classify_failure(info.value) is CollectorFailureCategory.AUTH
    assert wrong not in str(info.value)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"api_url": "http://x", "page_sise": 5}, "page_sise"),
        ({"api_url": "http://x", "page_size": 0}, "page_size"),
        ({}, "api_url"),
        ({"api_url": "ftp://x"}, "http(s)"),
    ],
)
def test_config_errors_name_the_field(config: dict[str, Any], named: str, sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        NewsfeedCollector(config, context=RunContext(store_url=sqlite_url)).validate_config()


def test_an_empty_api_answers_and_leaves_no_checkpoint(store_url: str, clock: FakeClock) -> None:
    with NewsfeedServer(NewsfeedData(), clock=clock.time) as empty:
        result = collector(empty, store_url, clock, key="").run()
    assert result.counts["stories"] == 0 and result.counts["comments"] == 0
    assert cursors(store_url).cursors == {}
