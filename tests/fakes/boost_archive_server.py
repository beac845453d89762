"""A static Boost archive server (the shape of archives.boost.io) on the wire-fakes toolkit.

* ``GET /release/`` -> an HTML directory index (``<a href="1.86.0/">``), betas included as
  real servers list them;
* ``GET /release/<version>/source/boost_<v>.tar.gz`` (and ``.tar.bz2``) -> the archive, with a
  strong ``ETag``, ``If-None-Match`` (304) and ``Range: bytes=N-`` (206, honoured only when
  ``If-Range`` names the current ETag, else the whole file with 200);
* anything else 404.

Archives are built by :mod:`tests.fakes.boost_archive` from :class:`ReleaseDocs`. Faults
(429 + ``Retry-After``, 5xx, a body cut mid-way) are the toolkit's.

Standalone (benchmarks, by hand)::

    python tests/fakes/boost_archive_server.py --port 8766 --archive 1.86.0=/tmp/boost_1_86_0.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.boost_archive import ReleaseDocs, write_archive
from tests.fakes.wire import Reply, Request, WireServer

__all__ = ["BoostArchiveServer"]

_ARCHIVE = re.compile(r"^/release/(\d+\.\d+\.\d+)/source/(boost_\d+_\d+_\d+\.tar\.(?:gz|bz2))$")
_RANGE = re.compile(r"^bytes=(\d+)-$")


class BoostArchiveServer(WireServer):
    server_name = "nginx"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.archives: dict[tuple[str, str], bytes] = {}
        self.listed: set[str] = set()
        self._dir = tempfile.TemporaryDirectory(prefix="boost-archives-")

    def publish(
        self, release: ReleaseDocs, *, formats: tuple[str, ...] = ("tar.gz",), listed: bool = True
    ) -> None:
        """Build and serve ``release``'s archives; ``listed`` puts it in the index."""
        for fmt in formats:
            name = f"{release.top}.{fmt}"
            path = write_archive(release, Path(self._dir.name) / name)
            self.archives[(release.version, name)] = path.read_bytes()
            path.unlink()
        if listed:
            self.listed.add(release.version)

    def serve_file(self, version: str, path: Path) -> None:
        self.archives[(version, path.name)] = path.read_bytes()
        self.listed.add(version)

    def archive_url(self) -> str:
        return self.url("/release")

    def stop(self) -> None:
        super().stop()
        self._dir.cleanup()

    def handle(self, request: Request) -> Reply:
        if request.path in ("/release", "/release/"):
            rows = "".join(
                f'<a href="{v}/">{v}/</a>                                     29-Nov-2026 10:00       -\n'
                for v in sorted(self.listed | {"1.30.0.beta1"})
            )
            html = f'<html><head><title>Index of /release/</title></head><body><h1>Index of /release/</h1><hr><pre><a href="../">../</a>\n{rows}</pre><hr></body></html>'
            return Reply.text(200, html, content_type="text/html")
        match = _ARCHIVE.match(request.path)
        data = self.archives.get((match.group(1), match.group(2))) if match else None
        if data is None:
            return Reply.text(
                404, "<html><body><h1>404 Not Found</h1></body></html>", content_type="text/html"
            )
        tag = '"' + hashlib.sha256(data).hexdigest()[:24] + '"'
        headers = {"ETag": tag, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if request.headers.get("If-None-Match") == tag:
            return Reply(304, None, headers)
        wanted = _RANGE.match(request.headers.get("Range") or "")
        if wanted and request.headers.get("If-Range") == tag:
            start = int(wanted.group(1))
            if start >= len(data):
                return Reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            request.notes["range_from"] = start
            return Reply(
                206, data[start:], {**headers, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            )
        return Reply(200, data, headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--archive", action="append", default=[], help="VERSION=PATH (repeatable)")
    args = parser.parse_args()
    server = BoostArchiveServer(port=args.port)
    for spec in args.archive:
        version, _, path = spec.partition("=")
        server.serve_file(version, Path(path))
    print(f"Boost archive fake on {server.archive_url()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
