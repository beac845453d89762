"""Safe file names for published repositories, and the publish settings' own checks."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import ValidationError

from core.errors import DataValidationError
from core.operations.filenames import check_path, join_path, safe_component, truncate_utf8
from core.operations.github.gitdata import git_blob_sha, is_text
from core.publishing.settings import PublishSettings


def test_forbidden_and_control_characters_become_spaces() -> None:
    assert safe_component('a/b\\c:d*e?f"g<h>i|j') == "a b c d e f g h i j"
    assert safe_component("tab\there\nnew\x00line\u200bzero") == "tab here new line zero"
    assert safe_component("  ...dots and spaces...  ") == "dots and spaces"
    assert safe_component("") == "untitled" and safe_component("???") == "untitled"


def test_nfc_makes_both_spellings_one_name() -> None:
    decomposed = unicodedata.normalize("NFD", "Café résumé")
    assert decomposed != "Café résumé"
    assert safe_component(decomposed) == "Café résumé" == safe_component("Café résumé")
    assert check_path(f"docs/{decomposed}.md") == "docs/Café résumé.md"


def test_length_and_byte_caps_keep_whole_characters() -> None:
    assert len(safe_component("x" * 500)) == 100
    emoji = safe_component("😀" * 100, max_bytes=50)
    assert len(emoji.encode()) <= 50 and emoji == "😀" * 12
    assert truncate_utf8("aé", 2) == "a"
    assert safe_component("word. " * 40, max_chars=30).endswith("word")  # no trailing dot after the cut


def test_reserved_device_names_are_suffixed() -> None:
    assert safe_component("CON") == "CON_" and safe_component("nul.txt") == "nul.txt_"
    assert safe_component("CONSOLE") == "CONSOLE"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/abs.md", "relative"),
        ("a//b.md", "empty"),
        ("a/../b.md", "'..'"),
        ("a/b\x01.md", "forbidden"),
        ("a/" + "x" * 256 + ".md", "over 255 bytes"),
        ("a/" + "é" * 100 + "/" + "b" * 40 + ".md", "over 240 bytes"),
    ],
)
def test_check_path_names_the_problem(path: str, problem: str) -> None:
    with pytest.raises(DataValidationError, match=problem):
        check_path(path)


def test_join_path_drops_empty_parts() -> None:
    assert join_path("", "issues", "2024") == "issues/2024"
    assert join_path("/boost/", "x") == "boost/x"


def test_text_and_binary() -> None:
    assert is_text("ü\n".encode()) and not is_text(b"\x00abc") and not is_text(b"\xff\xfe")
    assert git_blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target", "no-slash"),
        ("target", "a/b/c"),
        ("branch", "feature..x"),
        ("branch", "ends/"),
        ("branch", "x.lock"),
        ("folder_prefix", "a/../b"),
        ("renderer", "not a path"),
        ("max_attempts", 0),
    ],
)
def test_publish_settings_refuse_bad_values(field: str, value: object) -> None:
    raw = {"target": "octo/context", "renderer": "pkg.mod:Cls", field: value}
    with pytest.raises(ValidationError) as caught:
        PublishSettings.model_validate(raw)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_publish_settings_defaults() -> None:
    settings = PublishSettings.model_validate({"target": "octo/context", "renderer": "pkg.mod:Cls"})
    assert settings.connection_id == "github_publish" and settings.branch == "main"
    assert settings.ledger_target == "octo/context@main" and not settings.dry_run
    assert (
        PublishSettings.model_validate(
            {"target": "o/r", "renderer": "p:C", "folder_prefix": "/boost/"}
        ).folder_prefix
        == "boost"
    )
