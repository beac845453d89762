"""Boost release source archives for tests and benchmarks, written here (no Boost file is copied).

An archive has the real layout: one top directory ``boost_1_86_0/`` with headers under
``boost/``, each library under ``libs/<key>/`` (its ``doc/`` with built HTML, a forwarding
``doc/index.html``), centrally built BoostBook output under ``doc/html/``, Antora sites under
``doc/antora/<key>/``. Pages come in the frames of the three documentation toolchains Boost
uses (BoostBook/QuickBook via DocBook XSL, Asciidoctor, Antora), each with its navigation
chrome, so a test can check that only the content survives.

``ReleaseDocs`` describes one release (library -> pages); ``write_archive`` streams it into a
``.tar.gz``/``.tar.bz2`` file; ``filler`` pads an archive with header files up to a size (the
benchmark's few hundred MB).
"""

from __future__ import annotations

import dataclasses
import html
import io
import random
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "ReleaseDocs",
    "antora_page",
    "asciidoctor_page",
    "boostbook_page",
    "redirect_page",
    "sample_release",
    "write_archive",
]

CHROME_MARKERS = (
    "Home</a>",
    "Libraries</a>",
    "Table of Contents",
    "Last updated",
    "Edit this Page",
    "Copyright",
)


def boostbook_page(title: str, sections: list[tuple[str, str]], *, prev: str = "index.html") -> str:
    """A QuickBook/BoostBook page as DocBook XSL builds it for Boost."""
    body = "".join(
        f'<div class="section"><div class="titlepage"><div><div><h3 class="title">'
        f'<a name="s{i}"></a><a class="link" href="#s{i}">{html.escape(h)}</a></h3></div></div></div>'
        f"<p>{html.escape(p)}</p>"
        f'<pre class="programlisting"><span class="keyword">int</span> <span class="identifier">x</span> = {i};</pre>'
        f"</div>"
        for i, (h, p) in enumerate(sections)
    )
    nav = (
        '<div class="spirit-nav">'
        f'<a accesskey="p" href="{prev}"><img src="../../../../doc/src/images/prev.png" alt="Prev"></a>'
        '<a accesskey="u" href="index.html"><img src="../../../../doc/src/images/up.png" alt="Up"></a>'
        '<a accesskey="h" href="index.html"><img src="../../../../doc/src/images/home.png" alt="Home"></a>'
        "</div>"
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=US-ASCII">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="../../../../doc/src/boostbook.css" type="text/css">'
        '<meta name="generator" content="DocBook XSL Stylesheets V1.79.1"></head>'
        '<body bgcolor="white" text="black" link="#0000FF" vlink="#840084" alink="#0000FF">'
        '<table cellpadding="2" width="100%"><tr>'
        '<td valign="top"><img alt="Boost C++ Libraries" width="277" height="86" src="../../../../boost.png"></td>'
        '<td align="center"><a href="../../../../index.html">Home</a></td>'
        '<td align="center"><a href="../../../../libs/libraries.htm">Libraries</a></td>'
        '<td align="center"><a href="http://www.boost.org/users/people.html">People</a></td>'
        '<td align="center"><a href="http://www.boost.org/users/faq.html">FAQ</a></td>'
        '<td align="center"><a href="../../../../more/index.htm">More</a></td>'
        "</tr></table><hr>"
        f"{nav}"
        f'<div class="section"><div class="titlepage"><div><div><h2 class="title" style="clear: both">'
        f'<a name="top"></a>{html.escape(title)}</h2></div></div></div>{body}</div>'
        '<table xmlns:rev="http://www.cs.rpi.edu/~gregod/boost/tools/doc/revision" width="100%"><tr>'
        '<td align="left"></td><td align="right"><div class="copyright-footer">Copyright &#169; 2024 The Authors'
        "<p>Distributed under the Boost Software License, Version 1.0.</p></div></td></tr></table>"
        f"<hr>{nav}</body></html>"
    )


