"""GitHub tracker config: repositories, connection fields, tokens, .gitmodules parsing."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError
from github_activity_tracker.config import (
    ALL_STREAMS,
    html_host,
    normalize_repo,
    parse_config,
    parse_gitmodules,
    resolve_connection,
)

BOOST_GITMODULES = """\
[submodule "system"]
	path = libs/system
	url = ../system.git
	fetchRecurseSubmodules = on-demand
	branch = .
[submodule "multi_array"]
	path = libs/multi_array
	url = ../multi_array.git
[submodule "tools/build"]
	path = tools/build
	url = https://github.com/boostorg/build.git
[submodule "elsewhere"]
	path = ext/x
	url = https://gitlab.com/someone/x.git
[submodule "ssh"]
	path = ext/y
	url = git@github.com:someone-else/y.git
[submodule "dup"]
	path = libs/system2
	url = https://github.com/boostorg/System
"""


def test_defaults_and_normalized_repositories() -> None:
    config = parse_config({"repositories": ["boostorg/json", "https://github.com/boostorg/url.git"]})
    assert config.repositories == ["boostorg/json", "boostorg/url"]
    assert tuple(config.streams) == ALL_STREAMS
    assert config.overlap_minutes == 10 and config.per_page == 100
    assert config.connection_id == "github_default"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"repositories": ["not-a-repo"]}, "config.repositories.0"),
        ({"repositories": ["a/b"], "per_page": 500}, "config.per_page"),
        ({"repositories": ["a/b"], "streams": ["issues", "wiki"]}, "config.streams.1"),
        ({"repositories": ["a/b"], "streams": ["commit_files"]}, "commit_files needs stream commits"),
        ({}, "list at least one of repositories, orgs, superprojects"),
        ({"orgs": ["bad org"]}, "config.orgs"),
        ({"repositories": ["a/b"], "surprise": 1}, "config.surprise"),
        ({"repositories": ["a/b"], "vectors": {"sink": "nowhere"}}, "config.vectors.sink"),
    ],
)
def test_invalid_config_names_the_field(raw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert field in str(caught.value)


def test_normalize_repo_rejects_paths() -> None:
    assert normalize_repo(" boostorg/json.git ") == "boostorg/json"
    for bad in ("boostorg", "a/b/c", "a/..", ""):
        with pytest.raises(ValueError):
            normalize_repo(bad)


def test_connection_host_and_tokens() -> None:
    conn = resolve_connection(
        {"host": "https://ghe.example.com/api/v3/", "password": "tok-one, tok-two\ntok-three", "extra": {}},
        conn_id="github_default",
    )
    assert conn.base_url == "https://ghe.example.com/api/v3"
    assert conn.tokens == ("tok-one", "tok-two", "tok-three")
    assert "tok-one" not in repr(conn) and "tok-one" not in str(conn)


def test_connection_defaults_to_github_com_and_reads_extra_tokens() -> None:
    conn = resolve_connection(
        {"host": None, "password": "a1", "extra": {"tokens": ["b2", "a1", "c3"]}}, conn_id="github_default"
    )
    assert conn.base_url == "https://api.github.com"
    assert conn.tokens == ("a1", "b2", "c3")


def test_connection_host_without_scheme_uses_port_and_schema() -> None:
    conn = resolve_connection(
        {
            "host": "ghe.local",
            "port": 8443,
            "schema": "api/v3",
            "password": "x",
            "extra": '{"scheme": "https"}',
        },
        conn_id="gh",
    )
    assert conn.base_url == "https://ghe.local:8443/api/v3"


def test_connection_from_environment_json_and_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT",
        json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9999", "password": "t1,t2"}),
    )
    conn = resolve_connection(None, conn_id="github_default")
    assert conn.base_url == "http://127.0.0.1:9999" and conn.tokens == ("t1", "t2")
    monkeypatch.setenv("AIRFLOW_CONN_GH_URI", "https://:secret-token@ghe.example.com/api%2Fv3")
    conn = resolve_connection(None, conn_id="gh_uri")
    assert conn.base_url == "https://ghe.example.com/api/v3" and conn.tokens == ("secret-token",)


def test_github_token_is_the_last_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", "from-env")
    assert resolve_connection(None, conn_id="github_default").tokens == ("from-env",)


def test_connection_refuses_credentials_in_the_url_and_bad_hosts() -> None:
    with pytest.raises(ConfigError, match="password field") as caught:
        resolve_connection({"host": "https://user:pw@api.github.com", "extra": {}}, conn_id="gh")
    assert "pw@" not in str(caught.value)
    with pytest.raises(ConfigError, match="host must be the API base URL"):
        resolve_connection({"host": "ftp://x", "extra": {}}, conn_id="gh")
    with pytest.raises(ConfigError, match="extra"):
        resolve_connection({"host": "", "extra": "{not json"}, conn_id="gh")


def test_web_host_of_the_api() -> None:
    assert html_host("https://api.github.com") == "github.com"
    assert html_host("https://ghe.example.com/api/v3") == "ghe.example.com"


def test_boost_style_gitmodules() -> None:
    repos = parse_gitmodules(BOOST_GITMODULES, superproject="boostorg/boost")
    assert repos == ["boostorg/system", "boostorg/multi_array", "boostorg/build", "someone-else/y"]


def test_gitmodules_of_an_enterprise_host_and_nested_relative_urls() -> None:
    text = '[submodule "a"]\n\turl = ../../team/a.git\n[submodule "b"]\n\turl = https://ghe.example.com/x/b\n'
    assert parse_gitmodules(text, superproject="org/super", host="ghe.example.com") == ["team/a", "x/b"]


def test_unparseable_gitmodules_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"boostorg/boost/\.gitmodules"):
        parse_gitmodules('[submodule "a"\nurl', superproject="boostorg/boost")
