"""The documentation files of a release archive, read as a stream: members are visited in
archive order and never extracted, so memory holds one page and disk holds only the archive.

Which files are documentation, and whose (``libs/<key>/...`` is library ``key``; centrally built
BoostBook output ``doc/html/boost_<key>/...`` or ``doc/html/<key>.html`` is ``key``; Antora
sites ``doc/antora/<key>/...`` are ``key``). Everything else (headers, tests, tools, the site
frame) is skipped by name, before its bytes are read.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote

from core.errors import DataValidationError

__all__ = ["DocFile", "doc_files", "library_of"]

HTML_SUFFIXES = (".html", ".htm")
DRAIN_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class DocFile:
    path: str  # below the archive's top directory: libs/asio/doc/html/index.html
    library_key: str
    doc_id: str  # <library>/<path within the library>, ASCII, the same in every release
    data: bytes | None  # None: larger than the limit (not read)
    size: int


def library_of(path: str) -> tuple[str, str] | None:
    """``(library key, path within the library)`` of a documentation file, else ``None``."""
    if not path.lower().endswith(HTML_SUFFIXES):
        return None
    parts = path.split("/")
    in_doc_dir = len(parts) >= 3 and "doc" in parts[2:-1]
    sub_library_index = len(parts) >= 4 and parts[-1].startswith("index.htm")  # libs/algorithm/minmax/
    if parts[0] == "libs" and (in_doc_dir or sub_library_index):
        return parts[1], "/".join(parts[2:])
    if parts[:2] == ["doc", "antora"] and len(parts) >= 4:
        return parts[2], "/".join(parts[3:])
    if parts[:2] == ["doc", "html"] and len(parts) >= 3:
        head = parts[2].rsplit(".", 1)[0] if len(parts) == 3 else parts[2]
        key = head.removeprefix("boost_").lower()
        if key and key not in ("index", "libraries", "images"):
            return key, "/".join(parts[2:])
    return None


def _ascii(text: str) -> str:
    return quote(text, safe="/._-~+")


def _decompressed(archive: Path, handle: BinaryIO) -> BinaryIO:
    """The archive's tar stream. Decompressing here (not in ``tarfile``) makes a truncated or
    corrupt file an error: ``tarfile``'s stream mode stops quietly at a short compressed stream."""
    if archive.name.endswith((".bz2", ".tbz2")):
        return cast(BinaryIO, bz2.BZ2File(handle))
    if archive.name.endswith((".gz", ".tgz")):
        return cast(BinaryIO, gzip.GzipFile(fileobj=handle))
    return handle


def doc_files(archive: Path, *, max_bytes: int) -> Iterator[DocFile]:
    """Documentation files in archive order. A damaged archive (truncated, not a tar, a bad
    member, a bad checksum) is a ``DataValidationError`` naming the archive and the last member
    read; it is raised after the members before the damage were yielded."""
    last = "(start)"
    try:
        with archive.open("rb") as raw, _decompressed(archive, raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    last = member.name
                    if not member.isfile():
                        continue
                    _, _, path = member.name.lstrip("./").partition("/")  # below boost_1_86_0/
                    owner = library_of(path)
                    if owner is None:
                        continue
                    key, inner = owner
                    doc_id = _ascii(f"{key}/{inner}")
                    if member.size > max_bytes:
                        yield DocFile(_ascii(path), key, doc_id, None, member.size)
                        continue
                    handle = tar.extractfile(member)
                    data = handle.read() if handle is not None else b""
                    yield DocFile(_ascii(path), key, doc_id, data, member.size)
            while stream.read(DRAIN_BYTES):  # to the end: the compressed stream's checksum and end
                pass
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise DataValidationError(
            f"archive unreadable: {type(exc).__name__}: {exc}", source=archive.name, location=f"after {last}"
        ) from None
