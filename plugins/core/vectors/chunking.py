"""Split document text into overlapping chunks for embedding, dropping chunks with no content.

Splitting is done by ``semantic-text-splitter`` (chosen by ``benchmarks/bench_chunking.py``;
see docs/pinecone.md): it cuts at the highest semantic level that fits (blank-line runs,
lines, sentences, words, graphemes), counts Unicode characters, and is deterministic.
"""

from __future__ import annotations

import dataclasses
import re

from semantic_text_splitter import TextSplitter

__all__ = ["ChunkResult", "Chunker", "ChunkingConfig", "has_content"]

# Lines that are only a code fence (with an optional language tag) carry no content.
_FENCE = re.compile(r"^\s*(```|~~~)[\w+#.-]*\s*$", re.M)
_WORD = re.compile(r"\w")


@dataclasses.dataclass(frozen=True)
class ChunkingConfig:
    """Sizes in characters. Chunks shorter than ``min_chunk_chars`` once stripped are dropped."""

    chunk_size: int = 1200
    chunk_overlap: int = 150
    min_chunk_chars: int = 40

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError("chunk_overlap must be >= 0 and smaller than chunk_size")
        if self.min_chunk_chars < 0:
            raise ValueError("min_chunk_chars must be >= 0")


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    """The chunks kept, in document order, and how many were dropped as empty or noise."""

    chunks: list[str]
    dropped: int


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

    def split(self, text: str) -> ChunkResult:
        pieces = self._splitter.chunks(text)
        chunks = [p for p in pieces if has_content(p, self.config.min_chunk_chars)]
        return ChunkResult(chunks=chunks, dropped=len(pieces) - len(chunks))
