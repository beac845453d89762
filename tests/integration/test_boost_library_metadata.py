"""The Boost library tracker's parsers on the shapes real files take: libraries.json entries,
maintainer addresses, C++ standards, .gitmodules URLs, release tags (no I/O)."""

from __future__ import annotations

import json

import pytest

from boost_library_tracker.gitmodules import parse_gitmodules
from boost_library_tracker.metadata import MAX_ENTRIES, Person, parse_libraries_json, parse_person
from boost_library_tracker.versions import parse_stable_tag


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("Marshall Clow <mclow.lists -at- gmail.com>", Person("Marshall Clow", "mclow.lists@gmail.com")),
        ("Peter Dimov <pdimov -at- gmail -dot- com>", Person("Peter Dimov", "pdimov@gmail.com")),
        ("Jane Doe <jane (at) example (dot) org>", Person("Jane Doe", "jane@example.org")),
        ("Ion Gaztanaga <IGAZTANAGA@gmail.com>", Person("Ion Gaztanaga", "igaztanaga@gmail.com")),
        ("vinnie.falco@gmail.com", Person("vinnie.falco", "vinnie.falco@gmail.com")),
        ("Brandon  Kohn", Person("Brandon Kohn", None)),
        ("Someone <not an address>", Person("Someone", None)),
        ("<only -at- address.org>", Person("only", "only@address.org")),
    ],
)
def test_maintainers_in_every_form(text: str, person: Person) -> None:
    assert parse_person(text) == person


@pytest.mark.parametrize(
    ("fields", "standard"),
    [
        ({"cxxstd": "11"}, "C++11"),
        ({"cxxstd": 14}, "C++14"),
        ({"cxxstd": "98"}, "C++98"),
        ({"std": ["C++17", "c++11"]}, "C++11"),
        ({"std": "C++20"}, "C++20"),
        ({"std": ["proposal"]}, None),
        ({}, None),
    ],
)
def test_the_minimum_standard_from_cxxstd_or_std(fields: dict, standard: str | None) -> None:
    [meta], problems = parse_libraries_json(json.dumps({"key": "k", "name": "K", **fields}).encode())
    assert problems == [] and meta.cxxstd == standard


def test_bad_entries_are_named_and_the_good_ones_kept() -> None:
    raw = json.dumps(
        [
            {"key": "good", "name": "Good", "description": None, "category": None},
            {"name": "No key"},
            "not an object",
            {"key": "good", "name": "Again"},
            {"key": "bad key!", "name": "Spaces"},
            {"key": "typed", "name": "Typed", "authors": [1, 2]},
        ]
    ).encode()
    metas, problems = parse_libraries_json(raw)
    assert [m.key for m in metas] == ["good"] and metas[0].description == "" and metas[0].categories == ()
    assert [p.location for p in problems] == ["$[1].key", "$[2]", "$[3].key", "$[4].key", "$[5].authors.0"]
    assert "duplicate key 'good'" in str(problems[2])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not JSON"),
        (b'"a string"', "expected an object or a list, got str"),
        (
            json.dumps([{"key": f"k{i}", "name": "n"} for i in range(MAX_ENTRIES + 1)]).encode(),
            "entries (at most",
        ),
    ],
)
def test_an_unusable_file_is_one_problem(raw: bytes, message: str) -> None:
    metas, problems = parse_libraries_json(raw)
    assert metas == [] and len(problems) == 1 and message in str(problems[0])


def test_content_hash_follows_content_only() -> None:
    one = parse_libraries_json(b'{"key": "k", "name": "K", "description": "a  b"}')[0][0]
    same = parse_libraries_json(b'{"name": "K", "key": "k", "description": "a b", "extra": 1}')[0][0]
    other = parse_libraries_json(b'{"key": "k", "name": "K", "description": "a c"}')[0][0]
    assert one.content_hash() == same.content_hash() != other.content_hash()


def test_gitmodules_relative_absolute_and_ssh_urls() -> None:
    text = """
[submodule "system"]
\tpath = libs/system
\turl = ../system.git
\tfetchRecurseSubmodules = on-demand
[submodule "numeric_conversion"]
\tpath = libs/numeric/conversion
\turl = ../numeric_conversion.git
[submodule "fork"]
\tpath = libs/fork/
\turl = https://github.com/someone/fork.git
[submodule "ssh"]
\tpath = libs/ssh
\turl = git@github.com:boostorg/ssh.git
[submodule "nopath"]
\turl = ../nopath.git
[submodule "escape"]
\tpath = libs/escape
\turl = ../../../etc/passwd
[submodule "deep"]
\tpath = libs/deep
\turl = https://example.org/group/sub/deep.git
"""
    assert parse_gitmodules(text, "boostorg/boost") == {
        "libs/system": "boostorg/system",
        "libs/numeric/conversion": "boostorg/numeric_conversion",
        "libs/fork": "someone/fork",
        "libs/ssh": "boostorg/ssh",
    }


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("boost-1.86.0", "1.86.0"),
        ("boost-1.16.1", "1.16.1"),
        ("boost-1.16.0", None),
        ("boost-1.87.0.beta1", None),
        ("boost-1.87.0-rc1", None),
        ("boost-1.87", None),
        ("develop", None),
    ],
)
def test_stable_release_tags(tag: str, version: str | None) -> None:
    assert parse_stable_tag(tag) == version
