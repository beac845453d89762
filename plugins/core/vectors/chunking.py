"""Split document text into overlapping chunks for embedding, dropping chunks with no content.

Splitting is done by ``semantic-text-splitter`` (chosen by ``benchmarks/bench_chunking.py``;
see docs/pinecone.md): it cuts at the highest semantic level that fits (blank-line runs,
lines, sentences, words, graphemes), counts Unicode characters, and is deterministic.

Its cost grows faster than the text on long runs without line breaks (a 2 MB one-line
message took 40 s), so documents are bounded first: text beyond ``max_document_chars`` is
cut off (logged), and text longer than ``SEGMENT_CHARS`` is split at line breaks (or spaces)
into segments chunked one after the other. Chunking time then grows linearly with the
text, and documents up to ``SEGMENT_CHARS`` are chunked exactly as before.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from semantic_text_splitter import TextSplitter

__all__ = ["ChunkResult", "Chunker", "ChunkingConfig", "has_content"]

log = logging.getLogger(__name__)

SEGMENT_CHARS = 50_000
"""Longer text is chunked in segments of at most this many characters, cut at a line break
(or else a space) in their last quarter."""

# Lines that are only a code fence (with an optional language tag) carry no content.
_FENCE = re.compile(r"^\s*(```|~~~)[\w+#.-]*\s*$", re.M)
_WORD = re.compile(r"\w")


@dataclasses.dataclass(frozen=True)
class ChunkingConfig:
    """Sizes in characters. Chunks shorter than ``min_chunk_chars`` once stripped are dropped;
    text beyond ``max_document_chars`` is cut off before chunking (and the cut logged)."""

    chunk_size: int = 1200
    chunk_overlap: int = 150
    min_chunk_chars: int = 40
    max_document_chars: int = 1_000_000

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError("chunk_overlap must be >= 0 and smaller than chunk_size")
        if self.min_chunk_chars < 0:
            raise ValueError("min_chunk_chars must be >= 0")
        if self.max_document_chars < self.chunk_size:
            raise ValueError("max_document_chars must be at least chunk_size")


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    """The chunks kept, in document order, and how many were dropped as empty or noise."""

    chunks: list[str]
    dropped: int
    cut_chars: int = 0
    """Characters beyond ``max_document_chars`` that were not chunked."""


def has_content(chunk: str, min_chars: int = 0) -> bool:
    """True when the stripped chunk has ``min_chars`` characters and more than markup or punctuation."""
    stripped = chunk.strip()
    if len(stripped) < min_chars or _WORD.search(stripped) is None:
        return False
    if "```" in stripped or "~~~" in stripped:
        return _WORD.search(_FENCE.sub("", stripped)) is not None
    return True


class Chunker:
    """Deterministic splitter: the same text and config always give the same chunks."""

    def __init__(self, config: ChunkingConfig | None = None) -> None:
        self.config = config or ChunkingConfig()
        self._splitter = TextSplitter(self.config.chunk_size, overlap=self.config.chunk_overlap, trim=True)

    def split(self, text: str, *, doc_id: str = "") -> ChunkResult:
        """Chunks of ``text`` (``doc_id`` only names the document in the log when it is cut)."""
        limit = self.config.max_document_chars
        cut = max(len(text) - limit, 0)
        if cut:
            log.warning(
                "Document %s has %d characters; only the first %d are chunked (%d cut off)",
                doc_id or "(unnamed)",
                len(text),
                limit,
                cut,
            )
            text = text[:limit]
        if _fits_whole(text, self.config.chunk_size):
            pieces = [text]  # what the splitter returns for it, without calling it
        else:
            pieces = [piece for segment in _segments(text) for piece in self._splitter.chunks(segment)]
        chunks = [p for p in pieces if has_content(p, self.config.min_chunk_chars)]
        return ChunkResult(chunks=chunks, dropped=len(pieces) - len(chunks), cut_chars=cut)


def _fits_whole(text: str, chunk_size: int) -> bool:
    """True when the splitter would return ``text`` itself as the only chunk: it fits (the
    splitter counts characters, at most one per code point) and has nothing to trim (no
    whitespace at either end; Python's ``isspace`` covers every character the splitter trims)."""
    return 0 < len(text) <= chunk_size and not text[0].isspace() and not text[-1].isspace()


def _segments(text: str, size: int = SEGMENT_CHARS) -> list[str]:
    """``text`` in consecutive pieces of at most ``size`` characters, each ending at a line
    break (or else a space) in its last quarter when there is one; joined, they are ``text``."""
    segments = []
    start = 0
    while len(text) - start > size:
        end = start + size
        floor = end - size // 4
        cut = text.rfind("\n", floor, end)
        if cut < 0:
            cut = text.rfind(" ", floor, end)
        end = cut + 1 if cut >= 0 else end
        segments.append(text[start:end])
        start = end
    segments.append(text[start:])
    return segments
