"""Bounds that keep one bad input cheap: the export reader's nesting limit (exact, whatever the
read boundaries and the strings in between) and the chunker's document cap and segments."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from core.errors import DataValidationError
from core.vectors.chunking import SEGMENT_CHARS, Chunker, ChunkingConfig, _segments
from discord_activity_tracker.export_reader import MAX_DEPTH, _DepthGuard, validate_export

# Strings full of what a depth counter could trip over: brackets, escaped quotes, backslashes
# (also right before a closing quote), unicode escapes.
TRICKY = ["[[{{", "]]}}", 'say \\"[\\"', "C:\\\\", "\\\\", '\\\\\\"]', "\\u005b\\u007b", '{\\"a\\": [1]}']


def _document(levels: int) -> bytes:
    text = '"x"'
    for level in range(levels - 1):
        key = TRICKY[level % len(TRICKY)]
        text = f'{{"{key}": [{text}, "{TRICKY[(level + 3) % len(TRICKY)]}"]}}' if level % 2 else f"[{text}]"
    return ("{" + f'"k": {text}' + "}").encode()


def _true_depth(data: bytes) -> int:
    deepest = 0

    def walk(value: object, depth: int) -> None:
        nonlocal deepest
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            for child in value.values() if isinstance(value, dict) else value:
                walk(child, depth + 1)

    walk(json.loads(data), 1)
    return deepest


@pytest.mark.parametrize("levels", [5, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_the_guard_counts_exactly_whatever_the_read_boundaries(levels: int) -> None:
    data = _document(levels)
    depth = _true_depth(data)
    for cut in range(len(data) + 1):
        for second_cut in (cut, min(cut + 1, len(data)), min(cut + 7, len(data))):
            guard = _DepthGuard(MAX_DEPTH)
            hits = [guard.feed(part) for part in (data[:cut], data[cut:second_cut], data[second_cut:])]
            assert guard.depth == 0
            if depth <= MAX_DEPTH:
                assert hits == [None, None, None], (cut, second_cut)
            else:
                assert any(hit is not None for hit in hits), (cut, second_cut)


def test_a_file_exactly_at_the_limit_loads_and_one_level_more_is_rejected(tmp_path: Path) -> None:
    def export(extra_levels: int) -> str:
        # root (1), messages (2), message (3), embeds (4), embed (5), then nested arrays
        nested = "[" * extra_levels + "]" * extra_levels
        message = (
            '{"id": "1", "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00", '
            '"content": "[[[[ \\" {{{{", "author": {"id": "2", "name": "a"}, '
            f'"embeds": [{{"deep": {nested}}}]}}'
        )
        return f'{{"guild": {{"id": "0", "name": "g"}}, "channel": {{"id": "3", "type": "t", "name": "c"}}, "messages": [{message}]}}'

    at_limit = tmp_path / "at.json"
    at_limit.write_text(export(MAX_DEPTH - 5))
    assert validate_export(at_limit).message_count == 1
    beyond = tmp_path / "beyond.json"
    beyond.write_text(export(MAX_DEPTH - 4))
    with pytest.raises(DataValidationError) as caught:
        validate_export(beyond)
    assert caught.value.location == "messages[0].embeds[0].deep" + "[0]" * (MAX_DEPTH - 6)
    assert f"nested deeper than {MAX_DEPTH} levels" in str(caught.value)


# --------------------------------------------------------------------------- chunking


def test_text_beyond_the_cap_is_cut_and_the_cut_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = ChunkingConfig(max_document_chars=10_000)
    text = "word " * 5_000  # 25,000 characters
    with caplog.at_level(logging.WARNING, logger="core.vectors.chunking"):
        result = Chunker(config).split(text, doc_id="discord:42")
    assert result.cut_chars == 15_000
    assert "discord:42" in caplog.text and "15000 cut off" in caplog.text
    assert sum(len(chunk) for chunk in result.chunks) < 10_000 + 20 * config.chunk_overlap
    assert Chunker(config).split(text[:10_000]).chunks == result.chunks


def test_text_within_the_cap_is_not_cut_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="core.vectors.chunking"):
        result = Chunker().split("word " * 1000)
    assert result.cut_chars == 0 and not caplog.records


def test_the_cap_cannot_be_below_the_chunk_size() -> None:
    with pytest.raises(ValueError, match="max_document_chars"):
        ChunkingConfig(chunk_size=1200, max_document_chars=1000)


def test_segments_rejoin_to_the_text_and_end_at_line_breaks_or_spaces() -> None:
    text = "".join(f"line {i} " + ("x" * (i % 50)) + ("\n" if i % 7 else " ") for i in range(20_000))
    pieces = _segments(text)
    assert "".join(pieces) == text and len(pieces) > 1
    assert all(len(piece) <= SEGMENT_CHARS for piece in pieces)
    assert all(piece.endswith(("\n", " ")) for piece in pieces[:-1])
    one_line = "y" * (SEGMENT_CHARS * 2 + 5)  # no break at all: cut at the size
    assert [len(p) for p in _segments(one_line)] == [SEGMENT_CHARS, SEGMENT_CHARS, 5]


def test_a_huge_one_line_message_is_chunked_segment_by_segment() -> None:
    """What made the vector step stall (a 2 MB message without line breaks) is chunked in
    segments; the chunks are those of the segments, in order."""
    text = " ".join(f"token{i}" for i in range(60_000))  # ~470,000 characters, one line
    chunker = Chunker()
    result = chunker.split(text)
    expected = [chunk for piece in _segments(text) for chunk in chunker.split(piece).chunks]
    assert result.chunks == expected and result.cut_chars == 0
    assert result.chunks[0].startswith("token0 ") and result.chunks[-1].endswith("token59999")


def test_documents_up_to_a_segment_are_chunked_as_before() -> None:
    from semantic_text_splitter import TextSplitter

    text = ("The executor schedules the handler. " * 40 + "\n\n") * 30  # < SEGMENT_CHARS
    assert len(text) < SEGMENT_CHARS
    plain = TextSplitter(1200, overlap=150, trim=True).chunks(text)
    assert Chunker().split(text).chunks == plain
