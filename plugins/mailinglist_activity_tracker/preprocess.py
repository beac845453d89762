"""Messages -> one vector document per thread.

``doc_id`` = ``<list fqdn>/<thread id>`` (ASCII). Text: ``# <subject>``, then each live message in
thread order (sent date, then hash) as ``## <sender> — <date>`` and its body with quoted lines,
attributions, signatures, list footers and PGP armor stripped (:func:`mail.clean_body`).
A thread whose messages all left it (deleted, or reattached elsewhere) is removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, tuple_

from core.store.timestamps import as_utc
from core.vectors.documents import Document
from mailinglist_activity_tracker.mail import clean_body
from mailinglist_activity_tracker.tables import ml_messages, ml_threads

__all__ = ["removed_thread_documents", "thread_documents"]

_m = ml_messages
_BATCH = 500


def _doc_id(fqdn: str, thread_id: str) -> str:
    return f"{fqdn}/{thread_id}"


def _split(doc_id: str) -> tuple[str, str] | None:
    fqdn, _, thread_id = doc_id.rpartition("/")
    return (fqdn, thread_id) if fqdn and thread_id else None


def _changed_threads(engine: Engine, changed_since: int | None) -> Iterator[list[tuple[str, str]]]:
    """(list, thread) pairs touched at or after ``changed_since``: current and previous threads."""
    query = select(_m.c.list_fqdn, _m.c.thread_id, _m.c.previous_thread_id)
    if changed_since is not None:
        query = query.where(_m.c.change_seq >= changed_since)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
        for part in result.partitions(_BATCH):
            pairs: list[tuple[str, str]] = []
            for fqdn, thread_id, previous in part:
                pairs.append((fqdn, thread_id))
                if previous:
                    pairs.append((fqdn, previous))
            yield pairs


_THREADS_PER_QUERY = 100  # bounds the rows held at once: a few long threads are many messages


def _threads_rows(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The live messages of each (list, thread) in ``pairs``, in thread order, loaded set-based:
    two statements per list and ``_THREADS_PER_QUERY`` threads, whatever the number of threads."""
    by_list: dict[str, list[str]] = {}
    for fqdn, thread_id in pairs:
        by_list.setdefault(fqdn, []).append(thread_id)
    threads: dict[tuple[str, str], list[dict[str, Any]]] = {pair: [] for pair in pairs}
    subjects: dict[tuple[str, str], str | None] = {}
    for fqdn, thread_ids in sorted(by_list.items()):
        for start in range(0, len(thread_ids), _THREADS_PER_QUERY):
            chunk = thread_ids[start : start + _THREADS_PER_QUERY]
            rows = conn.execute(
                select(
                    _m.c.thread_id,
                    _m.c.message_id_hash,
                    _m.c.subject,
                    _m.c.sender_name,
                    _m.c.sender_address,
                    _m.c.sent_at,
                    _m.c.first_seen_at,
                    _m.c.content,
                    _m.c.attachments,
                ).where(_m.c.list_fqdn == fqdn, _m.c.thread_id.in_(chunk), _m.c.deleted_at.is_(None))
            ).mappings()
            for row in rows:
                record = dict(row)
                threads[(fqdn, record.pop("thread_id"))].append(record)
            found = conn.execute(
                select(ml_threads.c.thread_id, ml_threads.c.subject).where(
                    ml_threads.c.list_fqdn == fqdn, ml_threads.c.thread_id.in_(chunk)
                )
            )
            subjects.update(((fqdn, thread_id), subject) for thread_id, subject in found)
    for pair, out in threads.items():
        for row in out:
            row["when"] = as_utc(row["sent_at"] or row["first_seen_at"])
        out.sort(key=lambda r: (r["when"], r["message_id_hash"]))
        if out:
            out[0]["thread_subject"] = subjects.get(pair)
    return threads


def _sender(row: dict[str, Any]) -> str:
    return row["sender_name"] or (row["sender_address"] or "unknown").split("@", 1)[0]


def _document(fqdn: str, thread_id: str, rows: list[dict[str, Any]], base_url: str) -> Document:
    start = next((r for r in rows if r["message_id_hash"] == thread_id), rows[0])
    subject = rows[0].get("thread_subject") or start["subject"] or "(no subject)"
    parts = [f"# {subject}"]
    for row in rows:
        body = clean_body(row["content"]) if row["content"] is not None else "(message body not read yet)"
        files = ", ".join(
            str(a.get("name")) for a in row["attachments"] or [] if isinstance(a, dict) and a.get("name")
        )
        attachment = f"\n[attachments: {files}]" if files else ""
        parts.append(
            f"## {_sender(row)} — {row['when'].strftime('%Y-%m-%d %H:%M')} UTC\n\n{body or '(no text)'}{attachment}"
        )
    return Document(
        source="mailinglist",
        doc_id=_doc_id(fqdn, thread_id),
        title=subject,
        text="\n\n".join(parts),
        updated_at=max(r["when"] for r in rows),
        metadata={
            "list": fqdn,
            "thread_id": thread_id,
            "subject": subject,
            "participants": sorted({_sender(r) for r in rows}),
            "first_at": rows[0]["when"].isoformat(),
            "last_at": rows[-1]["when"].isoformat(),
            "message_count": len(rows),
            "url": f"{base_url.rstrip('/')}/list/{fqdn}/thread/{thread_id}/",
        },
    )


def thread_documents(
    engine: Engine, changed_since: int | None, doc_ids: Iterable[str], base_url: str
) -> Iterator[Document]:
    """Documents of every thread with a message changed at or after ``changed_since`` (every
    thread when ``None``), plus the threads ``doc_ids``; threads left empty yield nothing."""
    emitted: set[tuple[str, str]] = set()
    extra = [pair for pair in (_split(d) for d in doc_ids) if pair]
    with engine.connect() as conn:
        for pairs in [extra, *_changed_threads(engine, changed_since)]:
            todo = sorted(set(pairs) - emitted)
            emitted.update(todo)
            for start in range(0, len(todo), _BATCH):
                part = todo[start : start + _BATCH]
                threads = _threads_rows(conn, part)
                for fqdn, thread_id in part:
                    if threads[(fqdn, thread_id)]:
                        yield _document(fqdn, thread_id, threads[(fqdn, thread_id)], base_url)
                conn.rollback()  # end the read transaction between batches


def removed_thread_documents(engine: Engine, changed_since: int | None) -> Iterator[str]:
    """Threads touched since ``changed_since`` that have no live message left."""
    done: set[tuple[str, str]] = set()
    for pairs in _changed_threads(engine, changed_since):
        todo = sorted(set(pairs) - done)
        done.update(todo)
        if not todo:
            continue
        with engine.connect() as conn:
            live = set(
                conn.execute(
                    select(_m.c.list_fqdn, _m.c.thread_id)
                    .where(
                        and_(
                            _m.c.deleted_at.is_(None),
                            or_(*[and_(_m.c.list_fqdn == f, _m.c.thread_id == t) for f, t in todo])
                            if len(todo) < 50
                            else tuple_(_m.c.list_fqdn, _m.c.thread_id).in_(todo),
                        )
                    )
                    .group_by(_m.c.list_fqdn, _m.c.thread_id)
                    .having(func.count() > 0)
                ).all()
            )
        for fqdn, thread_id in todo:
            if (fqdn, thread_id) not in live:
                yield _doc_id(fqdn, thread_id)
