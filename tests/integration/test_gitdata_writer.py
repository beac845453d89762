"""GitDataWriter against the Git Data wire fake (a real git object store): real HTTP, real client."""

from __future__ import annotations

import itertools
import logging

import pytest

from core.errors import (
    CollectorFailureCategory,
    ConflictError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
)
from core.operations.github import GitHubClient, GitHubClientConfig
from core.operations.github.gitdata import GitDataWriter, git_blob_sha
from tests.fakes.gitdata_server import FakeGitDataServer, git_sha
from tests.fakes.wire import FakeClock, Fault

TOKEN = "ghp_publishTOKEN0123456789abcdefghijklmnop"
REPO = "octo/context"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock):
    with FakeGitDataServer(REPO, token=TOKEN, clock=clock.time) as fake:
        yield fake


def make_writer(server: FakeGitDataServer, clock: FakeClock, **kwargs) -> GitDataWriter:
    config = GitHubClientConfig(
        base_url=server.root,
        tokens=(TOKEN,),
        min_remaining=0,
        jitter=0,
        backoff_base=0,
        max_rate_limit_wait=120,
    )
    client = GitHubClient(config, clock=clock.time, sleep=clock.sleep)
    kwargs.setdefault("write_interval", 0)
    return GitDataWriter(client, REPO, "main", clock=clock.time, sleep=clock.sleep, **kwargs)


def writes(server: FakeGitDataServer) -> int:
    return server.log.count(where=lambda e: e.method != "GET")


def test_blob_sha_is_gits() -> None:
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git_blob_sha(b"") == git_sha("blob", b"")


def test_first_publish_of_1000_text_files_is_one_commit_without_blob_requests(server, clock) -> None:
    files = {f"docs/{i // 100:02d}/file-{i:04d}.md": f"# {i}\n\nbody ü {i}\n".encode() for i in range(1000)}
    before = server.head()
    outcome = make_writer(server, clock).publish(files, message="export 1000")
    assert outcome.commit == server.head() and server.parents(outcome.commit) == [before]
    assert server.log.count("POST", f"/repos/{REPO}/git/blobs") == 0
    assert server.log.count("POST", f"/repos/{REPO}/git/commits") == 1
    assert server.log.count("PATCH") == 1
    published = server.files()
    assert {p: published[p] for p in files} == files
    assert published["README.md"] == b"# context\n"  # untouched files stay
    assert outcome.counts()["files_written"] == 1000


def test_unchanged_publish_sends_no_write(server, clock) -> None:
    files = {"a.md": b"a\n", "dir/b.md": b"b\n"}
    make_writer(server, clock).publish(files, message="first")
    head = server.head()
    server.log.clear()
    outcome = make_writer(server, clock).publish(files, ["gone.md"], message="again")
    assert outcome.commit is None and outcome.head == head == server.head()
    assert writes(server) == 0
    assert outcome.counts()["files_unchanged"] == 2 and outcome.counts()["deletes_skipped"] == 1


def test_retitle_is_one_commit_with_the_add_and_the_delete(server, clock) -> None:
    make_writer(server, clock).publish(
        {"issues/#1 - Old.md": b"one\n", "issues/#2 - Two.md": b"two\n"}, message="m"
    )
    commits = server.commit_count()
    outcome = make_writer(server, clock).publish(
        {"issues/#1 - New.md": b"one, retitled\n"},
        ["issues/#1 - Old.md", "issues/#9 - never existed.md"],
        message="m2",
    )
    assert server.commit_count() == commits + 1
    files = server.files()
    assert "issues/#1 - Old.md" not in files and files["issues/#1 - New.md"] == b"one, retitled\n"
    assert files["issues/#2 - Two.md"] == b"two\n"
    assert outcome.deleted == ("issues/#1 - Old.md",) and outcome.skipped_deletes == 1
    # the stale delete never reached the tree request (the fake answers 422 to it)
    trees = server.log.select("POST", f"/repos/{REPO}/git/trees")
    assert all("never existed" not in e.body.decode() for e in trees)


def test_case_only_rename(server, clock) -> None:
    make_writer(server, clock).publish({"Notes.md": b"x\n"}, message="m")
    make_writer(server, clock).publish({"notes.md": b"x\n"}, ["Notes.md"], message="m2")
    files = server.files()
    assert "notes.md" in files and "Notes.md" not in files


