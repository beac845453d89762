"""Caption text made fit for retrieval, and the speakers a talk's title names.

Generated (ASR) captions repeat each line across rolling cues and may carry inline timing and
styling tags (``<00:00:01.199><c> word</c>``); both are removed here. The transcript becomes
paragraphs, each opened by a ``[mm:ss]`` marker about every ``paragraph_seconds``, so a chunk
carries the time it starts at (a link can add ``&t=<seconds>s``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

__all__ = ["clean_line", "speakers_from_title", "transcript_paragraphs"]

_TAG = re.compile(r"<\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?>|</?[a-zA-Z][^<>]{0,40}>")
_SPACE = re.compile(r"\s+")
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_SEPARATOR = re.compile(r"\s+[-\u2013\u2014|]\s+")  # hyphen, en and em dash, bar
_NAME_SPLIT = re.compile(r"\s*(?:,|&|\band\b)\s*")


def clean_line(text: str) -> str:
    """One caption line without timing/styling tags, entities or repeated blanks."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", text))).strip()


def _timestamp(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"[{hours}:{rest // 60:02d}:{rest % 60:02d}]" if hours else f"[{rest // 60:02d}:{rest % 60:02d}]"


def transcript_paragraphs(segments: Iterable[Sequence[object]], paragraph_seconds: float = 60) -> str:
    """``[[start, duration, text], ...]`` as paragraphs with ``[mm:ss]`` markers; a line equal to
    one of the two lines before it (a rolling cue) is dropped."""
    paragraphs: list[str] = []
    current: list[str] = []
    recent: list[str] = []
    opened_at: float | None = None
    for segment in segments:
        start = float(str(segment[0]))
        for raw in str(segment[2]).splitlines():
            line = clean_line(raw)
            if not line or line in recent:
                continue
            recent = [*recent[-1:], line]
            if opened_at is None or start - opened_at >= paragraph_seconds:
                if current:
                    paragraphs.append(" ".join(current))
                current, opened_at = [_timestamp(start)], start
            current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def speakers_from_title(title: str, channel_title: str = "") -> list[str]:
    """Speakers of a conference talk titled ``Talk - Speaker(s) - Conference 2024`` (the layout
    CppCon, C++Now and Meeting C++ use). A guess: empty when the title does not have that shape."""
    parts = [p.strip() for p in _SEPARATOR.split(title) if p.strip()]
    if len(parts) < 3:
        return []
    last = parts[-1]
    if not (_YEAR.search(last) or (channel_title and channel_title.lower() in last.lower())):
        return []
    names = [n.strip() for n in _NAME_SPLIT.split(parts[-2]) if n.strip()]
    return [n for n in names if 1 < len(n.split()) <= 4 and not _YEAR.search(n)]
