"""Slack vector documents: one per thread, one per channel-day, markup rendered, deletions followed
through the real vector step into the local sink (both dialects)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.store import Store
from core.vectors.ledger import vector_local_records
from slack_activity_tracker.preprocess import render_markup
from tests.integration.slack_helpers import DAY, NOW, SlackWorld, world


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def _records(w: SlackWorld) -> dict[str, dict[str, object]]:
    store = Store.from_url(w.store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(vector_local_records).where(vector_local_records.c.namespace == "slack"))
            return {r.record_id: {"text": r.text, "metadata": r.metadata} for r in rows}
    finally:
        store.dispose()


def test_markup_is_rendered_readable() -> None:
    users = {"U1": "Ada", "U2": "Bob"}
    channels = {"C2": "boost-users"}
    text = ("<@U1> see <#C2> and <#C3|dev>, <https://boost.org|Boost> or <https://x.org>, "
            "<!here> <mailto:a@b.org|a@b.org> :tada: :custom_emoji: a &lt;b&gt; &amp; c <@U9>")
    assert render_markup(text, users, channels) == (
        "@Ada see #boost-users and #dev, [Boost](https://boost.org) or https://x.org, "
        "@here [a@b.org](mailto:a@b.org) 🎉 :custom_emoji: a <b> & c @U9"
    )


def test_thread_and_day_documents_with_names_resolved(w: SlackWorld) -> None:
    day = NOW - 2 * DAY
    root = w.data.post("T1", "C1", "U1", "How do I use <#C1|general>? :thinking_face:", at=day)
    w.data.reply("T1", "C1", root, "U2", "Ask <@U1>", at=day + 60)
    w.data.post("T1", "C1", "U2", "unrelated", at=day + 120)
    w.data.join_event("T1", "C1", "U2", at=day + 130)
    w.collect()

    docs = {d.doc_id: d for d in w.collector().preprocess(None, [])}

    thread = docs[f"T1/C1/{root}"]
    assert "**@Ada**" in thread.text and "**@Bob**" in thread.text and "Ask @Ada" in thread.text
    assert "#general? 🤔" in thread.text
    assert thread.metadata["kind"] == "thread" and thread.metadata["thread_ts"] == root
    assert thread.metadata["authors"] == ["Ada", "Bob"] and thread.metadata["message_count"] == 2
    assert thread.metadata["url"] == (
        f"https://acme.slack.com/archives/C1/p{root.replace('.', '')}?thread_ts={root}&cid=C1"
    )
    assert thread.metadata["team_id"] == "T1" and thread.metadata["channel"] == "general"
    day_doc = [d for key, d in docs.items() if key.startswith("T1/C1/20")]
    assert len(day_doc) == 1 and "unrelated" in day_doc[0].text
    assert "has joined" not in day_doc[0].text  # join noise is stored, not embedded
    assert "How do I" not in day_doc[0].text  # a root with replies lives in its thread document


def test_edit_and_delete_follow_into_the_sink(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "question", at=NOW - DAY)
    reply = w.data.reply("T1", "C1", root, "U2", "wrong answer", at=NOW - DAY + 5)
    w.data.reply("T1", "C1", root, "U1", "thanks", at=NOW - DAY + 10)
    alone = w.data.post("T1", "C1", "U2", "lonely message", at=NOW - DAY + 20)
    w.collect()
    w.collector().sync_pinecone()
    records = _records(w)
    assert any("wrong answer" in str(r["text"]) for r in records.values())
    assert any("lonely message" in str(r["text"]) for r in records.values())

    w.clock.advance(600)
    w.data.delete("T1", "C1", reply)
    w.data.delete("T1", "C1", alone)
    w.data.edit("T1", "C1", root, "better question")
    w.collect()
    w.collector().sync_pinecone()

    records = _records(w)
    texts = " ".join(str(r["text"]) for r in records.values())
    assert "wrong answer" not in texts and "thanks" in texts and "better question" in texts
    assert "lonely message" not in texts  # the day document had no live message left: removed
    assert not [r for r in records.values() if isinstance(r["metadata"], dict) and r["metadata"].get("kind") == "day"]


def test_files_are_rendered_and_tombstones_left_out(w: SlackWorld) -> None:
    _ts, _file = w.data.file_share("T1", "C1", "U1", "my code", name="main.cpp", filetype="cpp",
                                  preview="int main() {}", at=NOW - DAY)
    root = w.data.post("T1", "C1", "U1", "secret question", at=NOW - DAY + 10)
    w.data.reply("T1", "C1", root, "U2", "public answer", at=NOW - DAY + 20)
    w.data.delete("T1", "C1", root)  # a root with replies: a tombstone
    w.collect()
    docs = {d.doc_id: d for d in w.collector().preprocess(None, [])}
    day = next(d for key, d in docs.items() if key.startswith("T1/C1/20"))
    assert "[file: main.cpp (cpp)]\nint main() {}" in day.text
    thread = docs[f"T1/C1/{root}"]
    assert "public answer" in thread.text and "deleted" not in thread.text and "secret" not in thread.text
