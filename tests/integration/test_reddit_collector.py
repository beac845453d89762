"""The Reddit collector against the fake Reddit API over real HTTP (token endpoint, listings,
/api/info, comment trees, morechildren, X-Ratelimit-* headers), into a real store on both
dialects. Only time is fake: the client's clock/sleep and the fake's token expiry and rate
window share one FakeClock."""

from __future__ import annotations

import datetime as dt
import logging
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
from core.vectors.local_sink import search_local_records
from reddit_activity_tracker.collector import RedditCollector
from reddit_activity_tracker.listings import BackfillTooDeepError
from reddit_activity_tracker.protocol_impl import RedditActivity, RedditCollectResult
from reddit_activity_tracker.state import RedditState
from reddit_activity_tracker.tables import reddit_comments, reddit_submissions
from tests.fakes.reddit_server import RedditData, RedditServer, sample_data
from tests.fakes.wire import FakeClock, Fault

CLIENT_ID = "p-jcoLKBynTLew"
SECRET = "gko_LXELoV07ZBNUXrvWZfzE3aI"  # shaped like a real app secret
UA = "linux:community-collectors:v0.1 (by /u/cppa_bot)"
START = 1_750_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[RedditServer]:
    with RedditServer(
        sample_data(START - 86400), client_id=CLIENT_ID, client_secret=SECRET, clock=clock.time
    ) as srv:
        yield srv


