"""A fake YouTube: the Data API v3 (``/youtube/v3/...``) and the pages ``youtube-transcript-api``
reads (``/watch``, ``/youtubei/v1/player``, ``/api/timedtext``), on the wire-fakes toolkit.

Data API (GET, ``?key=`` required):

* ``/youtube/v3/channels?id=`` -> ``{"items": [channel]}`` (snippet, contentDetails.relatedPlaylists.uploads, statistics)
* ``/youtube/v3/playlistItems?playlistId=&maxResults=&pageToken=`` -> newest first, ``nextPageToken``,
  ``pageInfo``; deleted and private videos stay as placeholders ("Deleted video", privacy
  ``privacyStatusUnspecified``; "Private video", ``private``); an unknown playlist is 404 ``playlistNotFound``
* ``/youtube/v3/videos?id=a,b`` -> the public ones (the others are simply left out, as YouTube does)
* ``/youtube/v3/search?q=&publishedAfter=&publishedBefore=&pageToken=`` -> ``{"items": [{"id": {"videoId"}}]}``

Quota per key and per day: 1 unit per list call, 100 per search call, search also limited to
``search_calls_per_day``; past either limit every call answers 403 ``quotaExceeded`` (domain
``youtube.quota``) until :meth:`YouTubeServer.reset_quota`. An unknown key is 400 ``keyInvalid``
with Google's body (``API_KEY_INVALID`` in ``details``); no key is 403 ``forbidden``.

Transcripts: each video has a mode: ``ok`` (its tracks: manual and/or generated), ``disabled``
(no captions), ``unavailable``; ``server.blocked = "bot"`` answers the player request with the
"Sign in to confirm you're not a bot" status, ``"captcha"`` serves a reCAPTCHA watch page,
``"429"`` answers 429: how YouTube treats cloud IPs. The HTML and JSON are written here from the
fields the library reads, not copied from YouTube or from the library.

Standalone (the e2e test)::

    python tests/fakes/youtube_server.py --port 8766 --api-key KEY
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import html
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import Dataset, Reply, Request, WireServer

__all__ = ["Track", "YouTubeData", "YouTubeServer", "google_error", "sample_data"]

INNERTUBE_KEY = "fake-innertube-key-0001"
BOT_REASON = "Sign in to confirm you\u2019re not a bot"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_error(
    code: int, message: str, reason: str, domain: str = "global", **extra: Any
) -> dict[str, Any]:
    """Google's error body: ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], ...}}``."""
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}], **extra}}  # fmt: skip