def test_binary_file_goes_as_a_blob(server, clock) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00binary\xff"
    make_writer(server, clock).publish({"img/logo.png": png, "a.md": b"text\n"}, message="m")
    assert server.log.count("POST", f"/repos/{REPO}/git/blobs") == 1
    assert server.files()["img/logo.png"] == png


def test_concurrent_push_during_the_run_is_retried_and_correct(server, clock) -> None:
    server.concurrent_push({"someone/else.md": b"theirs\n"}, before="PATCH")
    outcome = make_writer(server, clock).publish({"mine.md": b"mine\n"}, message="m")
    files = server.files()
    assert files["mine.md"] == b"mine\n" and files["someone/else.md"] == b"theirs\n"
    assert outcome.attempts == 2
    assert server.log.count("PATCH", status=422) == 1 and server.log.count("PATCH", status=200) == 1


def test_branch_that_keeps_moving_is_a_conflict(server, clock) -> None:
    for i in range(3):
        server.concurrent_push({f"x{i}.md": b"x\n"}, before="PATCH")
    with pytest.raises(ConflictError) as caught:
        make_writer(server, clock, max_attempts=3).publish({"mine.md": b"mine\n"}, message="m")
    assert classify_failure(caught.value) is CollectorFailureCategory.CONFLICT
    assert "mine.md" not in server.files()


def test_crash_between_commit_and_ref_update_converges_next_run(server, clock) -> None:
    server.inject(Fault(disconnect="close", method="PATCH"))
    head = server.head()
    with pytest.raises(Exception) as caught:
        make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert classify_failure(caught.value) is CollectorFailureCategory.NETWORK
    assert server.head() == head  # the commit exists, the branch never moved
    outcome = make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert outcome.commit == server.head() and server.files()["a.md"] == b"a\n"
    assert server.parents(server.head()) == [head]


def test_lost_answer_to_a_ref_update_that_landed_is_success(server, clock) -> None:
    server.inject(Fault(status=None, method="PATCH", disconnect="mid_body"))
    outcome = make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert outcome.commit == server.head() and server.log.count("PATCH") == 1


def test_transient_failures_of_content_addressed_writes_are_retried(server, clock) -> None:
    server.inject(Fault(status=502, method="POST", path=f"/repos/{REPO}/git/trees"))
    server.inject(Fault(status=500, method="POST", path=f"/repos/{REPO}/git/commits"))
    make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert server.files()["a.md"] == b"a\n"
    assert server.log.count("POST", f"/repos/{REPO}/git/trees") == 2


def test_ref_update_is_not_blindly_repeated(server, clock) -> None:
    server.inject(Fault(status=500, method="PATCH"))
    with pytest.raises(Exception) as caught:
        make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert classify_failure(caught.value) is CollectorFailureCategory.NETWORK
    assert server.log.count("PATCH") == 1


def test_secondary_limit_waits_retry_after_then_goes_on(server, clock) -> None:
    server.secondary_limit(retry_after=30, path="trees")
    start = clock.time()
    make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert server.files()["a.md"] == b"a\n"
    assert 30 <= clock.time() - start < 40


def test_long_secondary_limit_is_a_rate_limit_error_with_retry_at(server, clock) -> None:
    server.secondary_limit(retry_after=900, path="trees")
    head = server.head()
    with pytest.raises(RateLimitError) as caught:
        make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert caught.value.retry_at is not None
    assert caught.value.retry_at.timestamp() >= clock.time() + 899
    assert server.head() == head


def test_content_creating_requests_are_paced(server, clock) -> None:
    png = b"\x00\x01"
    make_writer(server, clock, write_interval=1.0).publish({"a.bin": png, "b.md": b"b\n"}, message="m")
    stamps = [e.at for e in server.log if e.method != "GET"]
    assert len(stamps) == 4  # blob, tree, commit, ref
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(stamps))


