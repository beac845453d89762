"""The GitHub REST client against a local server speaking GitHub's wire protocol.

Real HTTP on 127.0.0.1 through the real client (session, token pool, retry policy); only
time is fake: the client's ``sleep`` advances a clock the server also uses for its
rate-limit resets, so waits of minutes take no time.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Iterator

import pytest

from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    classify_failure,
)
from core.operations.github_ops import (
    GitHubClient,
    GitHubClientConfig,
    GitHubConflictError,
    GitHubNotFoundError,
    InMemoryEtagCache,
    NotModified,
    Pages,
    fingerprint,
    parse_link_header,
    request_key,
)
from tests.fakes.github_server import FakeClock, FakeGitHubServer, Fault, build_dataset

# One token shaped like a real PAT (caught by pattern), one that only literal redaction catches.
T1 = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
T2 = "plain-secret-value-7f3e9c2d1b"
T3 = "third-token-0c9d8e7f6a5b4c3d"
REPO = "/repos/acme/widgets"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(build_dataset("small"), tokens={T1: 5000, T2: 5000, T3: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()
    assert srv.internal_errors == []


def make_client(
    server: FakeGitHubServer, clock: FakeClock, tokens: tuple[str, ...] = (T1,), **overrides: object
) -> GitHubClient:
    settings: dict[str, object] = {"jitter": 0.0, "min_remaining": 0, **overrides}
    config = GitHubClientConfig(base_url=server.base_url, tokens=tokens, **settings)  # type: ignore[arg-type]
    return GitHubClient(
        config, etag_cache=InMemoryEtagCache(), clock=clock.time, sleep=clock.sleep, rng=lambda: 0.5
    )


def assert_no_secret(text: str) -> None:
    for secret in (T1, T2, T3):
        assert secret not in text


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


# --------------------------------------------------------------------------- happy paths


def test_single_get_sends_github_headers_and_decodes(server: FakeGitHubServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client:
        response = client.get(REPO)
    assert response.status == 200
    assert response.data["full_name"] == "acme/widgets"
    assert response.data["owner"]["login"] == "acme"
    assert response.rate is not None and response.rate.remaining == 4999 and response.rate.resource == "core"
    assert response.token == fingerprint(T1)
    assert server.count(token=T1) == 1
    assert client.stats.requests == 1 and client.stats.quota_consuming == 1


def test_connection_is_reused_across_requests(server: FakeGitHubServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client:
        for _ in range(5):
            client.get(REPO)
        # an absolute URL from a payload is fine on the API's own origin
        assert client.get(f"{server.base_url}/repos/acme/gadgets").data["name"] == "gadgets"
        with pytest.raises(DataValidationError, match="another origin"):
            client.get("https://api.github.example/repos/acme/gadgets")
    assert server.count() == 6
    assert server.connections == 1


def test_pagination_follows_link_headers_across_pages(server: FakeGitHubServer, clock: FakeClock) -> None:
    expected = {i.number for i in server.dataset.repo("acme/widgets").issues.values()}
    with make_client(server, clock) as client:
        items = list(client.iter_items(f"{REPO}/issues", {"state": "all", "per_page": 2}))
    numbers = [i["number"] for i in items]
    assert sorted(numbers) == sorted(expected)
    assert len(numbers) == len(set(numbers))
    pages = -(-len(expected) // 2)
    assert pages >= 3
    assert server.count(path=f"{REPO}/issues") == 1
    # later pages come from the github.com-style /repositories/{id}/... links
    assert server.count(path="/repositories/") == pages - 1
    assert client.stats.requests == pages


def test_pages_of_a_commit_carry_static_info_and_file_slices(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    commit = server.dataset.add_commit("acme/widgets", "Big change", author="alice", files=650)
    with make_client(server, clock) as client:
        pages = list(client.pages(f"{REPO}/commits/{commit.sha}"))
    assert [len(p.data["files"]) for p in pages] == [300, 300, 50]
    assert {p.data["sha"] for p in pages} == {commit.sha}
    assert pages[0].data["stats"]["additions"] == 650 * 3
    filenames = [f["filename"] for p in pages for f in p.data["files"]]
    assert len(set(filenames)) == 650


def test_commit_files_stop_at_the_3000_file_limit(server: FakeGitHubServer, clock: FakeClock) -> None:
    commit = server.dataset.add_commit("acme/widgets", "Vendor drop", author="alice", files=3100)
    with make_client(server, clock) as client:
        pages = list(client.pages(f"{REPO}/commits/{commit.sha}"))
    served = sum(len(p.data["files"]) for p in pages)
    assert served == 3000 < len(commit.files)
    assert pages[0].data["stats"]["total"] == 3100 * 3  # stats still describe the whole commit


def test_enterprise_base_url_with_api_prefix(clock: FakeClock) -> None:
    with FakeGitHubServer(
        build_dataset("small"), tokens={T1: 100}, clock=clock.time, path_prefix="/api/v3"
    ) as srv:
        assert srv.base_url.endswith("/api/v3")
        with make_client(srv, clock) as client:
            items = list(client.iter_items("/orgs/acme/repos", {"per_page": 1}))
    assert [r["full_name"] for r in items] == ["acme/gadgets", "acme/widgets"]
    assert srv.count() == 2


# --------------------------------------------------------------------------- conditional requests


def test_etag_304_on_second_call_spends_no_quota(server: FakeGitHubServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client:
        first = client.get_if_changed(f"{REPO}/issues", {"state": "all"}, scope="acme/widgets")
        assert not isinstance(first, NotModified)
        assert first.etag and first.cache_key == "/repos/acme/widgets/issues?state=all"
        client.remember(first)
        remaining_before = server.quotas[T1].remaining

        second = client.get_if_changed(f"{REPO}/issues", {"state": "all"}, scope="acme/widgets")

    assert isinstance(second, NotModified)
    assert server.quotas[T1].remaining == remaining_before
    assert server.count(status=304) == 1 and server.count(status=304, consumed=True) == 0
    assert client.stats.not_modified == 1
    assert client.stats.quota_consuming == 1
    assert client.stats.requests == 2


def test_validators_are_used_only_after_remember(server: FakeGitHubServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client:
        client.get_if_changed(REPO, scope="s")  # not remembered: data not persisted yet
        again = client.get_if_changed(REPO, scope="s")
    assert not isinstance(again, NotModified)
    assert server.count(status=304) == 0


def test_change_after_remember_returns_data_again(server: FakeGitHubServer, clock: FakeClock) -> None:
    params = {"since": "2024-01-01T00:00:00Z"}
    with make_client(server, clock) as client:
        first = client.get_if_changed(f"{REPO}/issues/comments", params, scope="s")
        assert not isinstance(first, NotModified)
        client.remember(first)
        server.dataset.edit_comment("acme/widgets", first.data[0]["id"], "edited body")
        changed = client.get_if_changed(f"{REPO}/issues/comments", params, scope="s")
        assert not isinstance(changed, NotModified)
        assert changed.data[0]["body"] == "edited body"
        # other scopes do not share validators
        other = client.get_if_changed(f"{REPO}/issues/comments", params, scope="other")
        assert not isinstance(other, NotModified)


def test_conditional_pagination_not_modified_on_first_page(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    params = {"state": "all", "per_page": 3}
    with make_client(server, clock) as client:
        pages = client.pages_if_changed(f"{REPO}/issues", params, scope="s")
        assert isinstance(pages, Pages)
        items = list(pages.items())
        pages.remember()
        assert len(items) == len(server.dataset.repo("acme/widgets").issues)
        requests_before = server.count()
        again = client.pages_if_changed(f"{REPO}/issues", params, scope="s")
    assert isinstance(again, NotModified)
    assert server.count() == requests_before + 1
    assert server.count(consumed=False) == 1


def test_last_modified_alone_gives_304(server: FakeGitHubServer, clock: FakeClock) -> None:
    cache = InMemoryEtagCache()
    with make_client(server, clock) as client:
        client.etag_cache = cache
        first = client.get_if_changed(f"{REPO}/pulls/4", scope="s")
        assert not isinstance(first, NotModified) and first.last_modified
        cache.put("s", first.cache_key or "", None, first.last_modified)
        again = client.get_if_changed(f"{REPO}/pulls/4", scope="s")
    assert isinstance(again, NotModified)


# --------------------------------------------------------------------------- primary rate limit


def test_primary_limit_with_short_reset_is_slept(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.set_quota(T1, remaining=0, reset_in=30)
    with make_client(server, clock, max_rate_limit_wait=60) as client:
        response = client.get(REPO)
    assert response.status == 200
    assert len(clock.sleeps) == 1 and 30 <= clock.sleeps[0] <= 32
    assert client.stats.rate_limit_waits == 1
    assert server.count(status=403) == 1 and server.count(status=403, consumed=True) == 0
    assert client.stats.quota_consuming == 1  # the refused request cost nothing


def test_primary_limit_with_long_reset_raises_with_retry_at(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    quota = server.set_quota(T1, remaining=0, reset_in=1800)
    with make_client(server, clock, max_rate_limit_wait=60) as client, pytest.raises(RateLimitError) as info:
        client.get(REPO)
    assert clock.sleeps == []
    assert info.value.retry_at == dt.datetime.fromtimestamp(quota.reset, dt.UTC)
    assert classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT


def test_quota_spent_on_a_200_is_not_retried_blindly(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.set_quota(T1, remaining=1, reset_in=600)
    with make_client(server, clock) as client:
        client.get(REPO)  # answers with X-RateLimit-Remaining: 0
        with pytest.raises(RateLimitError):
            client.get(REPO)
    assert server.count() == 1  # the second call never reached the server


def test_token_rotation_when_quota_runs_out(
    server: FakeGitHubServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server.set_quota(T1, remaining=3, reset_in=3000)
    caplog.set_level(logging.DEBUG, logger="core.operations.github")
    with make_client(server, clock, tokens=(T1, T2), min_remaining=1) as client:
        for _ in range(5):
            client.get(REPO)
        report = {row["token"]: row["remaining"] for row in client.quota_report()}
    assert server.count(token=T1) == 2  # 3 -> 1 hits the floor of 1
    assert server.count(token=T2) == 3
    assert server.count(status=403) == 0
    assert report == {fingerprint(T1): 1, fingerprint(T2): 4997}
    assert client.stats.by_token == {fingerprint(T1): 2, fingerprint(T2): 3}
    assert f"switching to {fingerprint(T2)}" in caplog.text
    assert f"GitHub quota {fingerprint(T1)} core: remaining=1/5000" in caplog.text
    assert_no_secret(caplog.text)


def test_rotation_after_a_primary_limit_refusal(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.set_quota(T1, remaining=0, reset_in=3000)
    server.set_quota(T2, remaining=0, reset_in=4000)
    with make_client(server, clock, tokens=(T1, T2, T3)) as client:
        response = client.get(REPO)
    assert response.token == fingerprint(T3)
    assert [s.status for s in server.served] == [403, 403, 200]
    assert clock.sleeps == []


def test_all_tokens_exhausted_waits_for_the_earliest_reset(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.set_quota(T1, remaining=0, reset_in=50)
    server.set_quota(T2, remaining=0, reset_in=20)
    with make_client(server, clock, tokens=(T1, T2)) as client:
        response = client.get(REPO)
    assert response.token == fingerprint(T2)
    assert len(clock.sleeps) == 1 and 20 <= clock.sleeps[0] <= 22


# --------------------------------------------------------------------------- secondary rate limit


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit_retry_after_is_honored(
    server: FakeGitHubServer, clock: FakeClock, status: int
) -> None:
    server.inject(Fault("secondary", status=status, retry_after=7))
    with make_client(server, clock, jitter=2.0) as client:
        response = client.get(REPO)
    assert response.status == 200
    assert clock.sleeps == [7 + 2.0 * 0.5]  # Retry-After plus jitter
    assert server.count(status=status) == 1


def test_secondary_limit_without_retry_after_uses_default_wait(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.inject(Fault("secondary", status=403))
    with make_client(server, clock, secondary_default_wait=45) as client:
        client.get(REPO)
    assert clock.sleeps == [45]


def test_secondary_limit_too_long_raises_with_retry_at(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("secondary", status=429, retry_after=600))
    start = clock.time()
    with make_client(server, clock) as client, pytest.raises(RateLimitError) as info:
        client.get(REPO)
    assert clock.sleeps == []
    assert info.value.retry_at == dt.datetime.fromtimestamp(start + 600, dt.UTC)


def test_secondary_limit_attempts_are_bounded(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("secondary", status=403, retry_after=1, times=10))
    with make_client(server, clock, secondary_max_retries=2) as client, pytest.raises(RateLimitError):
        client.get(REPO)
    assert server.count() == 3
    assert len(clock.sleeps) == 2


# --------------------------------------------------------------------------- transient failures


def test_5xx_then_success_with_exponential_backoff(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("status", status=500), Fault("status", status=502), Fault("status", status=503))
    with make_client(server, clock, backoff_base=0.5) as client:
        response = client.get(REPO)
    assert response.status == 200
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert client.stats.retries == 3
    assert client.stats.by_status == {500: 1, 502: 1, 503: 1, 200: 1}


def test_5xx_beyond_the_retry_bound_is_a_network_error(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("status", status=502, times=10))
    with make_client(server, clock, transient_max_retries=2) as client, pytest.raises(NetworkError) as info:
        client.get(REPO)
    assert server.count() == 3
    assert "502" in str(info.value) and "/repos/acme/widgets" in str(info.value)
    assert classify_failure(info.value) is CollectorFailureCategory.NETWORK


def test_connection_reset_is_retried(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("reset"))
    with make_client(server, clock) as client:
        assert client.get(REPO).status == 200
    assert client.stats.transport_errors == 1 and len(clock.sleeps) == 1


def test_truncated_body_is_retried(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("truncated"))
    with make_client(server, clock) as client:
        response = client.get(f"{REPO}/issues", {"state": "all"})
    assert len(response.data) == len(server.dataset.repo("acme/widgets").issues)
    assert client.stats.transport_errors == 1
    assert server.count(path=f"{REPO}/issues") == 2


def test_connection_refused_is_a_network_error(clock: FakeClock) -> None:
    srv = FakeGitHubServer(build_dataset("empty"), clock=clock.time).start()
    srv.stop()  # nothing listens on that port any more
    client = make_client(srv, clock, transient_max_retries=1)
    with pytest.raises(NetworkError):
        client.get("/rate_limit")
    assert client.stats.requests == 2


# --------------------------------------------------------------------------- fatal answers


def test_malformed_json_is_a_validation_error_naming_the_endpoint(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.inject(Fault("malformed"))
    with make_client(server, clock) as client, pytest.raises(DataValidationError) as info:
        client.get(f"{REPO}/issues", {"state": "all"})
    assert info.value.source == "/repos/acme/widgets/issues?state=all"
    assert "/repos/acme/widgets/issues" in str(info.value)
    assert server.count() == 1  # not retried


def test_list_endpoint_returning_an_object_is_a_validation_error(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    with make_client(server, clock) as client, pytest.raises(DataValidationError) as info:
        list(client.iter_items(REPO))
    assert "expected a JSON array" in str(info.value)


def test_cross_origin_next_link_is_refused(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("cross_origin_next", path=f"{REPO}/issues"))
    seen: list[int] = []
    with make_client(server, clock) as client, pytest.raises(DataValidationError) as info:
        for item in client.iter_items(f"{REPO}/issues", {"state": "all", "per_page": 2}):
            seen.append(item["number"])
    assert "evil.invalid" in str(info.value) and "another origin" in str(info.value)
    assert seen == []  # the page that carried the bad link is not handed out either
    assert server.count() == 1
    assert classify_failure(info.value) is CollectorFailureCategory.VALIDATION


def test_same_origin_redirect_is_followed_cross_origin_refused(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    repo_id = server.dataset.repo("acme/widgets").id
    server.inject(
        Fault("redirect", status=301, path="/repos/acme/old-name", location=f"/repositories/{repo_id}")
    )
    with make_client(server, clock) as client:
        assert client.get("/repos/acme/old-name").data["full_name"] == "acme/widgets"
        server.inject(Fault("redirect", status=307, path=REPO, location="https://elsewhere.example/repos/x"))
        with pytest.raises(DataValidationError, match="another origin"):
            client.get(REPO)


def test_401_is_an_authentication_error(server: FakeGitHubServer, clock: FakeClock) -> None:
    with (
        make_client(server, clock, tokens=("ghp_" + "Z" * 36,)) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.get(REPO)
    assert "Bad credentials" in str(info.value)
    assert classify_failure(info.value) is CollectorFailureCategory.AUTH
    assert server.count() == 1


def test_403_without_rate_limit_is_permission_denied(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("status", status=403, message="Resource not accessible by personal access token"))
    with make_client(server, clock) as client, pytest.raises(PermissionDeniedError) as info:
        client.get(REPO)
    assert not isinstance(info.value, GitHubNotFoundError)
    assert server.count() == 1


def test_404_is_a_distinct_permission_error(server: FakeGitHubServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client:
        with pytest.raises(GitHubNotFoundError) as info:
            client.get(f"{REPO}/contents/.gitmodules")  # widgets has no submodules
        assert classify_failure(info.value) is CollectorFailureCategory.PERMISSION
        content = client.get("/repos/acme/gadgets/contents/.gitmodules").data
    assert content["encoding"] == "base64" and content["type"] == "file"


def test_422_and_409_are_validation_errors(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.dataset.add_repo("acme", "empty-repo")
    with make_client(server, clock) as client:
        with pytest.raises(DataValidationError, match="No commit found for SHA: deadbeefcafe"):
            client.get(f"{REPO}/commits/deadbeefcafe")
        with pytest.raises(DataValidationError, match="Validation Failed"):
            client.get(f"{REPO}/issues", {"state": "sideways"})
        with pytest.raises(GitHubConflictError, match="Git Repository is empty"):
            client.get("/repos/acme/empty-repo/commits")


# --------------------------------------------------------------------------- secrets


def test_tokens_never_reach_logs_or_exceptions(
    server: FakeGitHubServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    client = make_client(server, clock, tokens=(T1, T2), transient_max_retries=1, min_remaining=1)
    # a misbehaving upstream echoing the credential back in its error text
    server.inject(
        Fault("status", status=500, message=f"proxy failed with Authorization: Bearer {T1}", times=2)
    )
    server.inject(Fault("status", status=400, message=f"bad request for {T2}"))
    server.inject(Fault("secondary", status=429, retry_after=900))
    server.inject(Fault("cross_origin_next"))
    for call in (
        lambda: client.get(REPO),
        lambda: client.get(REPO),
        lambda: client.get(REPO),
        lambda: list(client.iter_items(f"{REPO}/issues", {"state": "all", "per_page": 2})),
    ):
        with pytest.raises(Exception) as info:  # each call fails differently
            call()
        errors.append(info.value)
    server.set_quota(T1, remaining=0, reset_in=5000)
    server.set_quota(T2, remaining=0, reset_in=5000)
    with pytest.raises(RateLimitError) as info:
        client.get(REPO)
    errors.append(info.value)
    with pytest.raises(AuthenticationError) as info:
        make_client(server, clock, tokens=("ghp_" + "Q" * 36,)).get(REPO)
    errors.append(info.value)

    assert [classify_failure(e) for e in errors] == [
        CollectorFailureCategory.NETWORK,
        CollectorFailureCategory.VALIDATION,
        CollectorFailureCategory.RATE_LIMIT,
        CollectorFailureCategory.VALIDATION,
        CollectorFailureCategory.RATE_LIMIT,
        CollectorFailureCategory.AUTH,
    ]
    for exc in errors:
        assert_no_secret(full_text(exc))
        assert "Q" * 36 not in full_text(exc)
    assert "[REDACTED]" in str(errors[0]) and "[REDACTED]" in str(errors[1])
    assert caplog.text  # retries, rotations and quota were logged...
    assert_no_secret(caplog.text)  # ...by fingerprint only
    assert_no_secret(repr(client.config) + repr(list(client.tokens)) + str(client.quota_report()))


# --------------------------------------------------------------------------- building blocks


def test_link_header_parsing_and_request_keys() -> None:
    links = parse_link_header(
        '<https://api.github.com/repositories/1/issues?page=2>; rel="next", '
        '<https://api.github.com/repositories/1/issues?page=5>; rel="last"'
    )
    assert links == {
        "next": "https://api.github.com/repositories/1/issues?page=2",
        "last": "https://api.github.com/repositories/1/issues?page=5",
    }
    assert parse_link_header(None) == {}
    assert (
        request_key("/r/issues", {"state": "all", "since": "x", "page": None})
        == "/r/issues?since=x&state=all"
    )
    assert request_key("/r", {"b": 1}, "a=2") == request_key("/r", {"a": 2, "b": 1})


def test_config_rejects_unsafe_base_urls() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError):
        GitHubClientConfig(base_url="ftp://example.com")
    with pytest.raises(ConfigError):
        GitHubClientConfig(base_url="https://user:pw@example.com")
    assert (
        GitHubClientConfig(base_url="https://ghe.example.com/api/v3/").base_url
        == "https://ghe.example.com/api/v3"
    )
    assert T1 not in repr(GitHubClientConfig(tokens=(T1,)))


# --------------------------------------------------------------------------- real-world headers and bodies


def test_reset_in_milliseconds_is_ignored_and_logged_once(
    server: FakeGitHubServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Some proxies send ``X-RateLimit-Reset`` in milliseconds; debug logging is off here."""
    server.reset_in_milliseconds = True
    caplog.set_level(logging.INFO, logger="core.operations.github")
    with make_client(server, clock) as client:
        for _ in range(3):
            assert client.get(REPO).status == 200
        report = client.quota_report()
    assert report[0]["remaining"] == 4997 and report[0]["reset_at"] is None
    warnings = [r.getMessage() for r in caplog.records if "X-RateLimit-Reset" in r.getMessage()]
    assert len(warnings) == 1 and "ignoring it" in warnings[0]
    assert client.stats.bad_headers == 1