def asciidoctor_page(title: str, sections: list[tuple[str, str]], *, author: str = "Jane Doe") -> str:
    """A single-page Asciidoctor document with a left table of contents (``toc2``)."""
    toc = "".join(f'<li><a href="#s{i}">{html.escape(h)}</a></li>' for i, (h, _) in enumerate(sections))
    body = "".join(
        f'<div class="sect1"><h2 id="s{i}"><a class="anchor" href="#s{i}"></a>{html.escape(h)}</h2>'
        f'<div class="sectionbody"><div class="paragraph"><p>{html.escape(p)}</p></div>'
        f'<div class="listingblock"><div class="content"><pre class="highlight"><code class="language-cpp" '
        f'data-lang="cpp">auto v = f({i});</code></pre></div></div></div></div>'
        for i, (h, p) in enumerate(sections)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">'
        '<meta name="generator" content="Asciidoctor 2.0.23">'
        f"<title>{html.escape(title)}</title><style>body{{margin:0}}</style></head>"
        '<body class="article toc2 toc-left">'
        f'<div id="header"><h1>{html.escape(title)}</h1>'
        f'<div class="details"><span id="author" class="author">{html.escape(author)}</span></div>'
        '<div id="toc" class="toc2"><div id="toctitle">Table of Contents</div>'
        f'<ul class="sectlevel1">{toc}</ul></div></div>'
        f'<div id="content">{body}</div>'
        '<div id="footer"><div id="footer-text">Last updated 2024-08-07 14:02:11 UTC</div></div>'
        "</body></html>"
    )


def antora_page(title: str, sections: list[tuple[str, str]], *, component: str = "url") -> str:
    """A page of an Antora site (default UI frame: navbar, nav tree, toolbar, page TOC, footer)."""
    body = "".join(
        f'<div class="sect1"><h2 id="s{i}"><a class="anchor" href="#s{i}"></a>{html.escape(h)}</h2>'
        f'<div class="sectionbody"><div class="paragraph"><p>{html.escape(p)}</p></div></div></div>'
        for i, (h, p) in enumerate(sections)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} :: Boost.{component.title()}</title>"
        '<meta name="generator" content="Antora 3.1.9"><link rel="stylesheet" href="../_/css/site.css"></head>'
        '<body class="article"><header class="header"><nav class="navbar"><div class="navbar-brand">'
        '<a class="navbar-item" href="../index.html">Boost Libraries</a></div>'
        '<div class="navbar-menu"><a class="navbar-item" href="#">Home</a></div></nav></header>'
        '<div class="body"><div class="nav-container" data-component="url" data-version="">'
        '<aside class="nav"><div class="panels"><div class="nav-panel-menu is-active">'
        f'<nav class="nav-menu"><h3 class="title"><a href="index.html">Boost.{component.title()}</a></h3>'
        '<ul class="nav-list"><li class="nav-item"><a class="nav-link" href="index.html">Introduction</a></li>'
        "</ul></nav></div></div></aside></div>"
        '<main class="article"><div class="toolbar" role="navigation"><button class="nav-toggle"></button>'
        '<nav class="breadcrumbs" aria-label="breadcrumbs"><ul><li><a href="index.html">Boost.Url</a></li>'
        f"<li>{html.escape(title)}</li></ul></nav>"
        '<div class="edit-this-page"><a href="https://example.invalid/edit">Edit this Page</a></div></div>'
        '<div class="content"><aside class="toc sidebar" data-title="Contents" data-levels="2">'
        '<div class="toc-menu"></div></aside>'
        f'<article class="doc"><h1 class="page">{html.escape(title)}</h1>{body}'
        '<nav class="pagination"><span class="next"><a href="next.html">Next</a></span></nav>'
        "</article></div></main></div>"
        '<footer class="footer"><p>Copyright 2024 the authors.</p></footer></body></html>'
    )


def redirect_page(target: str = "html/index.html") -> str:
    return (
        f'<html><head><meta http-equiv="refresh" content="0; URL={target}"></head>'
        f'<body>Automatic redirection failed, please go to <a href="{target}">{target}</a></body></html>'
    )