def test_large_plans_are_chained_tree_requests_under_the_body_cap(server, clock) -> None:
    files = {f"f{i:03d}.md": (f"{i}" * 500).encode() for i in range(300)}
    outcome = make_writer(server, clock, max_tree_request_bytes=20_000).publish(files, message="m")
    trees = server.log.select("POST", f"/repos/{REPO}/git/trees")
    assert len(trees) == outcome.tree_requests > 5
    assert all(len(e.body) <= 20_000 + 200 for e in trees)
    assert server.log.count("POST", f"/repos/{REPO}/git/commits") == 1
    assert {p: server.files()[p] for p in files} == files


def test_truncated_tree_lists_only_the_directories_at_stake(clock) -> None:
    with FakeGitDataServer(REPO, token=TOKEN, clock=clock.time, truncate_above=50) as server:
        seeded = {f"other/{i}/x.md": b"x\n" for i in range(40)}
        seeded |= {f"issues/2024/{i:03d}.md": b"old\n" for i in range(40)}
        server.seed(seeded)
        outcome = make_writer(server, clock).publish(
            {"issues/2024/000.md": b"old\n", "issues/2024/001.md": b"new\n"},
            ["issues/2024/002.md"],
            message="m",
        )
        assert outcome.written == ("issues/2024/001.md",) and outcome.deleted == ("issues/2024/002.md",)
        listed = [
            e for e in server.log.select("GET", f"/repos/{REPO}/git/trees") if "recursive" not in e.query
        ]
        assert len(listed) == 3  # root, issues, issues/2024: never other/*
        files = server.files()
        assert "issues/2024/002.md" not in files and len([p for p in files if p.startswith("other/")]) == 40


def test_dry_run_plans_and_writes_nothing(server, clock) -> None:
    outcome = make_writer(server, clock).publish({"a.md": b"a\n"}, message="m", dry_run=True)
    assert outcome.dry_run and outcome.commit is None and outcome.written == ("a.md",)
    assert writes(server) == 0


def test_token_never_in_logs_or_errors(server, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject(Fault(status=500, method="PATCH", body=f'{{"message": "token {TOKEN} echoed"}}'))
    with pytest.raises(Exception) as caught:
        make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert TOKEN not in str(caught.value) and TOKEN not in sanitize_exception_message(caught.value)
    assert TOKEN not in caplog.text and TOKEN[:12] not in caplog.text
    assert all(e.header("Authorization") == f"Bearer {TOKEN}" for e in server.log)  # sent to the server only


def test_missing_branch_names_it(server, clock) -> None:
    writer = make_writer(server, clock)
    writer.branch = "nope"
    with pytest.raises(Exception, match="branch 'nope' of octo/context not found") as caught:
        writer.publish({"a.md": b"a\n"}, message="m")
    assert classify_failure(caught.value) is CollectorFailureCategory.PERMISSION


def test_malformed_tree_answer_is_a_validation_error_naming_the_field(server, clock) -> None:
    server.inject(
        Fault(status=None, method="GET", contains="/git/trees/", body=b'{"sha": "x", "tree": [{"path": 1}]}')
    )
    head = server.head()
    with pytest.raises(Exception) as caught:
        make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert classify_failure(caught.value) is CollectorFailureCategory.VALIDATION
    assert "$.tree.0" in str(caught.value) and "/git/trees/" in str(caught.value)
    assert server.head() == head and writes(server) == 0


def test_tree_answer_cut_short_is_read_again(server, clock) -> None:
    server.inject(Fault(status=None, method="GET", contains="/git/trees/", body=lambda b: b[: len(b) // 2]))
    make_writer(server, clock).publish({"a.md": b"a\n"}, message="m")
    assert server.files()["a.md"] == b"a\n"
    assert server.log.count("GET", f"/repos/{REPO}/git/trees/") == 2


class CountingContent:
    """A Content kept "elsewhere" that counts how often its bytes are read."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.sha = git_blob_sha(data)
        self.reads = 0

    def read(self) -> bytes:
        self.reads += 1
        return self._data


def test_stored_contents_are_read_only_to_send_them(server, clock) -> None:
    make_writer(server, clock).publish({"same.md": b"same\n"}, message="m")
    same, changed = CountingContent(b"same\n"), CountingContent(b"new\n")
    outcome = make_writer(server, clock).publish({"same.md": same, "new.md": changed}, message="m2")
    assert outcome.written == ("new.md",) and same.reads == 0 and changed.reads == 1
    assert server.files()["new.md"] == b"new\n"
