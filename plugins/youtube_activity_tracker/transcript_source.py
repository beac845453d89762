"""Where transcripts come from: ``youtube-transcript-api`` (unofficial: it reads the watch page
and the player endpoint the YouTube apps use, then the caption track).

The outcome of one video is a :class:`Transcript` or a :class:`TranscriptMissing` whose
``status`` drives the back-off: ``none`` (no track in the wanted languages), ``disabled``
(captions turned off), ``blocked`` (YouTube refuses this IP: a bot check or 429), ``unavailable``
(deleted, private), ``error`` (anything else: age gate, unplayable, unparsable, network).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import requests
from youtube_transcript_api import YouTubeTranscriptApi
from youtube_transcript_api import _errors as ytt_errors
from youtube_transcript_api.proxies import GenericProxyConfig

from core.errors import sanitize_text
from youtube_activity_tracker.config import ProxyUrls

__all__ = ["ResponseTooLarge", "Transcript", "TranscriptMissing", "TranscriptSource", "YttApiSource"]

YOUTUBE_ORIGIN = "https://www.youtube.com"
Status = Literal["none", "disabled", "blocked", "unavailable", "error"]


@dataclasses.dataclass(frozen=True)
class Transcript:
    language_code: str
    kind: Literal["manual", "asr"]
    segments: list[tuple[float, float, str]]  # start, duration, text


class TranscriptMissing(Exception):
    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status: Status = status


class TranscriptSource(Protocol):
    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript: ...


class ResponseTooLarge(requests.RequestException):
    """A page or caption track larger than ``max_transcript_bytes`` (read no further)."""


class _Session(requests.Session):
    """The library sets no timeout and reads any body whole; this session sets a timeout and
    stops reading past ``max_bytes``. With ``origin`` set, requests for
    ``https://www.youtube.com`` go there instead (a test's fake)."""

    def __init__(self, timeout: float, origin: str | None, max_bytes: int) -> None:
        super().__init__()
        self.timeout, self.max_bytes = timeout, max_bytes
        self.origin = origin.rstrip("/") if origin else None

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        text = url.decode() if isinstance(url, bytes) else url
        if self.origin and text.startswith(YOUTUBE_ORIGIN):
            text = self.origin + text[len(YOUTUBE_ORIGIN) :]
        kwargs.setdefault("timeout", self.timeout)
        kwargs["stream"] = True
        response = super().request(method, text, *args, **kwargs)
        with response:
            body = response.raw.read(self.max_bytes + 1, decode_content=True)
        if len(body) > self.max_bytes:
            raise ResponseTooLarge(f"{method} {urlsplit(text).path}: body larger than {self.max_bytes} bytes")
        response._content = body  # the body as requests would have read it (.text, .json())
        return response


_STATUS: tuple[tuple[type[Exception], Status], ...] = (
    (ytt_errors.RequestBlocked, "blocked"),  # IpBlocked too
    (ytt_errors.TranscriptsDisabled, "disabled"),
    (ytt_errors.NoTranscriptFound, "none"),
    (ytt_errors.VideoUnavailable, "unavailable"),
    (ytt_errors.InvalidVideoId, "unavailable"),
)


class YttApiSource:
    """A manual track in the first wanted language that has one, else a generated one."""

    def __init__(
        self,
        proxy: ProxyUrls | None = None,
        *,
        origin: str | None = None,
        timeout: float = 30,
        max_bytes: int = 5_000_000,
    ) -> None:
        proxy_config = GenericProxyConfig(proxy.http_url, proxy.https_url) if proxy else None
        self.secrets = list(proxy.secrets) if proxy else []
        self.api = YouTubeTranscriptApi(
            proxy_config=proxy_config, http_client=_Session(timeout, origin, max_bytes)
        )

    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript:
        try:
            listing = self.api.list(video_id)
            try:
                track = listing.find_manually_created_transcript(languages)
            except ytt_errors.NoTranscriptFound:
                track = listing.find_generated_transcript(languages)
            fetched = track.fetch()
        except (
            ytt_errors.CouldNotRetrieveTranscript,
            requests.RequestException,
            ParseError,
            ValueError,
        ) as exc:
            raise self._missing(exc) from None
        segments = [(float(s.start), float(s.duration), s.text) for s in fetched.snippets]
        return Transcript(fetched.language_code, "asr" if fetched.is_generated else "manual", segments)

    def _missing(self, exc: Exception) -> TranscriptMissing:
        status: Status = "error"
        for cls, candidate in _STATUS:
            if isinstance(exc, cls):
                status = candidate
                break
        if isinstance(exc, ytt_errors.CouldNotRetrieveTranscript):
            detail = (exc.cause or "").strip().splitlines()[0] if exc.cause else ""
        else:
            detail = str(exc)
        message = f"{type(exc).__name__}" + (f": {detail}" if detail else "")
        return TranscriptMissing(status, sanitize_text(message, self.secrets)[:300])
