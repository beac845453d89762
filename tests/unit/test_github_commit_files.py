"""Commit file lists from git: diff-tree parsing, token handling, failures sanitized."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from github_activity_tracker.commit_files import GitCommitCache, GitError, parse_diff_tree

TOKEN = "ghp_" + "k9J8h7G6f5D4s3A2q1W0" * 2


def test_parse_diff_tree_merges_numstat_and_status() -> None:
    numstat = "3\t0\tsrc/a.cpp\x000\t0\t\x00README\x00README.md\x00-\t-\tlogo.png\x001\t4\tgone.txt\x00"
    status = "A\0src/a.cpp\0R100\0README\0README.md\0M\0logo.png\0D\0gone.txt\0"
    files = {f.filename: f for f in parse_diff_tree(numstat, status)}
    assert set(files) == {"src/a.cpp", "README.md", "logo.png", "gone.txt"}
    assert (files["src/a.cpp"].status, files["src/a.cpp"].additions, files["src/a.cpp"].changes) == (
        "added",
        3,
        3,
    )
    assert files["README.md"].status == "renamed" and files["README.md"].previous_filename == "README"
    assert (files["logo.png"].additions, files["logo.png"].deletions) == (0, 0)  # binary
    assert (files["gone.txt"].status, files["gone.txt"].deletions) == ("removed", 4)
    assert parse_diff_tree("", "") == []


def test_token_reaches_git_only_for_the_github_host(tmp_path: Path) -> None:
    cache = GitCommitCache(tmp_path, tokens=[TOKEN], auth_host="github.com")
    env = cache._env("https://github.com/boostorg/json.git")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    header = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: Basic ")
    assert base64.b64decode(header).decode() == f"x-access-token:{TOKEN}"
    for other in ("https://gitlab.com/x/y.git", "http://github.com/x/y.git", "file:///tmp/x.git"):
        assert "GIT_CONFIG_COUNT" not in cache._env(other)


def test_git_failure_is_sanitized(tmp_path: Path) -> None:
    cache = GitCommitCache(tmp_path, tokens=[TOKEN], auth_host="127.0.0.1", timeout=30)
    if not cache.available:
        pytest.skip("git is not installed")
    with pytest.raises(GitError) as caught:
        cache.diff_files(f"https://x-access-token:{TOKEN}@127.0.0.1:9/acme/widgets.git", "a" * 40)
    text = str(caught.value)
    assert "git fetch failed" in text
    assert TOKEN not in text and base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode() not in text
    with pytest.raises(GitError, match="not a commit sha"):
        cache.diff_files("file:///nowhere.git", "HEAD; rm -rf /")


def test_cache_paths_are_distinct_and_safe(tmp_path: Path) -> None:
    cache = GitCommitCache(tmp_path)
    first = cache.path_for("https://github.com/boostorg/json.git")
    second = cache.path_for("https://github.com/boostorg/json")
    assert first != second and first.parent == tmp_path and second.parent == tmp_path
    assert first.name.startswith("github.com_boostorg_json.git")