@dataclasses.dataclass
class Track:
    language: str = "en"
    kind: str = "manual"  # manual | asr
    lines: list[tuple[float, float, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FakeVideo:
    id: str
    channel_id: str
    title: str
    description: str
    published_at: dt.datetime
    duration: str = "PT45M10S"
    privacy: str = "public"  # public | private | deleted
    live: str = "none"
    views: int = 100
    tracks: list[Track] = dataclasses.field(default_factory=list)
    transcript_mode: str = "ok"  # ok | disabled | unavailable


class YouTubeData(Dataset):
    """Channels, their uploads (newest first), other playlists, videos and caption tracks."""

    def __init__(self) -> None:
        super().__init__(first_id=1)
        self.channels: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, FakeVideo] = {}
        self.playlists: dict[str, list[str]] = {}  # newest first

    def channel(self, title: str) -> str:
        with self.lock:
            channel_id = "UC" + f"{title[:8].replace(' ', '_'):_<8}{self.next_id():014d}"[:22]
            self.channels[channel_id] = {"title": title, "handle": "@" + title.replace(" ", "").lower()}
            self.playlists["UU" + channel_id[2:]] = []
            return channel_id

    def upload(self, channel_id: str, title: str, *, description: str = "", duration: str = "PT45M10S",
               tracks: list[Track] | None = None, transcript_mode: str = "ok", live: str = "none") -> str:  # fmt: skip
        with self.lock:
            video_id = f"v{self.next_id():010d}"
            self.videos[video_id] = FakeVideo(
                video_id, channel_id, title, description, self.tick(60), duration=duration,
                tracks=list(tracks or []), transcript_mode=transcript_mode, live=live,
            )  # fmt: skip
            self.playlists["UU" + channel_id[2:]].insert(0, video_id)
            return video_id

    def playlist(self, video_ids: list[str]) -> str:
        with self.lock:
            playlist_id = f"PL{self.next_id():032d}"
            self.playlists[playlist_id] = list(video_ids)
            return playlist_id

    def delete(self, video_id: str) -> None:
        self.videos[video_id].privacy = "deleted"

    def make_private(self, video_id: str) -> None:
        self.videos[video_id].privacy = "private"

    # ------------------------------------------------------------------ resources

    def channel_resource(self, channel_id: str) -> dict[str, Any]:
        channel = self.channels[channel_id]
        uploads = "UU" + channel_id[2:]
        return {
            "kind": "youtube#channel", "id": channel_id,
            "snippet": {"title": channel["title"], "customUrl": channel["handle"], "publishedAt": "2012-01-01T00:00:00Z"},
            "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": uploads}},
            "statistics": {"subscriberCount": "1000", "videoCount": str(len(self.playlists[uploads])),
                           "hiddenSubscriberCount": False},
        }  # fmt: skip

    def playlist_item(self, playlist_id: str, position: int, video_id: str) -> dict[str, Any]:
        video = self.videos[video_id]
        placeholder = {"private": "Private video", "deleted": "Deleted video"}.get(video.privacy)
        snippet = {
            "publishedAt": _iso(video.published_at), "channelId": video.channel_id, "playlistId": playlist_id,
            "title": placeholder or video.title, "description": "" if placeholder else video.description,
            "position": position, "resourceId": {"kind": "youtube#video", "videoId": video_id},
        }  # fmt: skip
        details: dict[str, Any] = {"videoId": video_id}
        if not placeholder:
            details["videoPublishedAt"] = _iso(video.published_at)
        privacy = {"private": "private", "deleted": "privacyStatusUnspecified"}.get(video.privacy, "public")
        return {"kind": "youtube#playlistItem", "id": f"item-{playlist_id[-6:]}-{video_id}",
                "snippet": snippet, "contentDetails": details, "status": {"privacyStatus": privacy}}  # fmt: skip

    def video_resource(self, video: FakeVideo) -> dict[str, Any]:
        return {
            "kind": "youtube#video", "id": video.id,
            "snippet": {
                "publishedAt": _iso(video.published_at), "channelId": video.channel_id, "title": video.title,
                "description": video.description, "channelTitle": self.channels[video.channel_id]["title"],
                "tags": ["C++"], "categoryId": "28", "liveBroadcastContent": video.live,
                "defaultAudioLanguage": "en",
            },
            "contentDetails": {"duration": video.duration, "dimension": "2d", "caption": "true" if video.tracks else "false"},
            "statistics": {"viewCount": str(video.views), "likeCount": "10", "favoriteCount": "0", "commentCount": "3"},
            "status": {"privacyStatus": "public", "uploadStatus": "processed", "embeddable": True},
        }  # fmt: skip