def test_spent_quota_with_millisecond_reset_waits_the_default(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.reset_in_milliseconds = True
    server.set_quota(T1, remaining=0, reset_in=30)
    with make_client(server, clock, max_rate_limit_wait=120) as client:
        assert client.get(REPO).status == 200
    assert clock.sleeps == [61.0]  # unknown reset: assumed 60 s away, plus the 1 s margin


def test_spent_quota_with_millisecond_reset_fails_as_rate_limit(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    server.reset_in_milliseconds = True
    server.set_quota(T1, remaining=0, reset_in=3000)
    start = clock.time()
    with make_client(server, clock, max_rate_limit_wait=30) as client, pytest.raises(RateLimitError) as info:
        client.get(REPO)
    assert classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT
    assert info.value.retry_at == dt.datetime.fromtimestamp(start + 60, dt.UTC)


@pytest.mark.parametrize(
    "overrides",
    [
        {"X-RateLimit-Reset": "soon"},
        {"X-RateLimit-Reset": "-1"},
        {"X-RateLimit-Reset": "99999999999999999999999999"},
        {"X-RateLimit-Reset": "nan"},
        {"X-RateLimit-Remaining": "lots", "X-RateLimit-Limit": "-5"},
        {"X-RateLimit-Used": "1e400"},
    ],
)
def test_unusable_rate_limit_headers_fall_back_to_defaults(
    server: FakeGitHubServer, clock: FakeClock, overrides: dict[str, str]
) -> None:
    server.rate_header_overrides = overrides
    with make_client(server, clock) as client:
        assert client.get(REPO).status == 200
        assert client.get(REPO).status == 200
    assert client.stats.bad_headers == len(overrides)


@pytest.mark.parametrize("retry_after", [10**12, -(10**12)])
def test_absurd_retry_after_uses_the_default_wait(
    server: FakeGitHubServer, clock: FakeClock, retry_after: int
) -> None:
    server.inject(Fault("secondary", status=429, retry_after=retry_after))
    with make_client(server, clock, secondary_default_wait=45) as client:
        assert client.get(REPO).status == 200
    assert clock.sleeps == ([45] if retry_after > 0 else [])  # a past retry time: go now


def test_cut_json_body_with_matching_length_is_retried(server: FakeGitHubServer, clock: FakeClock) -> None:
    """A 200 whose JSON stops half way though Content-Length matches it: a transport fault."""
    server.inject(Fault("cut", path=f"{REPO}/issues"))
    with make_client(server, clock) as client:
        response = client.get(f"{REPO}/issues", {"state": "all"})
    assert len(response.data) == len(server.dataset.repo("acme/widgets").issues)
    assert server.count(path=f"{REPO}/issues") == 2
    assert client.stats.transport_errors == 1 and client.stats.retries == 1 and len(clock.sleeps) == 1


def test_cut_body_that_persists_is_a_network_error(server: FakeGitHubServer, clock: FakeClock) -> None:
    server.inject(Fault("cut", times=10))
    with make_client(server, clock, transient_max_retries=2) as client, pytest.raises(NetworkError) as info:
        client.get(f"{REPO}/issues", {"state": "all"})
    assert server.count() == 3
    assert classify_failure(info.value) is CollectorFailureCategory.NETWORK
    assert "/repos/acme/widgets/issues" in str(info.value) and "stops before its end" in str(info.value)


def test_every_cut_of_a_real_payload_is_truncation_and_garbage_is_not(
    server: FakeGitHubServer, clock: FakeClock
) -> None:
    from core.operations.http.responses import is_truncated_json

    with make_client(server, clock) as client:
        body = client._session.get(f"{server.base_url}{REPO}/issues?state=all&per_page=3").content
    assert b'"body":"' in body
    body = body.replace(
        b'"body":"', '"body":"caf\\u00e9 \\\\ \\" \u00e9\u4e16 '.encode(), 1
    )  # escapes, UTF-8
    assert not is_truncated_json(body)
    misses = [n for n in range(1, len(body)) if not is_truncated_json(body[:n])]
    assert misses == []
    for bad in (b"<html>502</html>", body[:50] + b"\x00<html>", body + b"<html>", b"[1,2]]", b"[1,2}"):
        assert not is_truncated_json(bad)
