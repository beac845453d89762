"""Rendered files spooled to disk by blob sha, so a publish holds only paths and shas in memory.

A first publish renders every item; kept in memory that is the size of the whole export. Here
each file is written once (identical contents share one file) to a temporary folder removed when
the spool closes; the writer reads a file back only while it builds the tree request that sends
it (:class:`core.operations.github.gitdata.Content`).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from core.operations.github.gitdata import git_blob_sha

__all__ = ["Spool", "SpooledFile"]


@dataclasses.dataclass(frozen=True)
class SpooledFile:
    sha: str
    path: Path
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    def __init__(self, directory: str | None = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="publish-", dir=directory)
        self.root = Path(self._folder.name)

    def put(self, content: bytes) -> SpooledFile:
        sha = git_blob_sha(content)
        path = self.root / sha
        if not path.exists():
            path.write_bytes(content)
        return SpooledFile(sha, path, len(content))

    def close(self) -> None:
        self._folder.cleanup()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
