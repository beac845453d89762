"""What the WG21 sources write freely, normalised: ids, authors, dates, subgroups; mailing pages
parsed by their header; the dispatch grouping within GitHub's limits."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import DataValidationError
from core.store.outbox import OutboxItem
from tests.fakes.wg21_server import Paper, Wg21Data
from wg21_paper_tracker.config import DispatchSettings
from wg21_paper_tracker.dispatch import build_dispatches
from wg21_paper_tracker.fields import parse_date, parse_doc_id, split_authors, subgroups_of
from wg21_paper_tracker.mailing_pages import mailing_links, mailing_section


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P2300R10", ("P", "2300", 10, "P2300R10", "P2300")),
        ("p0001r0", ("P", "0001", 0, "P0001R0", "P0001")),
        ("N4981", ("N", "4981", None, "N4981", "N4981")),
        ("CWG1234", ("CWG", "1234", None, "CWG1234", "CWG1234")),
        ("SD-1", ("SD-", "1", None, "SD-1", "SD-1")),
        (" EDIT123 ", ("EDIT", "123", None, "EDIT123", "EDIT123")),
    ],
)
def test_document_ids(text: str, expected: tuple[object, ...]) -> None:
    doc = parse_doc_id(text)
    assert doc is not None
    assert (doc.prefix, doc.digits, doc.revision, doc.doc_id, doc.paper) == expected


@pytest.mark.parametrize("text", ["", "P", "2300", "P2300R", "P23X0", "A" * 13 + "1", "P1234567", "P1R1234"])
def test_not_document_ids(text: str) -> None:
    assert parse_doc_id(text) is None


def test_authors_split_on_commas_and_and_keeping_order_once() -> None:
    assert split_authors("Ada Lovelace, Bob Smith and Carol Jones & Dan Wu; Ada Lovelace") == [
        "Ada Lovelace", "Bob Smith", "Carol Jones", "Dan Wu",
    ]  # fmt: skip
    assert split_authors("Alexandra Anderson") == ["Alexandra Anderson"]  # "and" inside a word stays
    assert split_authors(None) == [] and split_authors("  ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-28", dt.date(2024, 6, 28)),
        ("28 Jun 2024", dt.date(2024, 6, 28)),
        ("28 June 2024", dt.date(2024, 6, 28)),
        ("2024-06-28T10:00:00Z", dt.date(2024, 6, 28)),
        ("unknown", None),
        ("", None),
        (None, None),
        ("2024-13-45", None),
    ],
)
def test_dates(text: str | None, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


def test_subgroups_are_canonical() -> None:
    assert subgroups_of("LEWGI SG18: LEWG Incubator") == ["LEWGI", "SG18"]
    assert subgroups_of("EWG, SG21") == ["EWG", "SG21"]
    assert subgroups_of("Evolution") == ["EWG"]
    assert subgroups_of("Library Evolution") == ["LEWG"]
    assert subgroups_of("") == []


def _data() -> Wg21Data:
    data = Wg21Data()
    data.mailing("2025-01", "2025-01 mailing")
    data.paper("2025-01", Paper("P2300R10", "std::execution", "Ada", "2025-01-10", formats=("pdf", "html")))
    data.mailing("2025-02", "2025-02 mailing", announced_only=True)
    return data


def test_mailing_index_and_sections() -> None:
    data = _data()
    base = "https://www.open-std.org/jtc1/sc22/wg21/docs/papers/"
    links = mailing_links(data.papers_index(), base)
    assert [(m.mailing_id, m.title, m.year_page) for m in links] == [
        ("2025-01", "2025-01 mailing", base + "2025/"),
        ("2025-02", "2025-02 mailing", base + "2025/"),
    ]
    page = data.year_page("2025", "")
    assert page is not None
    section = mailing_section(page, base + "2025/", "2025-01")
    assert section is not None and [r.doc.doc_id for r in section.rows] == ["P2300R10"]
    assert section.rows[0].files == (base + "2025/p2300r10.html", base + "2025/p2300r10.pdf")  # html first
    assert mailing_section(page, base + "2025/", "2025-02") is None  # announced, no table yet
    assert mailing_section(page, base + "2025/", "2025-03") is None  # not on the page


def test_a_reordered_table_is_read_by_its_header_and_a_bad_row_is_named() -> None:
    page = b"""<html><body><h2><a id="mailing2025-03">2025-03</a></h2><table>
    <tr><th>Title</th><th>Subgroup</th><th>WG21 Number</th><th>Author</th></tr>
    <tr><td>Good</td><td>SG7</td><td><a href="p3400r0.pdf">P3400R0</a></td><td>Ann</td></tr>
    <tr><td>Bad</td><td>SG7</td><td>no number here</td><td>Bo</td></tr>
    </table></body></html>"""
    section = mailing_section(page, "https://h/papers/2025/", "2025-03")
    assert section is not None
    assert [(r.doc.doc_id, r.title, r.subgroup, r.author) for r in section.rows] == [
        ("P3400R0", "Good", "SG7", "Ann")
    ]
    assert section.rejected == ["mailing 2025-03 row 2: no document number in 'no number here'"]


def test_a_headerless_table_of_unknown_width_is_drift() -> None:
    page = b'<a id="mailing2025-03"></a><table><tr><td>P1R0</td><td>a</td><td>b</td></tr></table>'
    with pytest.raises(DataValidationError, match="3 columns"):
        mailing_section(page, "https://h/", "2025-03")


def _item(n: int, url: str = "https://h/p.pdf") -> OutboxItem:
    return OutboxItem(
        f"wg21:P{n}R0",
        "k",
        {"doc_id": f"P{n}R0", "url": url, "mailing": "2025-01"},
        0,
        dt.datetime.now(dt.UTC),
    )


def test_dispatch_grouping_keeps_order_count_and_byte_caps() -> None:
    settings = DispatchSettings(
        enabled=True, repository="o/r", max_papers_per_dispatch=3, max_payload_bytes=1000
    )
    groups, oversize = build_dispatches([_item(n) for n in range(7)], settings)
    assert [[i.event_key for i in g] for g, _ in groups] == [
        ["wg21:P0R0", "wg21:P1R0", "wg21:P2R0"], ["wg21:P3R0", "wg21:P4R0", "wg21:P5R0"], ["wg21:P6R0"],
    ]  # fmt: skip
    assert oversize == {}
    assert all(len(body["client_payload"]) <= 10 for _, body in groups)
    big = [_item(n, "https://h/" + "x" * 300) for n in range(5)]
    groups, _ = build_dispatches(big, settings)
    assert [len(g) for g, _ in groups] == [2, 2, 1]  # three would pass 1,000 bytes
    groups, oversize = build_dispatches([_item(1, "https://h/" + "x" * 2000), _item(2)], settings)
    assert list(oversize) == ["wg21:P1R0"] and [[i.event_key for i in g] for g, _ in groups] == [
        ["wg21:P2R0"]
    ]
