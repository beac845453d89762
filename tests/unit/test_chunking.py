"""Chunker: size limits, overlap, coverage, determinism, and what counts as an empty chunk."""

from __future__ import annotations

import itertools
import re

import pytest

from core.vectors.chunking import Chunker, ChunkingConfig, ChunkResult, has_content

PROSE = " ".join(
    f"Sentence number {i} explains how the executor schedules the completion handler on the strand."
    for i in range(60)
)


def test_defaults() -> None:
    assert ChunkingConfig() == ChunkingConfig(chunk_size=1200, chunk_overlap=150, min_chunk_chars=40)
    assert Chunker().config == ChunkingConfig()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunk_size": 0},
        {"chunk_size": 100, "chunk_overlap": 100},
        {"chunk_overlap": -1},
        {"min_chunk_chars": -1},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ChunkingConfig(**kwargs)


def test_short_text_is_one_chunk() -> None:
    text = "The build fails on MSVC 19.38 when coroutines are enabled; see the attached log."
    assert Chunker().split(text) == ChunkResult(chunks=[text], dropped=0)


def test_long_text_respects_size_covers_everything_and_overlaps() -> None:
    # Overlap is made of whole units at the level the text was cut (here ~92-char sentences).
    config = ChunkingConfig(chunk_size=300, chunk_overlap=100)
    chunks = Chunker(config).split(PROSE).chunks

    assert len(chunks) > 10
    assert all(len(c) <= 300 for c in chunks)
    for i in range(60):
        assert any(f"Sentence number {i} " in c for c in chunks), i
    overlapping = 0
    for left, right in itertools.pairwise(chunks):
        first_sentence = right.split(".")[0]
        overlapping += first_sentence in left
    assert overlapping >= len(chunks) // 2


def test_no_overlap_means_disjoint_chunks() -> None:
    chunks = Chunker(ChunkingConfig(chunk_size=300, chunk_overlap=0)).split(PROSE).chunks
    numbers = [int(n) for c in chunks for n in re.findall(r"Sentence number (\d+) ", c)]
    assert numbers == list(range(60))


def test_same_text_gives_same_chunks() -> None:
    text = (PROSE + "\n\n```cpp\nint main() { return 0; }\n```\n\n") * 5 + "ビルドが失敗します。" * 200
    config = ChunkingConfig(chunk_size=250, chunk_overlap=40)
    first = Chunker(config).split(text)
    assert Chunker(config).split(text) == first
    assert Chunker(config).split(text) == first


def test_cuts_prefer_paragraphs_and_keep_a_fitting_code_block_whole() -> None:
    code = "```python\nfor item in queue:\n    process(item)\n```"
    text = "\n\n".join([PROSE[:500], code, PROSE[:500]])
    chunks = Chunker(ChunkingConfig(chunk_size=600, chunk_overlap=0)).split(text).chunks
    assert any(code in c for c in chunks)
    assert not any(c.endswith("```python") for c in chunks)


def test_unbroken_text_is_still_cut_to_size() -> None:
    blob = "QUJDRE" * 1000
    chunks = Chunker(ChunkingConfig(chunk_size=500, chunk_overlap=50)).split(blob).chunks
    assert all(len(c) <= 500 for c in chunks)
    assert "".join(chunks).replace("\n", "").startswith("QUJDRE" * 10)
    assert len(chunks) >= 12


def test_cjk_text_is_cut_to_size() -> None:
    text = "ビルドが失敗します。コンパイラのバージョンを確認してください。" * 100
    chunks = Chunker(ChunkingConfig(chunk_size=200, chunk_overlap=20)).split(text).chunks
    assert chunks
    assert all(len(c) <= 200 for c in chunks)


def test_markup_only_and_short_chunks_are_dropped_and_counted() -> None:
    config = ChunkingConfig(chunk_size=50, chunk_overlap=0, min_chunk_chars=10)
    text = "\n\n".join(
        [
            "```python\n```",
            "---",
            "> ",
            "***  ---  ...  !!!",
            "A real paragraph about the failing linker step.",
            "ok",
        ]
    )
    result = Chunker(config).split(text)
    assert result == ChunkResult(chunks=["A real paragraph about the failing linker step."], dropped=2)


def test_empty_and_whitespace_text() -> None:
    assert Chunker().split("") == ChunkResult(chunks=[], dropped=0)
    assert Chunker().split(" \n\n\t ").chunks == []


def test_short_message_is_dropped_by_default_but_kept_with_zero_minimum() -> None:
    assert Chunker().split("thanks, fixed!") == ChunkResult(chunks=[], dropped=1)
    kept = Chunker(ChunkingConfig(min_chunk_chars=0)).split("thanks, fixed!")
    assert kept == ChunkResult(chunks=["thanks, fixed!"], dropped=0)


def test_url_only_chunk_is_content() -> None:
    url = "https://github.com/boostorg/beast/issues/2871#issuecomment-1234567890"
    assert Chunker().split(url).chunks == [url]


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ("```", False),
        ("```cpp\n```", False),
        ("~~~\n~~~", False),
        ("---", False),
        ("> ", False),
        ("| --- | --- |", False),
        ("```cpp\nint x;\n```", True),
        ("héllo", True),
        ("42", True),
    ],
)
def test_has_content(chunk: str, expected: bool) -> None:
    assert has_content(chunk) is expected


_EDGES = ["", " ", "\n", "\t", "\x1c", "\x85", "\xa0", "\u2003", "\u3000", "\u200b", "\ufeff", "a", "."]


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "  padded both ends \n",
        "\x1cfile separator\x1c",  # whitespace to Python, not to the splitter's trim: no shortcut
        "**alice** (2026-03-01 10:00): hi\n\n> reply: **bob** (2026-03-01 10:01): (no text)",
        "x" * 1200,
        "x" * 1199 + " ",
        "x" * 1201,
        "word " * 240 + "end",
        "é" * 1200,
        "e\u0301" * 600,
        "👍" * 1200,
        *(f"{head}middle text of a message{tail}" for head, tail in itertools.product(_EDGES, repeat=2)),
    ],
)
def test_text_near_one_chunk_gives_what_the_splitter_gives(text: str) -> None:
    """Documents that fit one chunk skip the splitter; the chunks must be the splitter's, exactly."""
    from semantic_text_splitter import TextSplitter

    config = ChunkingConfig(min_chunk_chars=0)
    splitter = TextSplitter(config.chunk_size, overlap=config.chunk_overlap, trim=True)
    expected = [c for c in splitter.chunks(text) if has_content(c)]
    assert Chunker(config).split(text).chunks == expected
