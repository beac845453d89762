"""One release archive, downloaded to a file with resume (``Range`` + ``If-Range``) and
conditional re-downloads (``If-None-Match``). The body is streamed to disk in chunks: memory
stays flat whatever the archive's size.

Transient failures (connection errors, bodies cut short, 5xx, 408) are retried by tenacity with
exponential backoff, each retry resuming from the bytes already on disk when the server still
has the same file (its ETag); 429/503 with ``Retry-After`` are waited out up to
``max_rate_limit_wait``, longer is ``RateLimitError(retry_at)``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path

import requests
import tenacity

from core.errors import (
    AuthenticationError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    SourceTimeoutError,
    sanitize_text,
)
from core.operations.http import retry_after_seconds

__all__ = ["ArchiveDownloader", "ArchiveNotFoundError", "Downloaded"]

CHUNK_BYTES = 256 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class ArchiveNotFoundError(PermissionDeniedError):
    """404: the release has no archive (yet) at this URL."""


@dataclasses.dataclass(frozen=True)
class Downloaded:
    path: Path
    etag: str | None
    bytes: int
    requests: int
    resumed: int  # requests that continued a partial file


class _Transient(Exception):
    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class _Wait(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"wait {seconds}s")
        self.seconds = seconds


class ArchiveDownloader:
    def __init__(
        self,
        *,
        timeout: float = 60,
        max_retries: int = 4,
        max_rate_limit_wait: float = 300,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.clock = clock
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "boost-docs-tracker"
        self.session.headers["Accept-Encoding"] = "identity"  # the bytes of the file, resumable by offset
        self.requests = 0
        self.resumed = 0

    def close(self) -> None:
        self.session.close()

    def fetch(self, url: str, dest: Path, *, etag: str | None = None) -> Downloaded | None:
        """``dest`` written in full, or ``None`` when the server answers 304 to ``etag``."""
        part = dest.with_name(dest.name + ".part")
        part_etag = dest.with_name(dest.name + ".part-etag")
        before = (self.requests, self.resumed)
        waited = 0.0
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential(multiplier=0.5, max=30),
            sleep=self.sleep,
            reraise=True,
        )
        while True:
            try:
                result = retrying(self._attempt, url, part, part_etag, etag)
                break
            except _Wait as wait:
                waited += wait.seconds
                if wait.seconds > self.max_rate_limit_wait or waited > 4 * self.max_rate_limit_wait:
                    retry_at = dt.datetime.fromtimestamp(self.clock() + wait.seconds, dt.UTC)
                    raise RateLimitError(
                        f"archive server asks to wait {wait.seconds:.0f}s for {_safe(url)}", retry_at=retry_at
                    ) from None
                self.sleep(wait.seconds)
            except _Transient as exc:
                error = SourceTimeoutError if exc.timeout else NetworkError
                raise error(f"{exc} (after {self.max_retries} retries)") from None
        if result is None:
            return None
        size, served_etag = result
        part.replace(dest)
        part_etag.unlink(missing_ok=True)
        return Downloaded(dest, served_etag, size, self.requests - before[0], self.resumed - before[1])

    def _attempt(
        self, url: str, part: Path, part_etag: Path, etag: str | None
    ) -> tuple[int, str | None] | None:
        have = part.stat().st_size if part.exists() else 0
        validator = part_etag.read_text() if part_etag.exists() else ""
        headers: dict[str, str] = {}
        if have and validator:
            headers.update({"Range": f"bytes={have}-", "If-Range": validator})
        else:
            have = 0  # a partial file nobody can vouch for is not resumed
        if etag and not have:
            headers["If-None-Match"] = etag
        self.requests += 1
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.Timeout as exc:
            raise _Transient(f"timeout fetching {_safe(url)}: {type(exc).__name__}", timeout=True) from None
        except requests.RequestException as exc:
            raise _Transient(f"cannot fetch {_safe(url)}: {type(exc).__name__}") from None
        with response:
            status = response.status_code
            if status == 304:
                return None
            if status == 416:  # the partial file is not a prefix of what the server has now
                part.unlink(missing_ok=True)
                part_etag.unlink(missing_ok=True)
                raise _Transient(f"HTTP 416 from {_safe(url)}: starting over")
            self._refuse(response, url)
            served = response.headers.get("ETag")
            append = False
            if status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if match is None or int(match.group(1)) != have:
                    part.unlink(missing_ok=True)  # not the range asked for: start over
                    raise _Transient(
                        f"{_safe(url)}: unexpected Content-Range {response.headers.get('Content-Range')!r}"
                    )
                append = True
                self.resumed += 1
            elif status != 200:
                raise DataValidationError(f"unexpected HTTP {status} for the archive", source=_safe(url))
            if not append:
                if served:
                    part_etag.write_text(served)
                else:
                    part_etag.unlink(missing_ok=True)
            expected = response.headers.get("Content-Length")
            written = 0
            try:
                with part.open("ab" if append else "wb") as out:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        out.write(chunk)
                        written += len(chunk)
            except requests.Timeout:
                raise _Transient(f"timeout reading {_safe(url)}", timeout=True) from None
            except (requests.RequestException, OSError) as exc:
                raise _Transient(f"body of {_safe(url)} cut short: {type(exc).__name__}") from None
            if expected is not None and expected.isdigit() and written != int(expected):
                raise _Transient(f"body of {_safe(url)} cut short: {written} of {expected} bytes")
            return (have if append else 0) + written, served

    def _refuse(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        if status in (429, 503):
            wait = retry_after_seconds(response.headers, self.clock())
            if wait is not None:
                raise _Wait(wait)
        if status >= 500 or status in (408, 429):
            raise _Transient(f"HTTP {status} from {_safe(url)}", timeout=status in (408, 504))
        if status == 401:
            raise AuthenticationError(f"HTTP 401 from {_safe(url)}")
        if status == 404:
            raise ArchiveNotFoundError(f"no archive at {_safe(url)} (HTTP 404)")
        if status == 403:
            raise PermissionDeniedError(f"HTTP 403 from {_safe(url)}")
        if 400 <= status < 500:
            raise DataValidationError(f"HTTP {status} for the archive", source=_safe(url))


def _safe(url: str) -> str:
    return sanitize_text(url)
