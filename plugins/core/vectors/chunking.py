"""Split document text into overlapping chunks for embedding, dropping chunks with no content."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["ChunkResult", "Chunker", "ChunkingConfig"]

_SEPARATORS = ("\n\n", "\n", ". ", " ", "")
_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$", re.M)
_WORD = re.compile(r"\w")


@dataclasses.dataclass(frozen=True)
class ChunkingConfig:
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
    chunks: list[str]
    dropped: int


def has_content(chunk: str, min_chars: int) -> bool:
    """True when the stripped chunk is long enough and holds more than markup and punctuation."""
    stripped = chunk.strip()
    if len(stripped) < min_chars:
        return False
    return _WORD.search(_FENCE.sub("", stripped)) is not None


class Chunker:
    """Deterministic recursive splitter: paragraphs, then lines, sentences, words, characters."""

    def __init__(self, config: ChunkingConfig | None = None) -> None:
        self.config = config or ChunkingConfig()

    def split(self, text: str) -> ChunkResult:
        pieces = [p.strip() for p in self._split(text, _SEPARATORS)]
        chunks = [p for p in pieces if has_content(p, self.config.min_chunk_chars)]
        return ChunkResult(chunks=chunks, dropped=len([p for p in pieces if p]) - len(chunks))

    def _split(self, text: str, separators: tuple[str, ...]) -> list[str]:
        size = self.config.chunk_size
        if len(text) <= size:
            return [text]
        sep, rest = separators[0], separators[1:]
        if sep and sep not in text:
            return self._split(text, rest)
        parts = [text[i : i + 1] for i in range(len(text))] if not sep else _keep_separator(text, sep)
        small: list[str] = []
        for part in parts:
            small.extend(self._split(part, rest) if len(part) > size else [part])
        return self._merge(small)

    def _merge(self, parts: list[str]) -> list[str]:
        size, overlap = self.config.chunk_size, self.config.chunk_overlap
        out: list[str] = []
        window: list[str] = []
        length = 0
        for part in parts:
            if window and length + len(part) > size:
                out.append("".join(window))
                while window and (length > overlap or length + len(part) > size):
                    length -= len(window.pop(0))
            window.append(part)
            length += len(part)
        if window:
            out.append("".join(window))
        return out


def _keep_separator(text: str, sep: str) -> list[str]:
    """Split after each separator so joining the parts gives back the text exactly."""
    parts = text.split(sep)
    return [p + sep for p in parts[:-1]] + [parts[-1]]