@dataclasses.dataclass
class ReleaseDocs:
    """One release's documentation files: archive path below the top directory -> HTML."""

    version: str
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    binary: dict[str, bytes] = dataclasses.field(default_factory=dict)  # images and the like

    @property
    def top(self) -> str:
        return "boost_" + self.version.replace(".", "_")

    def copy(self, version: str) -> ReleaseDocs:
        return ReleaseDocs(version, dict(self.files), dict(self.binary))


def sample_release(version: str = "1.86.0") -> ReleaseDocs:
    """A few libraries in each toolchain, with the non-documentation files around them."""

    def said(text: str) -> str:  # paragraphs long enough to be worth a vector record
        return f"{text} This section explains it with an example and the guarantees it gives."

    release = ReleaseDocs(version)
    f = release.files
    f["libs/algorithm/doc/index.html"] = redirect_page()
    f["libs/algorithm/doc/html/index.html"] = boostbook_page(
        "The Boost Algorithm Library",
        [
            ("Description and Rationale", said("Algorithms for sequences.")),
            ("Searching", said("Boyer-Moore and friends.")),
        ],
    )
    f["libs/algorithm/doc/html/algorithm/Searching.html"] = boostbook_page(
        "Searching Algorithms", [("Boyer-Moore Search", said("Finds a pattern in linear time."))]
    )
    f["libs/algorithm/minmax/index.html"] = boostbook_page(
        "Minmax", [("Motivation", said("Both ends in one pass."))]
    )
    f["doc/html/boost_asio/overview.html"] = boostbook_page(
        "Overview",
        [("Rationale", said("Asynchronous I/O for networking.")), ("Strands", said("Serialized handlers."))],
    )
    f["libs/mp11/doc/html/mp11.html"] = asciidoctor_page(
        "Boost.Mp11: A C++11 metaprogramming library",
        [("Overview", said("Lists of types.")), ("Reference", said("mp_list and mp_transform."))],
    )
    f["doc/antora/url/index.html"] = antora_page(
        "Boost.URL", [("Quick Look", said("Parse a URL.")), ("Design", said("No allocation."))]
    )
    f["doc/antora/url/urls/parsing.html"] = antora_page("Parsing", [("Grammar", said("RFC 3986 rules."))])
    f["boost/version.hpp"] = f'#define BOOST_LIB_VERSION "{version.replace(".", "_")}"\n'
    f["libs/algorithm/test/search_test1.cpp"] = "int main() {}\n"
    f["index.html"] = "<html><body>Boost home</body></html>"
    # a diagram that does not compress: the archive is large enough to be cut mid-way in tests
    release.binary["libs/algorithm/doc/html/images/search.png"] = random.Random(version).randbytes(768 * 1024)
    return release


def _members(release: ReleaseDocs, filler_bytes: int) -> Iterator[tuple[str, bytes]]:
    for path in sorted(release.files):
        yield f"{release.top}/{path}", release.files[path].encode()
    for path in sorted(release.binary):
        yield f"{release.top}/{path}", release.binary[path]
    produced, n = 0, 0
    while produced < filler_bytes:  # headers: text that compresses like real C++ (not zeros)
        chunk = "".join(
            f"template <class T{i}> struct traits_{n}_{i} {{ using type = T{i}; static constexpr int value = {i * n}; }};\n"
            for i in range(400)
        ).encode()
        yield f"{release.top}/boost/detail/generated_{n:06d}.hpp", chunk
        produced += len(chunk)
        n += 1


def write_archive(release: ReleaseDocs, path: Path, *, filler_bytes: int = 0) -> Path:
    """The release as ``path`` (``.tar.gz`` or ``.tar.bz2``, by suffix), written as a stream."""
    mode = "w|bz2" if path.name.endswith(".bz2") else "w|gz"
    directories: set[str] = set()
    with path.open("wb") as out, tarfile.open(fileobj=out, mode=mode) as tar:
        for name, data in _members(release, filler_bytes):
            parent = name.rsplit("/", 1)[0]
            parts = parent.split("/")
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    info = tarfile.TarInfo(directory + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return path
