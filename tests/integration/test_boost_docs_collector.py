"""The Boost docs tracker against the fake archive server over real HTTP, into a real store on
both dialects: release discovery, the streamed archive, pages per toolchain, content dedup
across releases, the vector documents of the latest release (a removed page leaves the sink),
the ``versions`` param, resume after a body cut short, 429/5xx, damaged archives and hostile
pages. Only time is fake (the clients' sleeps advance a clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from boost_docs_tracker.collector import BoostDocsCollector
from boost_docs_tracker.protocol_impl import BoostDocsCollectResult
from boost_docs_tracker.tables import boost_doc_contents, boost_doc_pages, boost_doc_releases
from core.collectors import RunContext
from core.errors import (
    CollectorFailureCategory,
    ConfigError,
    DataValidationError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    classify_failure,
)
from core.store import Store
from core.vectors.local_sink import search_local_records
from tests.fakes.boost_archive import ReleaseDocs, antora_page, boostbook_page, sample_release
from tests.fakes.boost_archive_server import BoostArchiveServer
from tests.fakes.wire import FakeClock, Fault

ARCHIVE_186 = "/release/1.86.0/source/boost_1_86_0.tar.gz"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[BoostArchiveServer]:
    with BoostArchiveServer(clock=clock.time) as srv:
        srv.publish(sample_release("1.85.0"))
        srv.publish(sample_release("1.86.0"))
        yield srv


def collector(
    server: BoostArchiveServer,
    store_url: str,
    clock: FakeClock,
    tmp_path: Path,
    *,
    config: dict[str, Any] | None = None,
    **context: Any,
) -> BoostDocsCollector:
    settings = {
        "archive_url": server.archive_url(),
        "work_dir": str(tmp_path / "work"),
        "vectors": {"sink": "local", "namespace": "boost_docs"},
        **(config or {}),
    }
    made = BoostDocsCollector(settings, context=RunContext(store_url=store_url, **context))
    made.clock, made.sleep = clock.time, clock.sleep
    return made


def run(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path, **kwargs: Any
) -> BoostDocsCollectResult:
    result = collector(server, store_url, clock, tmp_path, **kwargs).run()
    assert isinstance(result, BoostDocsCollectResult)
    return result


def table(store_url: str, which: Any) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        found = [dict(r) for r in conn.execute(select(which)).mappings()]
    store.dispose()
    return found


def pages_of(store_url: str, version: str) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in table(store_url, boost_doc_pages) if r["version"] == version}


def archive_requests(server: BoostArchiveServer) -> list[tuple[str, int, str | None]]:
    return [(e.path, e.status, e.header("Range")) for e in server.log if e.path.endswith((".gz", ".bz2"))]


def search(store_url: str, text: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        return search_local_records(store, text, namespace="boost_docs")
    finally:
        store.dispose()


def test_first_run_indexes_the_newest_stable_release_from_its_archive(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    result = run(server, store_url, clock, tmp_path)
    assert result.news == {"versions": ["1.86.0"]}  # 1.85.0 is older, 1.30.0.beta1 not stable
    assert archive_requests(server) == [(ARCHIVE_186, 200, None)]  # one download per release
    pages = pages_of(store_url, "1.86.0")
    assert sorted(pages) == [
        "doc/antora/url/index.html",
        "doc/antora/url/urls/parsing.html",
        "doc/html/boost_asio/overview.html",
        "libs/algorithm/doc/html/algorithm/Searching.html",
        "libs/algorithm/doc/html/index.html",
        "libs/algorithm/minmax/index.html",
        "libs/mp11/doc/html/mp11.html",
    ]  # the forwarding doc/index.html, headers, tests and the site's index.html are not pages
    assert result.counts["pages"] == 7 and result.counts["pages_redirects"] == 1
    url = pages["doc/antora/url/urls/parsing.html"]
    assert (url["library_key"], url["doc_id"], url["toolchain"], url["title"]) == (
        "url", "url/urls/parsing.html", "antora", "Parsing",
    )  # fmt: skip
    assert url["url"] == "https://www.boost.org/doc/libs/1_86_0/doc/antora/url/urls/parsing.html"
    assert pages["doc/html/boost_asio/overview.html"]["doc_id"] == "asio/boost_asio/overview.html"
    assert pages["libs/mp11/doc/html/mp11.html"]["doc_id"] == "mp11/doc/html/mp11.html"
    [release] = table(store_url, boost_doc_releases)
    assert (release["version"], release["pages"], release["pages_failed"]) == ("1.86.0", 7, 0)
    assert release["etag"] and release["archive_bytes"] > 0
    assert not list((tmp_path / "work").iterdir())  # the archive is gone once read


def test_markdown_keeps_the_content_of_each_toolchain_and_drops_its_chrome(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    pages = pages_of(store_url, "1.86.0")
    markdown = {r["content_hash"]: r["markdown"] for r in table(store_url, boost_doc_contents)}
    expected = {
        "libs/algorithm/doc/html/algorithm/Searching.html": (
            "boostbook",
            "### Boyer-Moore Search",
            "```cpp\nint x = 0;\n```",
        ),
        "libs/mp11/doc/html/mp11.html": (
            "asciidoctor",
            "# Boost.Mp11: A C++11 metaprogramming library",
            "## Reference\n\nmp_list and mp_transform. This section",
        ),
        "doc/antora/url/index.html": ("antora", "# Boost.URL", "## Design\n\nNo allocation. This section"),
    }
    for path, (toolchain, heading, body) in expected.items():
        text = markdown[pages[path]["content_hash"]]
        assert pages[path]["toolchain"] == toolchain
        assert heading in text and body in text, (path, text)
        for chrome in ("Home", "Libraries", "Prev", "Table of Contents", "Last updated", "Edit this Page",
                       "Copyright", "Boost C++ Libraries", "Introduction", "Next", "Jane Doe"):  # fmt: skip
            assert chrome not in text, (path, chrome, text)
    assert pages["libs/mp11/doc/html/mp11.html"]["headings"] == (
        '["Boost.Mp11: A C++11 metaprogramming library", "Overview", "Reference"]'
    )


def test_an_unchanged_run_downloads_nothing_and_announces_nothing(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    server.log.clear()
    again = run(server, store_url, clock, tmp_path)
    assert again.news is None and again.counts["versions_indexed"] == 0
    assert [e.path for e in server.log] == ["/release/"]


def test_a_new_release_replaces_pages_in_the_index_and_a_removed_page_leaves_it(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    first = collector(server, store_url, clock, tmp_path).sync_pinecone()
    assert first is not None and first.counts["records_upserted"] == 7
    assert [r["record_id"] for r in search(store_url, "Grammar RFC 3986")] == [
        "boost_docs:url/urls/parsing.html:0"
    ]

    newer = sample_release("1.87.0")
    del newer.files["doc/antora/url/urls/parsing.html"]  # removed in 1.87.0
    newer.files["doc/antora/url/index.html"] = antora_page(
        "Boost.URL", [("Quick Look", "Parse a URI reference, then resolve it against a base URL.")]
    )
    server.publish(newer)
    result = run(server, store_url, clock, tmp_path)
    assert result.news == {"versions": ["1.87.0"]}
    synced = collector(server, store_url, clock, tmp_path).sync_pinecone()
    assert synced is not None and synced.counts["documents"] == 6 and synced.counts["documents_removed"] == 1
    assert search(store_url, "Grammar RFC 3986") == []  # the removed page's records are deleted
    [index] = [r for r in search(store_url, "Quick Look") if r["record_id"] == "boost_docs:url/index.html:0"]
    assert "URI reference" in str(index["text"]) and index["metadata"]["version"] == "1.87.0"
    # an unchanged page's content is stored once, for both releases
    same = pages_of(store_url, "1.87.0")["libs/mp11/doc/html/mp11.html"]["content_hash"]
    assert pages_of(store_url, "1.86.0")["libs/mp11/doc/html/mp11.html"]["content_hash"] == same
    [content] = [c for c in table(store_url, boost_doc_contents) if c["content_hash"] == same]
    assert (content["first_version"], content["last_version"]) == ("1.86.0", "1.87.0")
    quiet = collector(server, store_url, clock, tmp_path).sync_pinecone()
    assert (
        quiet is not None and quiet.counts["records_upserted"] == 0 and quiet.counts["documents_removed"] == 0
    )


def test_the_versions_param_indexes_an_older_release_without_touching_the_index(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    collector(server, store_url, clock, tmp_path).sync_pinecone()
    server.log.clear()
    backfill = run(server, store_url, clock, tmp_path, params={"versions": ["1.85.0"]})
    assert backfill.news == {"versions": ["1.85.0"]}
    assert [e.path for e in server.log] == ["/release/1.85.0/source/boost_1_85_0.tar.gz"]  # no listing asked
    assert len(pages_of(store_url, "1.85.0")) == 7
    synced = collector(server, store_url, clock, tmp_path).sync_pinecone()
    assert (
        synced is not None
        and synced.counts["records_upserted"] == 0
        and synced.counts["documents_removed"] == 0
    )
    assert search(store_url, "Boyer-Moore")[0]["metadata"]["version"] == "1.86.0"  # the latest stays
    again = run(server, store_url, clock, tmp_path, params={"versions": ["1.85.0"]})
    assert again.counts["versions_not_modified"] == 1 and again.news is None  # If-None-Match: 304
    assert server.log.select(path="/release/1.85.0/source/boost_1_85_0.tar.gz")[-1].status == 304


@pytest.mark.parametrize("bad", ["1.86", "boost-1.86.0", "1.87.0.beta1", "latest"])
def test_a_bad_version_in_the_param_is_a_config_error_naming_it(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path, bad: str
) -> None:
    with pytest.raises(ConfigError, match="versions") as info:
        run(server, store_url, clock, tmp_path, params={"versions": ["1.86.0", bad]})
    assert repr(bad) in str(info.value)
    assert not [e for e in server.log if e.path.endswith(".gz")]


def test_a_download_cut_short_resumes_where_it_stopped(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    server.inject(Fault(disconnect="mid_body", path=ARCHIVE_186))
    result = run(server, store_url, clock, tmp_path)
    requests = archive_requests(server)
    assert len(requests) == 2 and requests[1][1] == 206 and requests[1][2] is not None
    assert requests[1][2].startswith("bytes=") and requests[1][2] != "bytes=0-"
    assert result.counts["archive_resumed"] == 1 and result.counts["pages"] == 7


def test_a_short_retry_after_is_waited_out_and_a_long_one_fails_rate_limited(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    server.inject(Fault(429, headers={"Retry-After": "30"}, path=ARCHIVE_186))
    started = clock.time()
    assert run(server, store_url, clock, tmp_path).news == {"versions": ["1.86.0"]}
    assert clock.time() - started >= 30

    server.publish(sample_release("1.87.0"))
    server.inject(Fault(429, headers={"Retry-After": "7200"}, path="/release/1.87.0/"))
    with pytest.raises(RateLimitError) as info:
        run(server, store_url, clock, tmp_path)
    assert classify_failure(info.value) is CollectorFailureCategory.RATE_LIMIT
    assert info.value.retry_at is not None and info.value.retry_at.timestamp() >= clock.time() + 7000
    assert [r["version"] for r in table(store_url, boost_doc_releases)] == ["1.86.0"]


def test_server_errors_past_the_retries_fail_as_network_and_record_nothing(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    server.inject(Fault(503, path=ARCHIVE_186, times=10))
    with pytest.raises(NetworkError) as info:
        run(server, store_url, clock, tmp_path, config={"transient_max_retries": 2})
    assert classify_failure(info.value) is CollectorFailureCategory.NETWORK
    assert len(archive_requests(server)) == 3 and table(store_url, boost_doc_releases) == []
    server.faults.clear()
    assert run(server, store_url, clock, tmp_path).news == {"versions": ["1.86.0"]}


@pytest.mark.parametrize("cut", [2 / 3, 0.999], ids=["two_thirds", "trailer"])
def test_a_damaged_archive_fails_naming_it_and_the_release_stays_unindexed(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path, cut: float
) -> None:
    run(server, store_url, clock, tmp_path)
    collector(server, store_url, clock, tmp_path).sync_pinecone()
    newer = sample_release("1.87.0")
    newer.binary.clear()  # pages only: a cut can fall between members, where tarfile alone stops quietly
    server.publish(newer)
    key = ("1.87.0", "boost_1_87_0.tar.gz")
    whole = server.archives[key]
    server.archives[key] = whole[: int(len(whole) * cut)]  # a truncated file, served as complete
    with pytest.raises(DataValidationError, match=r"boost_1_87_0\.tar\.gz") as info:
        run(server, store_url, clock, tmp_path, config={"batch_pages": 2})
    assert classify_failure(info.value) is CollectorFailureCategory.VALIDATION
    assert [r["version"] for r in table(store_url, boost_doc_releases)] == ["1.86.0"]  # checkpoint unmoved
    synced = collector(server, store_url, clock, tmp_path).sync_pinecone()  # the index keeps 1.86.0
    assert (
        synced is not None
        and synced.counts["records_upserted"] == 0
        and synced.counts["documents_removed"] == 0
    )
    server.archives[key] = whole
    assert run(server, store_url, clock, tmp_path).news == {
        "versions": ["1.87.0"]
    }  # the next run finishes it


def test_hostile_pages_are_skipped_with_their_path_and_the_others_are_stored(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    release = sample_release("1.87.0")
    release.files["libs/deep/doc/html/index.html"] = "<div>" * 10_000 + "deep" + "</div>" * 10_000
    release.files["libs/huge/doc/html/index.html"] = boostbook_page("Huge", [("Big", "x" * 300_000)])
    release.files["libs/latin/doc/html/index.html"] = boostbook_page(
        "Caf\u00e9", [("Men\u00fc", "ok")]
    ).replace("US-ASCII", "ISO-8859-1")
    server.archives[("1.87.0", "boost_1_87_0.tar.gz")] = _latin1_archive(release, tmp_path)
    server.listed.add("1.87.0")
    result = run(
        server, store_url, clock, tmp_path, config={"max_page_bytes": 200_000, "initial_versions": 1}
    )
    assert result.news == {"versions": ["1.87.0"]}
    pages = pages_of(store_url, "1.87.0")
    assert "libs/deep/doc/html/index.html" not in pages and "libs/huge/doc/html/index.html" not in pages
    assert pages["libs/latin/doc/html/index.html"]["title"] == "Caf\u00e9"
    assert len(pages) == 8
    assert result.counts["pages_failed"] == 1 and result.counts["pages_too_large"] == 1
    assert any("libs/deep/doc/html/index.html" in e for e in result.errors)
    assert any("libs/huge/doc/html/index.html" in e for e in result.errors)
    [release_row] = table(store_url, boost_doc_releases)
    assert release_row["pages_failed"] == 1


def _latin1_archive(release: ReleaseDocs, tmp_path: Path) -> bytes:
    """The release with its ``latin`` page stored in ISO-8859-1, as old BoostBook pages are."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in release.files.items():
            data = text.encode("latin-1") if "/latin/" in path else text.encode()
            info = tarfile.TarInfo(f"{release.top}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_listed_release_without_an_archive_waits_and_a_requested_one_fails(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    server.listed.add("1.87.0")  # the directory exists, the upload has not happened yet
    waiting = run(server, store_url, clock, tmp_path)
    assert waiting.news is None and waiting.counts["versions_without_archive"] == 1
    with pytest.raises(PermissionDeniedError, match=r"boost_1_87_0\.tar\.gz") as info:
        run(server, store_url, clock, tmp_path, params={"versions": ["1.87.0"]})
    assert classify_failure(info.value) is CollectorFailureCategory.PERMISSION
    server.publish(sample_release("1.87.0"))
    assert run(server, store_url, clock, tmp_path).news == {"versions": ["1.87.0"]}


def test_tar_bz2_archives_are_read_the_same_way(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    server.publish(sample_release("1.87.0"), formats=("tar.bz2",))
    result = run(server, store_url, clock, tmp_path, config={"archive_format": "tar.bz2"})
    assert result.news == {"versions": ["1.87.0"]} and result.counts["pages"] == 7
    assert archive_requests(server) == [("/release/1.87.0/source/boost_1_87_0.tar.bz2", 200, None)]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"archive_format": "zip"}, "archive_format"),
        ({"archive_url": "ftp://example.org/release"}, "archive_url"),
        ({"batch_pages": 0}, "batch_pages"),
        ({"max_page_byte": 5}, "max_page_byte"),
    ],
)
def test_config_errors_name_the_field(store_url: str, config: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        BoostDocsCollector(config, context=RunContext(store_url=store_url)).validate_config()


def test_a_partial_download_of_a_file_that_changed_since_starts_over(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "boost_1_86_0.tar.gz.part").write_bytes(b"stale bytes of an older upload")
    (work / "boost_1_86_0.tar.gz.part-etag").write_text('"an-older-etag"')
    result = run(server, store_url, clock, tmp_path)
    [(path, status, asked)] = archive_requests(server)
    assert (path, status, asked) == (ARCHIVE_186, 200, "bytes=30-")  # If-Range did not match: whole file
    assert result.counts["pages"] == 7 and result.counts["archive_resumed"] == 0
    assert not list(work.iterdir())


def test_a_full_refresh_downloads_a_release_again_and_drops_the_pages_it_no_longer_has(
    server: BoostArchiveServer, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    run(server, store_url, clock, tmp_path)
    republished = sample_release("1.86.0")
    del republished.files["libs/algorithm/minmax/index.html"]
    server.publish(republished)
    unchanged = run(server, store_url, clock, tmp_path, params={"versions": ["1.86.0"]})
    assert unchanged.counts.get("versions_not_modified", 0) == 0  # a new ETag: downloaded again
    assert unchanged.counts["pages_deleted"] == 1
    assert "libs/algorithm/minmax/index.html" not in pages_of(store_url, "1.86.0")
    again = run(server, store_url, clock, tmp_path, params={"versions": ["1.86.0"]}, full_refresh=True)
    assert again.counts["versions_indexed"] == 1 and again.counts["pages"] == 6
    assert archive_requests(server)[-1][1] == 200
    listed = run(server, store_url, clock, tmp_path, full_refresh=True)  # no versions: the newest again
    assert listed.news == {"versions": ["1.86.0"]} and archive_requests(server)[-1][1] == 200