class YouTubeServer(WireServer):
    methods = ("GET", "POST")
    server_name = "youtube-fake"

    def __init__(self, data: YouTubeData | None = None, *, api_keys: tuple[str, ...] = ("yt-test-key",),
                 quota_per_day: int = 10_000, search_calls_per_day: int = 100, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.data = data or YouTubeData()
        self.api_keys = api_keys
        self.quota_per_day = quota_per_day
        self.search_calls_per_day = search_calls_per_day
        self.units: dict[str, int] = {}
        self.search_calls: dict[str, int] = {}
        self.blocked: str | None = None  # None | "bot" | "captcha" | "429"

    def reset_quota(self) -> None:
        """Midnight Pacific time."""
        self.units.clear()
        self.search_calls.clear()

    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/youtube/v3/"):
            return self._data_api(request, request.path.removeprefix("/youtube/v3"))
        if request.path == "/watch":
            return self._watch(request)
        if request.path == "/youtubei/v1/player" and request.method == "POST":
            return self._player(request)
        if request.path == "/api/timedtext":
            return self._timedtext(request)
        return Reply.json(404, google_error(404, "Not Found", "notFound"))

    # ------------------------------------------------------------------ Data API

    def _data_api(self, request: Request, endpoint: str) -> Reply:
        query = request.query
        key = query.get("key")
        if not key:
            message = "The request is missing a valid API key."
            return Reply.json(403, google_error(403, message, "forbidden", status="PERMISSION_DENIED"))
        if key not in self.api_keys:
            message = "API key not valid. Please pass a valid API key."
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com", "metadata": {"service": "youtube.googleapis.com"}}]  # fmt: skip
            body = google_error(
                400, message, "keyInvalid", "usageLimits", status="INVALID_ARGUMENT", details=details
            )
            return Reply.json(400, body)
        cost = 100 if endpoint == "/search" else 1
        searches = self.search_calls.get(key, 0)
        if self.units.get(key, 0) + cost > self.quota_per_day or (
            endpoint == "/search" and searches >= self.search_calls_per_day
        ):
            message = ("The request cannot be completed because you have exceeded your "
                       '<a href="/youtube/v3/getting-started#quota">quota</a>.')  # fmt: skip
            request.notes["quota_exceeded"] = True
            return Reply.json(403, google_error(403, message, "quotaExceeded", "youtube.quota"))
        self.units[key] = self.units.get(key, 0) + cost
        if endpoint == "/search":
            self.search_calls[key] = searches + 1
        request.notes["units"] = cost
        if endpoint == "/channels":
            ids = [i for i in query.get("id", "").split(",") if i in self.data.channels]
            return self._list("youtube#channelListResponse", [self.data.channel_resource(i) for i in ids])
        if endpoint == "/videos":
            wanted = [i for i in query.get("id", "").split(",") if i]
            if len(wanted) > 50:
                return Reply.json(400, google_error(400, "Too many ids", "invalidFilters"))
            found = [self.data.videos[i] for i in wanted if i in self.data.videos]
            return self._list("youtube#videoListResponse",
                              [self.data.video_resource(v) for v in found if v.privacy == "public"])  # fmt: skip
        if endpoint == "/playlistItems":
            playlist_id = query.get("playlistId", "")
            if playlist_id not in self.data.playlists:
                message = "The playlist identified with the request's <code>playlistId</code> parameter cannot be found."
                return Reply.json(404, google_error(404, message, "playlistNotFound", "youtube.playlistItem",
                                                    location="playlistId", locationType="parameter"))  # fmt: skip
            entries = self.data.playlists[playlist_id]
            items = [self.data.playlist_item(playlist_id, n, v) for n, v in enumerate(entries)]
            return self._paged("youtube#playlistItemListResponse", items, query)
        if endpoint == "/search":
            return self._search(query)
        return Reply.json(404, google_error(404, "Not Found", "notFound"))

    def _search(self, query: dict[str, str]) -> Reply:
        words = query.get("q", "").lower().split()
        after = dt.datetime.fromisoformat(query["publishedAfter"]) if "publishedAfter" in query else None
        before = dt.datetime.fromisoformat(query["publishedBefore"]) if "publishedBefore" in query else None
        found = sorted(
            (v for v in self.data.videos.values() if v.privacy == "public"
             and all(w in (v.title + " " + v.description).lower() for w in words)
             and (after is None or v.published_at >= after) and (before is None or v.published_at < before)),
            key=lambda v: v.published_at, reverse=True,
        )  # fmt: skip
        items = [
            {"kind": "youtube#searchResult", "id": {"kind": "youtube#video", "videoId": v.id}} for v in found
        ]
        return self._paged("youtube#searchListResponse", items, query)

    @staticmethod
    def _list(kind: str, items: list[dict[str, Any]]) -> Reply:
        return Reply.json(200, {"kind": kind, "etag": "e", "pageInfo": {"totalResults": len(items),
                                "resultsPerPage": len(items)}, "items": items})  # fmt: skip

    @staticmethod
    def _paged(kind: str, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        size = max(0, min(int(query.get("maxResults", "5")), 50))
        token = query.get("pageToken")
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:")) if token else 0
        page: dict[str, Any] = {"kind": kind, "etag": "e", "items": items[offset : offset + size],
                                "pageInfo": {"totalResults": len(items), "resultsPerPage": size}}  # fmt: skip
        if offset + size < len(items):
            page["nextPageToken"] = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode()
        if offset:
            page["prevPageToken"] = base64.urlsafe_b64encode(f"o:{max(offset - size, 0)}".encode()).decode()
        return Reply.json(200, page)

    # ------------------------------------------------------------------ what youtube-transcript-api reads

    def _watch(self, request: Request) -> Reply:
        if self.blocked == "429":
            return Reply.text(429, "Too Many Requests")
        if self.blocked == "captcha":
            return Reply.text(200, '<html><body><form><div class="g-recaptcha"></div></form></body></html>',
                              content_type="text/html")  # fmt: skip
        config = '{"INNERTUBE_API_KEY": "' + INNERTUBE_KEY + '", "VISITOR_DATA": "x"}'
        page = f"<!DOCTYPE html><html><head><script>ytcfg.set({html.escape(config, quote=False)});</script></head></html>"
        return Reply.text(200, page, content_type="text/html; charset=utf-8")

    def _player(self, request: Request) -> Reply:
        if request.query.get("key") != INNERTUBE_KEY:
            return Reply.json(400, {"error": {"code": 400, "message": "bad key"}})
        video = self.data.videos.get(str((request.json() or {}).get("videoId")))
        if self.blocked == "bot":
            return Reply.json(200, {"playabilityStatus": {"status": "LOGIN_REQUIRED", "reason": BOT_REASON}})
        if video is None or video.privacy != "public" or video.transcript_mode == "unavailable":
            return Reply.json(
                200, {"playabilityStatus": {"status": "ERROR", "reason": "This video is unavailable"}}
            )
        body: dict[str, Any] = {"playabilityStatus": {"status": "OK", "playableInEmbed": True}}
        if video.transcript_mode == "ok" and video.tracks:
            tracks = []
            for track in video.tracks:
                url = f"https://www.youtube.com/api/timedtext?v={video.id}&lang={track.language}&kind={track.kind}"
                entry: dict[str, Any] = {"baseUrl": url + "&fmt=srv3", "name": {"runs": [{"text": track.language}]},
                                         "languageCode": track.language, "isTranslatable": False}  # fmt: skip
                if track.kind == "asr":
                    entry["kind"] = "asr"
                tracks.append(entry)
            body["captions"] = {
                "playerCaptionsTracklistRenderer": {"captionTracks": tracks, "translationLanguages": []}
            }
        return Reply.json(200, body)

    def _timedtext(self, request: Request) -> Reply:
        query = request.query
        video = self.data.videos.get(query.get("v", ""))
        track = next((t for t in (video.tracks if video else []) if t.language == query.get("lang")
                      and t.kind == query.get("kind")), None)  # fmt: skip
        if track is None:
            return Reply.text(404, "")
        lines = "".join(
            f'<text start="{start}" dur="{duration}">{html.escape(text)}</text>'
            for start, duration, text in track.lines
        )
        return Reply.text(200, f'<?xml version="1.0" encoding="utf-8" ?><transcript>{lines}</transcript>',
                          content_type="text/xml")  # fmt: skip


def talk_lines(topic: str, minutes: int = 3) -> list[tuple[float, float, str]]:
    """A caption track: one line every 5 seconds for ``minutes``."""
    return [(float(s), 5.0, f"{topic} sentence at second {s}") for s in range(0, minutes * 60, 5)]


def sample_data() -> tuple[YouTubeData, str]:
    """One conference channel with three talks (manual, generated, no captions) and a Short."""
    data = YouTubeData()
    cppcon = data.channel("CppCon")
    data.upload(cppcon, "Back to Basics: Move Semantics - Ada Lovelace - CppCon 2025",
                description="How moves work. Slides: https://example.org/slides",
                tracks=[Track("en", "manual", talk_lines("moves")), Track("en", "asr", talk_lines("asr moves"))])  # fmt: skip
    data.upload(cppcon, "Coroutines in Practice - Grace Hopper - CppCon 2025",
                tracks=[Track("en", "asr", talk_lines("coroutine frames"))])  # fmt: skip
    data.upload(cppcon, "Lightning Talk: Ranges - Alan Turing - CppCon 2025", transcript_mode="disabled")
    data.upload(cppcon, "#shorts one trick", duration="PT30S")
    return data, cppcon


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--api-key", default="yt-test-key")
    args = parser.parse_args(argv)
    data, channel = sample_data()
    server = YouTubeServer(data, api_keys=(args.api_key,), host=args.host, port=args.port)
    print(
        f"YouTube fake on {server.root} (channel {channel}; API base {server.url('/youtube/v3')})", flush=True
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