def collector(server: RedditServer, store_url: str, clock: FakeClock, **context: Any) -> RedditCollector:
    config: dict[str, Any] = {
        "api_url": server.root,
        "token_url": server.token_url,
        "subreddits": [{"name": "cpp"}],
        "page_size": 2,
        "vectors": {"sink": "local", "namespace": "reddit"},
    }
    config.update(context.pop("config", {}))
    connection = context.pop(
        "connection", {"login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA}}
    )
    made = RedditCollector(
        config, context=RunContext(store_url=store_url, connections={"reddit_default": connection}, **context)
    )
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def run(server: RedditServer, store_url: str, clock: FakeClock, **context: Any) -> RedditCollectResult:
    result = collector(server, store_url, clock, **context).run()
    assert isinstance(result, RedditCollectResult)
    return result


def rows(store_url: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        posts = {r["id"]: dict(r) for r in conn.execute(select(reddit_submissions)).mappings()}
        comments = {r["id"]: dict(r) for r in conn.execute(select(reddit_comments)).mappings()}
    store.dispose()
    return posts, comments


def state(store_url: str, sub: str = "cpp") -> RedditState:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        loaded = RedditState.from_state(load_checkpoint(conn, "reddit", sub))
    store.dispose()
    return loaded


def api_requests(server: RedditServer) -> list[str]:
    return [e.path for e in server.log if e.path != "/api/v1/access_token"]


def test_first_run_walks_both_listings_by_after_and_stores_the_tree_authors_and_checkpoint(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    result = run(server, store_url, clock)
    posts, comments = rows(store_url)
    data = server.data
    assert set(posts) == {t["id"] for n, t in data.things.items() if n.startswith("t3_")} - {
        n[3:] for n in data.removed
    }  # the removed spam is not in /new
    assert len(comments) == 5
    # page_size 2: 2 submissions -> 1 page; 5 comments -> 3 pages, chained by `after` fullnames
    assert result.counts["submissions_pages"] == 1 and result.counts["comments_pages"] == 3
    afters = [e.query for e in server.log.select("GET", "/r/cpp/comments")]
    assert "after=t1_" in afters[1] and "after=t1_" in afters[2] and "raw_json=1" in afters[0]
    # app-only OAuth: one token, Basic auth on the token endpoint, bearer + the descriptive UA on the API
    token_calls = server.log.select("POST", "/api/v1/access_token")
    assert len(token_calls) == 1 and (token_calls[0].header("Authorization") or "").startswith("Basic ")
    assert server.user_agents == {UA}
    assert all((e.header("Authorization") or "").startswith("Bearer fake-access-") for e in server.log
               if e.path != "/api/v1/access_token")  # fmt: skip
    # tree via parent ids, deleted comment blanked, edited one has edited_at
    modules = next(p for p in posts.values() if p["title"].startswith("C++20 modules"))
    reply = next(c for c in comments.values() if c["body"].startswith("MSVC 17.10"))
    assert reply["parent_fullname"].startswith("t1_") and comments[reply["parent_fullname"][3:]]["edited_at"]
    assert reply["submission_id"] == modules["id"]
    deleted = next(c for c in comments.values() if c["is_deleted"])
    assert deleted["body"] == "" and deleted["author"] is None
    st = state(store_url)
    assert st.stream("comments").newest is not None and st.stream("comments").after is None
    assert st.stream("submissions").newest is not None and st.stream("submissions").newest.fullname == (
        "t3_" + max(posts, key=lambda i: posts[i]["created_at"])
    )
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        people = dict(conn.execute(select(person_profiles.c.external_id, person_profiles.c.username)).all())
    store.dispose()
    assert people == {f"t2_{n}0": n for n in ("ada", "bob", "carol", "dave", "erin")}  # frank deleted his
    activity = RedditActivity.from_row(reply)
    assert require_activity_record(activity).source_url == "https://www.reddit.com" + reply["permalink"]
    assert RedditActivity.from_dict(activity.asdict()) == activity


def test_an_unchanged_rerun_costs_one_page_per_listing_and_new_things_are_picked_up(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    server.log.clear()
    again = run(server, store_url, clock)
    assert api_requests(server) == ["/r/cpp/new", "/r/cpp/comments"]
    assert again.counts["submissions"] == 0 and again.counts["comments"] == 0
    modules = next(t["id"] for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    server.data.comment(modules, "GCC 15 finally handles our module graph.", author="gina")
    third = run(server, store_url, clock)
    assert third.counts["comments"] == 1 and len(rows(store_url)[1]) == 6


def test_a_new_comment_on_a_submission_older_than_the_walk_brings_its_submission(
    store_url: str, clock: FakeClock
) -> None:
    data = RedditData(START - 40 * 86400)
    old = data.post("cpp", "Old but gold: the rule of zero", score=80, at=START - 40 * 86400)
    data.comment(old, "Still true in C++23.", author="bob", at=START - 3600)
    with RedditServer(data, client_id=CLIENT_ID, client_secret=SECRET, clock=clock.time) as server:
        result = run(server, store_url, clock)  # lookback_days 30: /new stops before the old submission
        assert result.counts["submissions"] == 0 and result.counts["comments"] == 1
        assert result.counts["submissions_of_comments"] == 1
        assert f"id=t3_{old}" in server.log.select("GET", "/api/info")[0].query
    posts, comments = rows(store_url)
    assert posts[old]["score"] == 80 and next(iter(comments.values()))["submission_id"] == old


def test_a_crash_mid_walk_resumes_after_the_last_committed_page(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    modules = next(t["id"] for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    for n in range(5):
        server.data.comment(modules, f"late comment {n}", author="hal")
    # the third comments page breaks: pages one and two (four comments) are committed with a pending marker
    calls = {"n": 0}

    def third_page(real: bytes) -> bytes:
        calls["n"] += 1
        return (
            b'{"kind": "Listing", "data": {"children": [{"kind": "t1", "data": {"id": "zz"}}]}}'
            if calls["n"] == 3
            else real
        )

    server.inject(Fault(status=None, path="/r/cpp/comments", body=third_page, times=3))
    with pytest.raises(DataValidationError) as info:
        run(server, store_url, clock)
    assert info.value.location is not None and info.value.location.startswith("$.data.children[0].data.")
    pending = state(store_url).stream("comments")
    assert pending.after is not None and pending.top is not None
    assert len(rows(store_url)[1]) == 5 + 4
    server.data.comment(modules, "arrived after the crash", author="ivy")
    server.log.clear()
    resumed = run(server, store_url, clock)
    first, *_, fresh = server.log.select("GET", "/r/cpp/comments")
    assert f"after={pending.after}" in first.query  # resumes, not from the top...
    assert "after=" not in fresh.query  # ...then reads what arrived above the dead walk
    assert resumed.counts["comments"] == 2 and resumed.counts["comments_resumed"] == 1
    assert len(rows(store_url)[1]) == 11
    done = state(store_url).stream("comments")
    assert done.after is None and done.newest is not None and done.newest.fullname != pending.top.fullname


def test_the_listing_cap_gap_is_counted_and_a_too_deep_backfill_is_refused(
    store_url: str, clock: FakeClock
) -> None:
    data = RedditData(START - 3600 * 10, step=5)
    post = data.post("cpp", "busy thread", score=5)
    for n in range(12):
        data.comment(post, f"comment {n}")
    with RedditServer(data, client_id=CLIENT_ID, client_secret=SECRET, cap=6, clock=clock.time) as server:
        first = run(server, store_url, clock)
        assert first.counts["comments"] == 6 and first.counts["comments_history_truncated"] == 1
        for n in range(8):  # more new comments than the listing serves
            data.comment(post, f"burst {n}")
        second = run(server, store_url, clock)
        assert second.counts["gap_detected"] == 1 and second.counts["comments"] == 6

        since = dt.datetime.fromtimestamp(START - 3600 * 10, dt.UTC)
        with pytest.raises(BackfillTooDeepError) as info:
            run(server, store_url, clock, since=since, until=dt.datetime.fromtimestamp(START, dt.UTC))
        assert classify_failure(info.value) is CollectorFailureCategory.VALIDATION
        assert "about 1000 items" in str(info.value) and "nothing was written" in str(info.value)


def test_a_bounded_run_inside_the_listing_writes_rows_only(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    created = sorted(t["created_utc"] for n, t in server.data.things.items() if n.startswith("t1_"))
    since = dt.datetime.fromtimestamp(created[2], dt.UTC)
    result = run(server, store_url, clock, since=since, until=dt.datetime.fromtimestamp(START, dt.UTC))
    _posts, comments = rows(store_url)
    assert len(comments) == len(created) - 2 and result.counts["comments"] == len(created) - 2
    assert state(store_url).streams == {}


def test_the_refresh_window_updates_edits_scores_and_blanks_deletions_then_the_index_drops_them(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    synced = collector(server, store_url, clock).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 2
    store = Store.from_url(store_url)
    assert search_local_records(
        store, "lifetime nested", namespace="reddit"
    )  # erin's comment, in the HALO post

    halo_comment = next(
        t["id"] for t in server.data.things.values() if t.get("body", "").startswith("HALO needs")
    )
    question = next(
        t["id"] for t in server.data.things.values() if t.get("title", "").startswith("Coroutine")
    )
    modules = next(t["id"] for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    server.data.delete(halo_comment)
    server.data.score(modules, 99)
    server.data.edit(question, "Edited: when is the frame on the stack?")
    clock.advance(3600)  # the refresh interval has passed
    server.log.clear()
    result = run(server, store_url, clock)
    # two submissions and four comments (the comment deleted before the first run is not re-read)
    assert result.counts["refreshed"] == 2 + 4 and server.log.count("GET", "/api/info") == 1
    posts, comments = rows(store_url)
    assert comments[halo_comment]["is_deleted"] and comments[halo_comment]["body"] == ""
    assert posts[modules]["score"] == 99 and posts[question]["selftext"].startswith("Edited:")
    assert posts[question]["edited_at"] is not None

    third = collector(server, store_url, clock).sync_pinecone()
    assert third is not None and third.counts["documents"] == 2
    assert search_local_records(store, "lifetime nested", namespace="reddit") == []
    assert search_local_records(store, "Edited frame", namespace="reddit")
    # the deleted submission leaves the index altogether
    server.data.delete(question)
    clock.advance(3600)
    run(server, store_url, clock)
    collector(server, store_url, clock).sync_pinecone()
    assert search_local_records(store, "Edited", namespace="reddit") == []
    assert rows(store_url)[0][question]["title"] == "" and rows(store_url)[0][question]["is_deleted"]
    store.dispose()


def test_a_deleted_account_loses_its_profile_and_its_id_on_every_row_but_not_the_text(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    server.data.delete_account("ada")  # ada wrote a submission and a reply
    clock.advance(3600)
    run(server, store_url, clock)
    posts, comments = rows(store_url)
    by_ada = [p for p in posts.values() if p["title"].startswith("C++20")] + [
        c for c in comments.values() if c["body"].startswith("MSVC 17.10")
    ]
    assert len(by_ada) == 2 and all(r["author"] is None and r["author_fullname"] is None for r in by_ada)
    assert by_ada[1]["body"]  # the text stays: only the account is gone
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        people = set(conn.execute(select(person_profiles.c.external_id)).scalars())
    store.dispose()
    assert "t2_ada0" not in people and "t2_bob0" in people
    removed_post = (
        next(p for p in posts.values() if p["is_removed"])
        if any(p["is_removed"] for p in posts.values())
        else None
    )
    assert removed_post is None  # the removed spam never reached /new


def test_documents_hold_the_tree_in_order_with_scores_and_metadata(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    made = collector(server, store_url, clock)
    made.validate_config()
    docs = {d.doc_id: d for d in made.preprocess(None, [])}
    modules = next(t for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    doc = docs[f"cpp/{modules['id']}"]
    lines = doc.text.splitlines()
    bob = next(i for i, line in enumerate(lines) if line.startswith("- bob (7): Which compiler"))
    assert lines[bob + 1].startswith("  - ada (5): MSVC 17.10")  # reply indented under its parent
    assert lines[bob + 2].startswith("- carol (3)")  # the lower-scored sibling after the subtree
    question = next(t for t in server.data.things.values() if t.get("title", "").startswith("Coroutine"))
    halo = docs[f"cpp/{question['id']}"].text
    assert "HALO needs" in halo and "[deleted]" not in halo  # frank's deleted comment leaves no line
    assert doc.metadata["url"] == "https://www.reddit.com" + modules["permalink"]
    assert (
        doc.metadata["subreddit"] == "cpp"
        and doc.metadata["score"] == 42
        and doc.metadata["flair"] == "Discussion"
    )
    shallow = collector(server, store_url, clock, config={"document": {"max_depth": 0}})
    shallow.validate_config()
    text = next(d.text for d in shallow.preprocess(None, [f"cpp/{modules['id']}"]) if d.doc_id == doc.doc_id)
    assert "MSVC 17.10" not in text and "Which compiler" in text


def test_a_token_revoked_mid_run_answers_401_and_is_minted_again_once(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    def expire_after_answering(real: bytes) -> bytes:
        server.expire_tokens()  # as if expires_in ran out early: the next request gets 401
        return real

    server.inject(Fault(status=None, path="/r/cpp/new", body=expire_after_answering))
    result = run(server, store_url, clock)
    assert result.counts["token_mints"] == 2
    assert server.log.count("GET", "/r/cpp/comments", status=401) == 1
    assert len(rows(store_url)[1]) == 5


def test_a_token_is_minted_again_before_it_expires(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    server.expires_in = 61  # the client renews 60 s early: a token serves about two paced requests
    result = run(server, store_url, clock)
    assert result.counts["token_mints"] >= 2 and len(rows(store_url)[1]) == 5
    assert sum(1 for e in server.log if e.status == 401) == 0


def test_a_revoked_client_is_an_auth_failure_without_the_secret(
    server: RedditServer, store_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server.revoked = True
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        collector(server, store_url, clock).run()
    assert classify_failure(info.value) is CollectorFailureCategory.AUTH
    assert SECRET not in str(info.value) and SECRET not in caplog.text and SECRET[:10] not in caplog.text


def test_rate_limit_headers_pace_requests_and_a_spent_window_is_waited_out_or_rate_limited(
    store_url: str, clock: FakeClock
) -> None:
    with RedditServer(sample_data(START - 86400), client_id=CLIENT_ID, client_secret=SECRET, budget=4,
                      clock=clock.time) as server:  # fmt: skip
        result = run(server, store_url, clock)  # 4 requests a window: the rest wait for the reset
        assert len(rows(store_url)[1]) == 5 and result.counts["http_rate_limit_waits"] >= 1
        assert result.counts["http_paced_ms"] >= 600  # 90 queries/minute: >= 0.67 s between requests
    with RedditServer(sample_data(START - 86400), client_id=CLIENT_ID, client_secret=SECRET, budget=2,
                      clock=clock.time) as server:  # fmt: skip
        with pytest.raises(RateLimitError) as info:
            run(server, store_url, clock, config={"max_rate_limit_wait": 5})
        assert (
            info.value.retry_at is not None
            and classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT
        )


def test_a_429_with_retry_after_is_waited_out(server: RedditServer, store_url: str, clock: FakeClock) -> None:
    server.inject(Fault(429, headers={"Retry-After": "7"}, path="/r/cpp/comments"))
    result = run(server, store_url, clock)
    assert len(rows(store_url)[1]) == 5 and result.counts["http_rate_limit_waits"] >= 1


def test_keyword_mode_stores_matched_submissions_with_their_whole_tree_through_morechildren(
    store_url: str, clock: FakeClock
) -> None:
    data = RedditData(START - 7200, step=10)
    boost = data.post("programming", "Boost 1.87 released with a new Hash2 library", score=30)
    data.post("programming", "Why Rust? A story", score=50)
    for n in range(7):
        data.comment(boost, f"boost comment {n}")
    with RedditServer(
        data, client_id=CLIENT_ID, client_secret=SECRET, tree_limit=3, clock=clock.time
    ) as server:
        config = {"subreddits": [{"name": "programming", "mode": "keyword", "keywords": ["boost", "c++"]}]}
        result = run(server, store_url, clock, config=config)
        posts, comments = rows(store_url)
        assert set(posts) == {boost} and posts[boost]["matched_keywords"] == "boost"
        assert len(comments) == 7 and result.counts["tree_requests"] == 2
        assert server.log.count("GET", "/r/programming/comments") == 0
        more = server.log.select("GET", "/api/morechildren")[0]
        assert f"link_id=t3_{boost}" in more.query and "api_type=json" in more.query
        # a later comment: the refresh sees num_comments grow and reads the tree again
        data.comment(boost, "late boost comment", at=clock.time())
        clock.advance(3600)
        server.log.clear()
        later = run(server, store_url, clock, config=config)
        assert later.counts["refreshed"] == 1 + 7 and server.log.count("GET", f"/comments/{boost}") == 1
        assert len(rows(store_url)[1]) == 8
        clock.advance(3600)
        server.log.clear()
        run(server, store_url, clock, config=config)  # nothing grew: no tree
        assert server.log.count("GET", f"/comments/{boost}") == 0
        # Reddit counts a comment its trees never show (spam-filtered): read once, not every refresh
        data.things[f"t3_{boost}"]["num_comments"] += 1
        for expected_trees in (1, 0):
            clock.advance(3600)
            server.log.clear()
            run(server, store_url, clock, config=config)
            assert server.log.count("GET", f"/comments/{boost}") == expected_trees


def test_one_failing_subreddit_never_stops_the_others(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    server.inject(Fault(403, path="/r/private_sub/", times=5))
    config = {"subreddits": [{"name": "private_sub"}, {"name": "cpp"}]}
    with pytest.raises(Exception) as info:
        run(server, store_url, clock, config=config)
    assert classify_failure(info.value) is CollectorFailureCategory.PERMISSION
    assert len(rows(store_url)[1]) == 5  # cpp collected all the same


@pytest.mark.parametrize(
    ("config", "connection", "named"),
    [
        ({"page_size": 500}, None, "page_size"),
        ({"subreddits": []}, None, "subreddits"),
        ({"subreddits": [{"name": "cpp", "mode": "keyword"}]}, None, "without keywords"),
        (
            {},
            {"login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": "python-requests/2.32"}},
            "descriptive",
        ),
        (
            {},
            {"login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA, "reddit_session": "x"}},
            "cookies",
        ),
        ({}, {"password": SECRET, "extra": {"user_agent": UA}}, "client id as login"),
    ],
)
def test_config_and_connection_errors_name_the_field(
    config: dict[str, Any], connection: dict[str, Any] | None, named: str, sqlite_url: str
) -> None:
    raw = {"subreddits": [{"name": "cpp"}], **config}
    conn = connection or {"login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA}}
    made = RedditCollector(
        raw, context=RunContext(store_url=sqlite_url, connections={"reddit_default": conn})
    )
    with pytest.raises(ConfigError, match=named) as info:
        made.validate_config()
    assert SECRET not in str(info.value)


def test_a_moderator_removal_blanks_the_submission_cuts_its_slug_and_drops_its_document(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    run(server, store_url, clock)
    collector(server, store_url, clock).sync_pinecone()
    modules = next(t["id"] for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    server.data.remove(modules)
    clock.advance(3600)
    run(server, store_url, clock)
    post = rows(store_url)[0][modules]
    assert post["is_removed"] and post["title"] == "" and post["selftext"] == ""
    assert post["removed_by_category"] == "moderator" and post["permalink"] == f"/r/cpp/comments/{modules}/"
    synced = collector(server, store_url, clock).sync_pinecone()
    assert synced is not None
    store = Store.from_url(store_url)
    assert search_local_records(store, "modules production", namespace="reddit") == []
    store.dispose()


def test_a_body_cut_short_is_retried_and_a_bad_thing_in_the_refresh_is_named_and_skipped(
    server: RedditServer, store_url: str, clock: FakeClock
) -> None:
    server.inject(Fault(status=None, path="/r/cpp/new", body=lambda real: real[: len(real) // 2]))
    first = run(server, store_url, clock)
    assert first.counts["http_retries"] >= 1 and len(rows(store_url)[0]) == 2
    modules = next(t["id"] for t in server.data.things.values() if t.get("title", "").startswith("C++20"))
    question = next(
        t["id"] for t in server.data.things.values() if t.get("title", "").startswith("Coroutine")
    )
    server.data.score(question, 77)

    def break_modules(real: bytes) -> bytes:
        return real.replace(f'"id": "{modules}", "name"'.encode(), b'"id": "NOT base36!", "name"')

    server.inject(Fault(status=None, path="/api/info", body=break_modules))
    clock.advance(3600)
    result = run(server, store_url, clock)
    assert len(result.errors) == 1 and f"t3_{modules}" in result.errors[0] and "data.id" in result.errors[0]
    assert rows(store_url)[0][question]["score"] == 77  # the good things of that answer are written
