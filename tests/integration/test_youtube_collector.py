"""The YouTube tracker against the fake YouTube (tests/fakes/youtube_server.py) over real HTTP,
into a real store on both dialects: the uploads walk and its stop rule, a quota cut that loses
no video and no search window, keys refused, deleted videos leaving the index, transcripts
(manual preferred, back-off, the blocked circuit breaker), documents with their time markers.
Only time is fake (the collectors' clock)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    DataValidationError,
    RateLimitError,
    classify_failure,
)
from core.identity import person_profiles
from core.store import Store, load_checkpoint
from core.vectors.local_sink import search_local_records
from tests.fakes.wire import FakeClock, Fault
from tests.fakes.youtube_server import (
    Track,
    YouTubeData,
    YouTubeServer,
    google_error,
    sample_data,
    talk_lines,
)
from youtube_activity_tracker.api import next_pacific_midnight
from youtube_activity_tracker.collector import YouTubeCollector, YouTubeTranscriptCollector
from youtube_activity_tracker.tables import yt_transcript_status, yt_transcripts, yt_video_stats, yt_videos

KEY = "AIza" + "FakeYouTubeKey0123456789abcdefghijk"
NS = "youtube"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def fake() -> Iterator[tuple[YouTubeServer, YouTubeData, str]]:
    data, channel = sample_data()
    with YouTubeServer(data, api_keys=(KEY,)) as server:
        yield server, data, channel


def _config(server: YouTubeServer, **overrides: Any) -> dict[str, Any]:
    return {"page_size": 2, "stop_after_known": 2, "transcript_base_url": server.root,
            "vectors": {"sink": "local", "namespace": NS}, **overrides}  # fmt: skip


def metadata(
    server: YouTubeServer, store_url: str, clock: FakeClock, *, key: str = KEY, **config: Any
) -> YouTubeCollector:
    conns = {"youtube_default": {"host": server.url("/youtube/v3"), "password": key}}
    made = YouTubeCollector(
        _config(server, **config), context=RunContext(store_url=store_url, connections=conns)
    )
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def transcripts(
    server: YouTubeServer, store_url: str, clock: FakeClock, **config: Any
) -> YouTubeTranscriptCollector:
    made = YouTubeTranscriptCollector(_config(server, **config), context=RunContext(store_url=store_url))
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def rows(store_url: str, table: Any) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table)).mappings()]
    finally:
        store.dispose()


def test_first_run_walks_the_uploads_then_a_rerun_stops_at_known_videos(store_url, fake, clock) -> None:
    server, data, channel = fake
    first = metadata(server, store_url, clock, channels=[channel]).run()
    assert first.counts["videos_new"] == 4
    # channels 1 + two pages of two uploads + their details (50 ids per call): 5 units
    assert first.counts["quota_units"] == 5 and server.units[KEY] == 5
    videos = {r["video_id"]: r for r in rows(store_url, yt_videos)}
    assert len(videos) == 4 and all(r["channel_title"] == "CppCon" for r in videos.values())
    assert {r["duration_s"] for r in videos.values()} == {2710, 30}
    assert len(rows(store_url, yt_video_stats)) == 4

    server.log.clear()
    newest = data.upload(channel, "Modules - Bjarne Stroustrup - CppCon 2025", description="x" * 500)
    again = metadata(server, store_url, clock, channels=[channel]).run()
    # page 1: the new upload and a known one, page 2: the second known in a row -> stop
    assert again.counts["videos_new"] == 1 and again.counts["playlist_pages"] == 2
    assert server.log.count("GET", "/youtube/v3/playlistItems") == 2
    assert next(e.query for e in server.log.select("GET", "/youtube/v3/videos")).count("v0") == 1
    assert newest in {r["video_id"] for r in rows(store_url, yt_videos)}
    assert all(e.query.count(f"key={KEY}") == 1 for e in server.log)


def test_a_quota_cut_mid_walk_loses_no_video_and_resumes_where_it_stopped(store_url, fake, clock) -> None:
    server, data, channel = fake
    server.quota_per_day = 3  # channels + page 1 + its details, then quotaExceeded on page 2
    with pytest.raises(RateLimitError) as raised:
        metadata(server, store_url, clock, channels=[channel]).run()
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    assert raised.value.retry_at == next_pacific_midnight(now) == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    assert classify_failure(raised.value) is CollectorFailureCategory.RATE_LIMIT
    assert KEY not in str(raised.value)
    assert len(rows(store_url, yt_videos)) == 2  # page 1 committed with its checkpoint
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "youtube", "")
        partition_state = load_checkpoint(conn, "youtube", f"channel:{channel}")
    store.dispose()
    assert state is None and partition_state is not None and partition_state.extras["resume_token"]

    # meanwhile two more uploads arrive; the walk of the new head stops at the known streak, and
    # the interrupted walk is finished from its page token: every video is stored
    data.upload(channel, "New one - A B - CppCon 2025")
    server.reset_quota()
    server.quota_per_day = 10_000
    result = metadata(server, store_url, clock, channels=[channel]).run()
    assert result.counts["walks_resumed"] == 1
    assert len(rows(store_url, yt_videos)) == 5


def test_search_window_moves_only_when_every_query_completed(store_url, fake, clock) -> None:
    server, _data, _channel = fake
    search = {"queries": ["coroutines", "move semantics"], "max_search_calls_per_day": 1,
              "start": "2023-01-01T00:00:00Z"}  # fmt: skip
    first = metadata(server, store_url, clock, search=search).run()
    assert first.counts["search_calls"] == 1 and first.counts["search_budget_exhausted"] == 1
    assert {r["search_term"] for r in rows(store_url, yt_videos)} == {"coroutines"}
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "youtube", "search")
    assert state is not None
    assert state.extras["window_start"].startswith("2023-01-01") and state.extras["done"] == ["coroutines"]

    # the quota bucket refuses the next day's first call: nothing moves either
    clock.advance(86_400)
    server.search_calls_per_day = 0
    with pytest.raises(RateLimitError):
        metadata(server, store_url, clock, search=search).run()
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "youtube", "search")
    assert state is not None and state.extras["window_start"].startswith("2023-01-01")

    server.search_calls_per_day = 100
    done = metadata(server, store_url, clock, search=search).run()
    assert done.counts["search_calls"] == 1  # the query left, not the one done
    assert done.counts["search_windows_completed"] == 1 and done.counts["quota_units_search"] == 100
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "youtube", "search")
    store.dispose()
    assert state is not None and state.extras["window_start"] == state.extras["window_start"]
    assert not state.extras["window_start"].startswith("2023") and state.extras["done"] == []
    assert {r["search_term"] for r in rows(store_url, yt_videos)} == {"coroutines", "move semantics"}


def test_an_invalid_key_is_auth_without_the_key_anywhere(store_url, fake, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server, _, channel = fake
    wrong = "AIza" + "WrongKeyWrongKeyWrongKeyWrongKey123"
    with pytest.raises(AuthenticationError) as raised:
        metadata(server, store_url, clock, key=wrong, channels=[channel]).run()
    assert classify_failure(raised.value) is CollectorFailureCategory.AUTH
    assert "keyInvalid" in str(raised.value) and wrong not in str(raised.value)
    with pytest.raises(AuthenticationError):  # the validate step's preflight says so before any collect
        metadata(server, store_url, clock, key=wrong, channels=[channel]).validate()
    assert metadata(server, store_url, clock, channels=[channel]).validate().counts["partitions"] == 1
    assert "keyInvalid" in caplog.text and wrong not in caplog.text and KEY not in caplog.text


def test_5xx_is_retried_and_a_malformed_page_names_the_field(store_url, fake, clock) -> None:
    server, _, channel = fake
    server.inject(Fault(503, path="/youtube/v3/playlistItems"))
    result = metadata(server, store_url, clock, channels=[channel]).run()
    assert result.counts["http_retries"] == 1 and result.counts["videos_new"] == 4

    server.inject(
        Fault(None, path="/youtube/v3/playlistItems", body=b'{"items": [{"snippet": {"position": "x"}}]}')
    )
    with pytest.raises(DataValidationError) as raised:
        metadata(server, store_url, clock, channels=[channel], stop_after_known=50).run()
    assert "/playlistItems" in str(raised.value) and "snippet.position" in str(raised.value)


def test_a_deleted_video_leaves_the_index(store_url, fake, clock) -> None:
    server, data, channel = fake
    collector = metadata(server, store_url, clock, channels=[channel], min_description_chars=10)
    collector.run()
    transcripts(server, store_url, clock).run()
    synced = collector.sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 2
    talk = next(v for v in data.videos.values() if "Move Semantics" in v.title)
    assert search_local_records(Store.from_url(store_url), talk.id, namespace=NS)

    data.delete(talk.id)
    clock.advance(8 * 86_400)  # the weekly statistics refresh re-reads every video
    refreshed = metadata(server, store_url, clock, channels=[channel], min_description_chars=10).run()
    assert refreshed.counts["videos_unavailable"] == 1 and refreshed.counts["stats_refreshed"] == 3
    removed = metadata(server, store_url, clock, channels=[channel], min_description_chars=10).sync_pinecone()
    assert removed is not None and removed.counts["documents_removed"] == 1
    assert not search_local_records(Store.from_url(store_url), talk.id, namespace=NS)


def test_transcripts_prefer_manual_tracks_and_back_off_per_video(store_url, fake, clock) -> None:
    server, data, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    result = transcripts(server, store_url, clock).run()
    assert result.counts["transcripts_manual"] == 1 and result.counts["transcripts_asr"] == 1
    assert result.counts["transcripts_disabled"] == 1  # the Short is never asked
    by_title = {data.videos[r["video_id"]].title.split(" - ")[0]: r for r in rows(store_url, yt_transcripts)}
    assert by_title["Back to Basics: Move Semantics"]["kind"] == "manual"
    assert "asr moves" not in by_title["Back to Basics: Move Semantics"]["text"]
    status = {r["status"]: r for r in rows(store_url, yt_transcript_status)}
    disabled = status["disabled"]
    assert disabled["attempts"] == 1
    assert Store and disabled["next_attempt_at"].replace(tzinfo=dt.UTC) - dt.datetime.fromtimestamp(
        clock.time(), dt.UTC
    ) == dt.timedelta(days=7)

    server.log.clear()
    assert transcripts(server, store_url, clock).run().counts == {}  # nothing due
    assert len(server.log) == 0
    clock.advance(7 * 86_400 + 1)
    assert transcripts(server, store_url, clock).run().counts["transcripts_disabled"] == 1
    clock.advance(30 * 86_400 + 1)
    transcripts(server, store_url, clock).run()  # third attempt: max_attempts reached, never again
    final = {r["status"]: r for r in rows(store_url, yt_transcript_status)}["disabled"]
    assert final["attempts"] == 3 and final["next_attempt_at"] is None


def test_consecutive_blocks_trip_the_breaker_as_rate_limit(store_url, fake, clock) -> None:
    server, data, channel = fake
    for n in range(4):
        data.upload(
            channel, f"Talk {n} - Some Speaker - CppCon 2025", tracks=[Track("en", "manual", talk_lines("t"))]
        )
    metadata(server, store_url, clock, channels=[channel], stop_after_known=50, page_size=50).run()
    server.blocked = "bot"
    with pytest.raises(RateLimitError) as raised:
        transcripts(server, store_url, clock, max_blocked_per_run=3).run()
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    assert raised.value.retry_at == now + dt.timedelta(hours=6)
    assert server.log.count("POST", "/youtubei/v1/player") == 3  # stopped after three, not seven
    statuses = rows(store_url, yt_transcript_status)
    assert [r["status"] for r in statuses] == ["blocked"] * 3 and {r["attempts"] for r in statuses} == {0}

    server.blocked = "captcha"  # the other shape of a block: a reCAPTCHA page instead of the player
    clock.advance(6 * 3600 + 1)
    with pytest.raises(RateLimitError):
        transcripts(server, store_url, clock, max_blocked_per_run=3).run()

    server.blocked = "429"  # and the third: Too Many Requests on the watch page
    clock.advance(6 * 3600 + 1)
    with pytest.raises(RateLimitError):
        transcripts(server, store_url, clock, max_blocked_per_run=3).run()

    server.blocked = None
    clock.advance(6 * 3600 + 1)
    unblocked = transcripts(server, store_url, clock).run()
    assert unblocked.counts["transcripts"] == 6


def test_documents_carry_time_markers_speakers_and_metadata(store_url, fake, clock) -> None:
    server, data, channel = fake
    collector = metadata(server, store_url, clock, channels=[channel])
    collector.run()
    transcripts(server, store_url, clock).run()
    collector.validate_config()
    documents = {d.doc_id: d for d in collector.preprocess(None, [])}
    talk = next(v for v in data.videos.values() if "Coroutines" in v.title)
    document = documents[talk.id]
    assert "[00:00] coroutine frames sentence at second 0" in document.text
    assert "[01:00] coroutine frames sentence at second 60" in document.text
    assert "Speakers: Grace Hopper" in document.text
    assert document.metadata["url"] == f"https://www.youtube.com/watch?v={talk.id}"
    assert document.metadata["transcript_kind"] == "asr" and document.metadata["channel"] == "CppCon"
    short = next(v for v in data.videos.values() if v.duration == "PT30S")
    assert short.id not in documents and len(documents) == 2  # no transcript and a short description: none


def test_a_broken_caption_track_fails_its_video_only(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    server.inject(Fault(None, path="/api/timedtext", body=b'<?xml version="1.0"?><transcript><text start="0'))
    result = transcripts(server, store_url, clock).run()
    assert result.counts["transcripts_error"] == 1 and result.counts["transcripts"] == 1
    error = next(r for r in rows(store_url, yt_transcript_status) if r["status"] == "error")
    assert "ParseError" in error["last_error"] and error["attempts"] == 1


def test_the_proxy_is_used_and_its_password_never_stored(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    secret = "Pr0xyPassw0rdValue"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    proxy = {"host": "127.0.0.1", "port": closed_port, "login": "bench", "password": secret}
    made = YouTubeTranscriptCollector(
        _config(server, proxy_connection_id="yt_proxy"),
        context=RunContext(store_url=store_url, connections={"yt_proxy": proxy}),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    result = made.run()
    assert result.counts["transcripts_error"] == 3  # nothing reached YouTube but through the proxy
    assert server.log.count("GET", "/watch") == 0
    errors = [r["last_error"] for r in rows(store_url, yt_transcript_status)]
    assert all("ProxyError" in e or "ConnectionError" in e for e in errors)
    assert not any(secret in e for e in errors)


def test_a_playlist_that_is_gone_fails_its_partition_as_permission(store_url, fake, clock) -> None:
    server, _, _ = fake
    with pytest.raises(Exception) as raised:
        metadata(server, store_url, clock, playlists=["PLgoneGoneGoneGone00"]).run()
    assert classify_failure(raised.value) is CollectorFailureCategory.PERMISSION


def test_a_placeholder_in_the_walk_marks_the_video_unavailable_at_once(store_url, fake, clock) -> None:
    server, data, channel = fake
    collector_config = {"channels": [channel], "stop_after_known": 50}
    metadata(server, store_url, clock, **collector_config).run()
    gone = next(iter(data.videos))
    data.make_private(gone)
    result = metadata(server, store_url, clock, **collector_config).run()
    assert result.counts["videos_unavailable"] == 1
    marked = {r["video_id"] for r in rows(store_url, yt_videos) if r["unavailable_at"] is not None}
    assert marked == {gone}


def test_an_oversized_caption_track_is_an_error_for_its_video_only(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    huge = (
        b'<?xml version="1.0"?><transcript>'
        + b'<text start="0" dur="1">word</text>' * 2_000
        + b"</transcript>"
    )
    server.inject(Fault(None, path="/api/timedtext", body=huge))
    result = transcripts(server, store_url, clock, max_transcript_bytes=20_000).run()
    assert result.counts["transcripts_error"] == 1 and result.counts["transcripts"] == 1
    error = next(r for r in rows(store_url, yt_transcript_status) if r["status"] == "error")
    assert "ResponseTooLarge" in error["last_error"] and "20000 bytes" in error["last_error"]


def test_pages_that_loop_back_fail_as_validation(store_url, fake, clock) -> None:
    server, _, channel = fake
    looping = b'{"items": [], "nextPageToken": "bzow"}'
    server.inject(Fault(None, path="/youtube/v3/playlistItems", body=looping, times=5))
    with pytest.raises(DataValidationError, match="loop back"):
        metadata(server, store_url, clock, channels=[channel]).run()
    assert server.log.count("GET", "/youtube/v3/playlistItems") == 2


def test_a_full_refresh_rewalks_and_rereads_everything(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    conns = {"youtube_default": {"host": server.url("/youtube/v3"), "password": KEY}}
    made = YouTubeCollector(
        _config(server, channels=[channel]),
        context=RunContext(store_url=store_url, connections=conns, full_refresh=True),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    server.log.clear()
    result = made.run()
    assert result.counts["playlist_pages"] == 2 and result.counts["quota_units_videos"] == 2
    assert result.counts.get("videos_new", 0) == 0  # nothing changed: no row rewritten


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("rateLimitExceeded", CollectorFailureCategory.RATE_LIMIT),
        ("forbidden", CollectorFailureCategory.PERMISSION),
    ],
)
def test_other_refusals_keep_their_category(store_url, fake, clock, reason, category) -> None:
    server, _, channel = fake
    body = json.dumps(google_error(403, "refused", reason)).encode()
    server.inject(
        Fault(403, path="/youtube/v3/channels", body=body, headers={"Content-Type": "application/json"})
    )
    with pytest.raises(Exception) as raised:
        metadata(server, store_url, clock, channels=[channel]).run()
    assert classify_failure(raised.value) is category
    if category is CollectorFailureCategory.RATE_LIMIT:
        assert isinstance(raised.value, RateLimitError)
        assert raised.value.retry_at == dt.datetime.fromtimestamp(clock.time(), dt.UTC) + dt.timedelta(
            minutes=1
        )


def test_upcoming_and_live_videos_wait_for_transcripts_and_documents(store_url, fake, clock) -> None:
    server, data, channel = fake  # an upcoming premiere already has its length
    upcoming = data.upload(channel, "Keynote - Some One - CppCon 2026", duration="PT50M", live="upcoming",
                           description="y" * 500, tracks=[Track("en", "manual", talk_lines("k"))])  # fmt: skip
    collector = metadata(server, store_url, clock, channels=[channel], stop_after_known=50)
    collector.run()
    transcripts(server, store_url, clock).run()
    assert upcoming not in {r["video_id"] for r in rows(store_url, yt_transcript_status)}
    collector.validate_config()
    assert upcoming not in {d.doc_id for d in collector.preprocess(None, [])}


def test_an_unchanged_reread_moves_no_change_sequence(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    before = {r["video_id"]: r["change_seq"] for r in rows(store_url, yt_videos)}
    clock.advance(8 * 86_400)  # the statistics refresh re-reads every video: statistics change, content not
    result = metadata(server, store_url, clock, channels=[channel]).run()
    assert result.counts["stats_refreshed"] == 4
    assert {r["video_id"]: r["change_seq"] for r in rows(store_url, yt_videos)} == before


def test_transcripts_go_through_the_configured_proxy(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    server.log.clear()
    # the fake answers absolute-URI requests too, so it can stand in for the proxy: YouTube's
    # origin is unreachable here, every transcript request must go through it
    proxy = {"host": "127.0.0.1", "port": server.port, "login": "proxyuser", "password": "Pr0xyS3cret"}
    made = YouTubeTranscriptCollector(
        _config(server, proxy_connection_id="yt_proxy", transcript_base_url="http://youtube.invalid"),
        context=RunContext(store_url=store_url, connections={"yt_proxy": proxy}),
    )
    made.clock, made.sleep = clock.time, clock.sleep
    result = made.run()
    assert result.counts["transcripts"] == 2
    assert len(server.log) == 8  # watch + player per video, and two caption tracks
    assert all(e.header("Host") == "youtube.invalid" and (e.header("Proxy-Authorization") or "").startswith("Basic ")
               for e in server.log)  # fmt: skip


def test_channels_and_title_speakers_become_profiles(store_url, fake, clock) -> None:
    server, _, channel = fake
    metadata(server, store_url, clock, channels=[channel]).run()
    profiles = {(r["source"], r["external_id"]): r for r in rows(store_url, person_profiles)}
    assert profiles[("youtube", channel)]["display_name"] == "CppCon"
    speaker = profiles[("youtube_speaker", "ada lovelace")]
    assert speaker["display_name"] == "Ada Lovelace" and speaker["attrs"]["confidence"] == "low"
    assert {k for k in profiles if k[0] == "youtube_speaker"} == {
        ("youtube_speaker", "ada lovelace"), ("youtube_speaker", "grace hopper"), ("youtube_speaker", "alan turing"),
    }  # fmt: skip
