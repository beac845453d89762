"""``filters:`` of a GitHub collector entry: collect a huge repository only where it matters.

``commit_paths``
    Commits of the default branch that touch one of these paths (GitHub's ``path=`` takes one
    path per request, so each prefix is its own commit stream with its own checkpoint; a
    commit under two prefixes is stored once, its natural key deduplicates it).
``issue_labels_any``
    Issues and pull requests carrying at least one of these labels (``*`` and ``?`` are
    wildcards, matched case-insensitively like GitHub's label names). GitHub's ``labels=``
    parameter means *all of*, so the match is done here, on every page read. Once stored, an
    issue keeps being followed (its edits, label changes and comments are stored) even after
    it loses its matching labels: its rows then show the labels it really has.

Comments, review comments, reviews and pull-request details follow their parent: only those
of stored issues and pull requests are kept.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["GitHubFilters"]


def _normalize_path(value: str) -> str:
    path = value.strip().strip("/")
    if not path:
        raise ValueError(f"expected a repository path such as 'clang/', got {value!r}")
    if any(part in {"", ".", ".."} for part in path.split("/")):
        raise ValueError(f"expected a plain repository path without '.', '..' or '//', got {value!r}")
    return path


class GitHubFilters(BaseModel):
    """What part of each repository to collect; empty lists mean everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commit_paths: tuple[str, ...] = Field(
        default=(), description="commits touching any of these paths (one commit stream per path)"
    )
    issue_labels_any: tuple[str, ...] = Field(
        default=(), description="issues and pull requests with at least one of these labels (wildcards)"
    )

    @field_validator("commit_paths", mode="before")
    @classmethod
    def _paths(cls, value: Iterable[str]) -> tuple[str, ...]:
        if isinstance(value, str):
            raise ValueError("expected a list of paths")
        paths = sorted({_normalize_path(str(v)) for v in value}, key=lambda p: (p.count("/"), p))
        # a path under another listed path adds no commit the shorter one does not already list
        kept: list[str] = []
        for path in paths:
            if not any(path.startswith(f"{parent}/") for parent in kept):
                kept.append(path)
        return tuple(sorted(kept))

    @field_validator("issue_labels_any", mode="before")
    @classmethod
    def _labels(cls, value: Iterable[str]) -> tuple[str, ...]:
        if isinstance(value, str):
            raise ValueError("expected a list of label names or patterns")
        labels: list[str] = []
        for item in value:
            text = str(item).strip()
            if not text:
                raise ValueError("a label name or pattern must not be empty")
            if text.lower() not in {label.lower() for label in labels}:
                labels.append(text)
        return tuple(labels)

    @property
    def labels_active(self) -> bool:
        return bool(self.issue_labels_any)

    def labels_match(self, names: Iterable[str]) -> bool:
        """Whether any of ``names`` matches any pattern (no label filter: always)."""
        if not self.issue_labels_any:
            return True
        # only * and ? are wildcards: "[" stays literal (labels such as "[C++20]")
        patterns = [p.lower().replace("[", "[[]") for p in self.issue_labels_any]
        return any(fnmatch.fnmatchcase(name.lower(), pattern) for name in names for pattern in patterns)
