"""A static Boost archive server (the shape of archives.boost.io) on the wire-fakes toolkit.

* ``GET /release/`` -> an HTML directory index (``<a href="1.86.0/">``), betas included as
  real servers list them;
* ``GET /release/<version>/source/boost_<v>.tar.gz`` (and ``.tar.bz2``) -> the archive, with a
  strong ``ETag``, ``If-None-Match`` (304) and ``Range: bytes=N-`` (206, honoured only when
  ``If-Range`` names the current ETag, else the whole file with 200);
* ``GET /_fake/publish?version=1.87.0[&drop=<path>]`` (test control, for a fake running as a
  subprocess): publish :func:`sample_release` of that version, without the page ``drop``;
* anything else 404.

Archives are built by :mod:`tests.fakes.boost_archive` from :class:`ReleaseDocs`. Faults
(429 + ``Retry-After``, 5xx, a body cut mid-way) are the toolkit's.

Standalone (benchmarks, e2e tests through :func:`running`, by hand)::

    python tests/fakes/boost_archive_server.py --port 8766 --releases 1.85.0,1.86.0 \
        [--archive 1.87.0=/tmp/boost_1_87_0.tar.gz]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.boost_archive import ReleaseDocs, sample_release, write_archive
from tests.fakes.standalone import standalone_fake
from tests.fakes.wire import Reply, Request, WireServer

__all__ = ["BoostArchiveServer", "publish", "running"]

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
        """Serve the archive file at ``path`` as ``version``'s (its name follows the release's)."""
        fmt = "tar.bz2" if path.name.endswith(".bz2") else "tar.gz"
        self.archives[(version, f"boost_{version.replace('.', '_')}.{fmt}")] = path.read_bytes()
        self.listed.add(version)

    def archive_url(self) -> str:
        return self.url("/release")

    def stop(self) -> None:
        super().stop()
        self._dir.cleanup()

    def handle(self, request: Request) -> Reply:
        if request.path == "/_fake/publish":
            release = sample_release(request.query["version"])
            release.files.pop(request.query.get("drop", ""), None)
            self.publish(release)
            return Reply.json(200, {"version": release.version, "pages": sorted(release.files)})
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


@contextlib.contextmanager
def running(
    log_file: Path, *, releases: str = "1.85.0,1.86.0", archives: Mapping[str, Path] | None = None
) -> Iterator[str]:
    """The fake as a subprocess (for Airflow tasks in other processes); yields the archive URL
    (``.../release``). ``archives``: version -> an archive file to serve as that release."""
    argv = ["--releases", releases]
    for version, path in (archives or {}).items():
        argv += ["--archive", f"{version}={path}"]
    with standalone_fake(Path(__file__).name, *argv, probe="/release/", log=log_file) as origin:
        yield f"{origin}/release"


def publish(archive_url: str, version: str, *, drop: str | None = None) -> list[str]:
    """Publish a release on a running fake (:func:`running`); returns its files."""
    query = urllib.parse.urlencode({"version": version, **({"drop": drop} if drop else {})})
    root = archive_url.rsplit("/release", 1)[0]
    with urllib.request.urlopen(f"{root}/_fake/publish?{query}", timeout=30) as answer:
        return list(json.loads(answer.read())["pages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--releases", default="", help="comma-separated versions of the sample release")
    parser.add_argument("--archive", action="append", default=[], help="VERSION=PATH (repeatable)")
    args = parser.parse_args()
    server = BoostArchiveServer(port=args.port)
    for version in filter(None, args.releases.split(",")):
        server.publish(sample_release(version))
    for spec in args.archive:
        version, _, path = spec.partition("=")
        server.serve_file(version, Path(path))
    print(f"Boost archive fake on {server.archive_url()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
