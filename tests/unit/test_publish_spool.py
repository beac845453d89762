"""The publish spool: rendered files on disk by blob sha, removed when it closes."""

from __future__ import annotations

from core.operations.github.gitdata import Content, git_blob_sha
from core.publishing.spool import Spool


def test_spool_stores_each_content_once_and_cleans_up() -> None:
    with Spool() as spool:
        first, again, other = spool.put(b"a\n"), spool.put(b"a\n"), spool.put(b"b\n")
        assert first.path == again.path and first.sha == git_blob_sha(b"a\n") != other.sha
        assert first.read() == b"a\n" and isinstance(first, Content)
        assert sorted(p.name for p in spool.root.iterdir()) == sorted({first.sha, other.sha})
        root = spool.root
    assert not root.exists()
