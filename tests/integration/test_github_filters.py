"""``filters:`` of the GitHub collector (commit paths, any-of labels) against the fake GitHub.

Real client, real HTTP, real stores (SQLite and PostgreSQL through ``store_url``). The
repository imitates llvm/llvm-project: commits under ``clang/``, ``clang-tools-extra/`` and
``llvm/``, issues and pull requests with and without Clang labels, each with comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

from core.config import load_collectors_file
from core.errors import ConfigError
from github_activity_tracker.config import parse_config
from github_activity_tracker.filters import GitHubFilters
from github_activity_tracker.tables import (
    github_commit_files,
    github_commits,
    github_issue_comments,
    github_issue_labels,
    github_issues,
    github_review_comments,
    github_reviews,
)
from tests.conftest import PROJECT_ROOT
from tests.fakes.github_server import Dataset, FakeClock, FakeGitHubServer, FileChange
from tests.integration.test_github_collector import T1, Harness

REPO = "llvm/llvm-project"
FILTERS = {
    "commit_paths": ["clang/", "clang-tools-extra/", "clang/lib/Sema"],
    "issue_labels_any": ["clang", "clang:*", "clang-tidy"],
}


def llvm_dataset() -> Dataset:
    ds = Dataset()
    ds.add_org("llvm")
    for login in ("alice", "bob", "carol", "dave"):
        ds.user(login)
    ds.add_repo("llvm", "llvm-project", description="The LLVM Project")

    def commit(message: str, *paths: str) -> None:
        ds.add_commit(REPO, message, author="alice", files=[FileChange(p) for p in paths])

    commit("[LLVM] pass manager", "llvm/lib/IR/PassManager.cpp")
    commit("[clang] Sema fix", "clang/lib/Sema/SemaDecl.cpp", "clang/test/Sema/decl.c")
    commit("[clang-tidy] new check", "clang-tools-extra/clang-tidy/NewCheck.cpp")
    commit(
        "[clang][clang-tidy] rename an API",
        "clang/include/clang/AST/Decl.h",
        "clang-tools-extra/clangd/AST.cpp",
    )
    commit("[docs] a file named clang-format in llvm", "llvm/utils/clang-format")
    commit("[LLVM] codegen", "llvm/lib/CodeGen/MachineInstr.cpp")

    sema = ds.add_issue(REPO, "Crash in Sema", user="bob", labels=["clang:frontend", "crash"])
    backend = ds.add_issue(REPO, "Miscompile in X86", user="carol", labels=["backend:X86"])
    tidy = ds.add_issue(REPO, "False positive", user="dave", labels=["Clang-Tidy"])
    plain = ds.add_issue(REPO, "Question about builds", user="dave")
    clang_pr = ds.add_issue(REPO, "[clang] Fix the crash", user="alice", pull=True, labels=["clang"])
    llvm_pr = ds.add_issue(REPO, "[X86] Fix the miscompile", user="carol", pull=True, labels=["backend:X86"])
    for issue in (sema, backend, tidy, plain, clang_pr, llvm_pr):
        ds.add_comment(REPO, issue.number, user="bob", body=f"A comment on #{issue.number}")
    for pr in (clang_pr, llvm_pr):
        review = ds.add_review(REPO, pr.number, user="dave", state="COMMENTED", body="Looks fine")
        ds.add_review_comment(REPO, pr.number, user="dave", body="Nit", review_id=review.id)
    return ds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(llvm_dataset(), tokens={T1: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()
    assert srv.internal_errors == []


@pytest.fixture
def harness(server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(server, clock, store_url, tmp_path)
    made.config = {**made.config, "repositories": [REPO], "filters": FILTERS, "overlap_minutes": 0}
    yield made
    made.store.dispose()


def titles(harness: Harness) -> set[str]:
    return {r["title"] for r in harness.rows(github_issues)}


def comment_parents(harness: Harness) -> set[int]:
    return {r["issue_number"] for r in harness.rows(github_issue_comments)}


def messages(harness: Harness) -> list[str]:
    return sorted(r["message"] for r in harness.rows(github_commits))


def number_of(server: FakeGitHubServer, title: str) -> int:
    return next(i.number for i in server.dataset.repo(REPO).issues.values() if i.title == title)


def test_only_matching_rows_are_stored_and_children_follow_their_parents(
    harness: Harness, server: FakeGitHubServer
) -> None:
    counts = harness.run()

    assert messages(harness) == [
        "[clang-tidy] new check",
        "[clang] Sema fix",
        "[clang][clang-tidy] rename an API",
    ]
    # the commit under both prefixes: one row, its details fetched once, its whole file list kept
    both = next(r for r in harness.rows(github_commits) if r["message"].startswith("[clang][clang-tidy]"))
    assert harness.count(github_commits, github_commits.c.sha == both["sha"]) == 1
    assert server.count(path=f"/repos/{REPO}/commits/{both['sha']}") == 1
    assert {
        r["filename"] for r in harness.rows(github_commit_files, github_commit_files.c.sha == both["sha"])
    } == {
        "clang/include/clang/AST/Decl.h",
        "clang-tools-extra/clangd/AST.cpp",
    }
    # one list per prefix, and clang/lib/Sema (under clang/) adds none
    listed = {
        parse_qs(s.query).get("path", [""])[0] for s in server.served if s.path == f"/repos/{REPO}/commits"
    }
    assert listed == {"clang", "clang-tools-extra"}

    assert titles(harness) == {"Crash in Sema", "False positive", "[clang] Fix the crash"}
    kept = {number_of(server, t) for t in titles(harness)}
    assert comment_parents(harness) == kept
    clang_pr = number_of(server, "[clang] Fix the crash")
    assert {r["pull_number"] for r in harness.rows(github_reviews)} == {clang_pr}
    assert {r["pull_number"] for r in harness.rows(github_review_comments)} == {clang_pr}
    assert harness.issue(clang_pr, REPO)["head_sha"] is not None  # details of a kept pull request
    assert counts["issues_filtered_out"] == 3 and counts["issue_comments_filtered_out"] == 3
    assert counts["review_comments_filtered_out"] == 1
    assert counts["issues"] == 3 and counts["issue_comments"] == 3


def test_unchanged_second_run_costs_no_quota_per_path(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    server.clear_log()
    counts = harness.run()

    assert server.count(consumed=True) == 0, [s for s in server.served if s.consumed_quota]
    assert counts["commits_not_modified"] == 2  # one conditional request per path
    state = harness.state(REPO.lower())
    assert {"commits:clang", "commits:clang-tools-extra"} <= set(state.cursors)
    assert "commits" not in state.cursors


def test_new_commit_under_a_path_is_collected_and_others_are_not(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run()
    ds = server.dataset
    ds.add_commit(
        REPO, "[clang] new diagnostic", author="bob", files=[FileChange("clang/lib/Basic/Diag.cpp")]
    )
    ds.add_commit(REPO, "[LLVM] new pass", author="bob", files=[FileChange("llvm/lib/Passes/New.cpp")])

    harness.run()

    assert "[clang] new diagnostic" in messages(harness)
    assert "[LLVM] new pass" not in messages(harness)


def test_relabelled_issue_is_picked_up_with_its_earlier_comments_and_followed_after_losing_it(
    harness: Harness, server: FakeGitHubServer
) -> None:
    harness.run()
    ds = server.dataset
    backend = number_of(server, "Miscompile in X86")
    llvm_pr = number_of(server, "[X86] Fix the miscompile")
    ds.add_comment(
        REPO, number_of(server, "Crash in Sema"), user="carol", body="Newer comment"
    )  # moves the cursor
    harness.run()
    assert backend not in comment_parents(harness)

    # gains a matching label: the issue, and the comments it had long before, are stored
    ds.add_label(REPO, backend, "clang:codegen")
    ds.add_label(REPO, llvm_pr, "clang")
    counts = harness.run()
    assert "Miscompile in X86" in titles(harness) and "[X86] Fix the miscompile" in titles(harness)
    assert backend in comment_parents(harness) and llvm_pr in comment_parents(harness)
    assert {r["pull_number"] for r in harness.rows(github_review_comments)} >= {llvm_pr}
    assert {r["pull_number"] for r in harness.rows(github_reviews)} >= {llvm_pr}
    assert counts["children_backfill_requests"] == 3  # its comments; the PR's comments and review comments

    # loses it: stays stored, and keeps being followed (labels and new comments)
    ds.remove_label(REPO, backend, "clang:codegen")
    ds.add_comment(REPO, backend, user="dave", body="After the label went")
    harness.run()
    labels = {r["name"] for r in harness.rows(github_issue_labels, github_issue_labels.c.number == backend)}
    assert labels == {"backend:X86"}
    assert harness.issue(backend, REPO)["labels"] == ["backend:X86"]
    bodies = {
        r["body"]
        for r in harness.rows(github_issue_comments, github_issue_comments.c.issue_number == backend)
    }
    assert "After the label went" in bodies


def test_without_filters_everything_is_collected(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run({"filters": {}})
    assert len(messages(harness)) == 6
    assert len(titles(harness)) == 6


# =========================================================================== config


def test_filter_config_is_normalised_and_bad_values_name_the_field() -> None:
    filters = GitHubFilters.model_validate(
        {"commit_paths": ["clang/", "/clang", "clang/lib/Sema", "clang-tools-extra", "llvm/docs/"]}
    )
    assert filters.commit_paths == ("clang", "clang-tools-extra", "llvm/docs")

    with pytest.raises(ConfigError, match=r"config\.filters\.commit_paths: .*'\.\./x'"):
        parse_config({"repositories": [REPO], "filters": {"commit_paths": ["../x"]}})
    with pytest.raises(ConfigError, match=r"config\.filters\.commit_paths: .*got '/'"):
        parse_config({"repositories": [REPO], "filters": {"commit_paths": ["/"]}})
    with pytest.raises(ConfigError, match=r"config\.filters\.issue_labels_any: .*must not be empty"):
        parse_config({"repositories": [REPO], "filters": {"issue_labels_any": ["clang", " "]}})
    with pytest.raises(ConfigError, match=r"config\.filters\.labels: Extra inputs"):
        parse_config({"repositories": [REPO], "filters": {"labels": ["clang"]}})


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["clang"], True),
        (["Clang"], True),
        (["clang:frontend"], True),
        (["clang-tidy"], True),
        (["clangd"], False),
        (["clang-format"], False),
        (["llvm", "clang:codegen"], True),
        ([], False),
        (["[clang]"], True),
        (["c"], False),
    ],
)
def test_label_patterns(labels: list[str], expected: bool) -> None:
    filters = GitHubFilters(issue_labels_any=("clang", "clang:*", "clang-tidy", "[clang]"))  # type: ignore[arg-type]
    assert filters.labels_match(labels) is expected


def test_no_label_filter_matches_everything() -> None:
    assert GitHubFilters().labels_match([]) is True


def test_two_entries_on_one_repository_keep_their_own_validators(
    harness: Harness, server: FakeGitHubServer
) -> None:
    """A filtered entry (``clang``) and an unfiltered one (``github``) read the same repository:
    a newest page the filtered entry saw (and stored nothing of) is not "unchanged" for the other."""
    harness.run(collector_name="clang")
    harness.run({"filters": {}}, collector_name="github")
    server.dataset.add_issue(REPO, "Unlabelled newcomer", user="dave")

    harness.run(collector_name="clang")
    assert "Unlabelled newcomer" not in titles(harness)
    harness.run({"filters": {}}, collector_name="github")
    assert "Unlabelled newcomer" in titles(harness)


def test_the_clang_example_entry_is_valid_and_disabled() -> None:
    entries = load_collectors_file(PROJECT_ROOT / "include" / "collectors.yaml", check_paths=False).collectors
    raw = yaml.safe_load((PROJECT_ROOT / "include" / "collectors.yaml").read_text())["collectors"]["clang"]
    assert entries["clang"].enabled is False
    settings = parse_config(raw["config"])
    assert settings.filters.commit_paths == ("clang", "clang-tools-extra")
    assert settings.filters.labels_match(["clang:frontend"]) and not settings.filters.labels_match(["llvm"])
