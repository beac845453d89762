"""Document builders of the other trackers load changed threads set-based (issue 17, item 2: the
rule of the Discord builder): statements grow with batches, not with threads."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event

from core.store import Store
from mailinglist_activity_tracker.preprocess import thread_documents as mailing_list_documents
from mailinglist_activity_tracker.tables import COMPONENT, MAILINGLIST_MIGRATIONS, ml_messages, ml_threads
from reddit_activity_tracker.config import DocumentConfig
from reddit_activity_tracker.preprocess import documents as reddit_documents
from reddit_activity_tracker.tables import MIGRATIONS as REDDIT_MIGRATIONS
from reddit_activity_tracker.tables import reddit_comments, reddit_submissions

FQDN = "dev.lists.example.org"


def _count_statements(store: Store) -> list[str]:
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def test_mailing_list_threads_are_loaded_in_batches(store_url: str) -> None:
    store = Store.from_url(store_url)
    store.migrate(COMPONENT, MAILINGLIST_MIGRATIONS)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    threads, per_thread = 700, 3
    with store.engine.begin() as conn:
        conn.execute(
            ml_threads.insert(),
            [
                {"list_fqdn": FQDN, "thread_id": f"T{t:05d}", "subject": f"Subject {t}", "updated_at": now}
                for t in range(threads)
            ],
        )
        conn.execute(
            ml_messages.insert(),
            [
                {
                    "list_fqdn": FQDN,
                    "message_id_hash": f"M{t:05d}{m}",
                    "message_id": f"m{t}.{m}@example.org",
                    "thread_id": f"T{t:05d}",
                    "subject": f"Re: Subject {t}",
                    "sent_at": now + dt.timedelta(minutes=t * 10 + m),
                    "sender_address": f"user{m}@example.org",
                    "sender_name": f"User {m}",
                    "content": f"Body {t}.{m} with enough words to be a document.",
                    "attachments": [],
                    "parse_warnings": [],
                    "source": "rest",
                    "first_seen_at": now,
                    "content_hash": f"h{t}{m}",
                    "updated_at": now,
                }
                for t in range(threads)
                for m in range(per_thread)
            ],
        )
    sent = _count_statements(store)

    documents = list(mailing_list_documents(store.engine, None, [], "https://lists.example.org/archives"))

    assert len(documents) == threads
    assert {d.metadata["message_count"] for d in documents} == {per_thread}
    assert documents[0].title.endswith("Subject 0") or "Subject 0" in documents[0].text
    # 2,100 changed messages are 5 batches; each costs 2 statements per 100 threads (the
    # per-thread builder sent 2 x 700 here).
    assert len(sent) < 100 < len(documents)


def test_reddit_comments_are_loaded_per_batch_of_submissions(store_url: str) -> None:
    store = Store.from_url(store_url)
    store.migrate("reddit", REDDIT_MIGRATIONS)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    shared = {
        "subreddit": "cpp",
        "author": "ann",
        "author_fullname": "t2_ann",
        "score": 5,
        "stickied": False,
        "created_at": now,
        "edited_at": None,
        "is_deleted": False,
        "is_removed": False,
        "matched_keywords": "",
        "updated_at": now,
    }
    posts = 600
    with store.engine.begin() as conn:
        conn.execute(
            reddit_submissions.insert(),
            [
                {
                    **shared,
                    "id": f"p{p:04d}",
                    "permalink": f"/r/cpp/comments/p{p:04d}/",
                    "title": f"Post {p}",
                    "selftext": f"Question {p}",
                    "url": None,
                    "domain": "self.cpp",
                    "is_self": True,
                    "flair": None,
                    "upvote_ratio": 1.0,
                    "num_comments": 1,
                    "removed_by_category": None,
                    "over_18": False,
                    "locked": False,
                }
                for p in range(posts)
            ],
        )
        conn.execute(
            reddit_comments.insert(),
            [
                {
                    **shared,
                    "id": f"c{p:04d}",
                    "submission_id": f"p{p:04d}",
                    "permalink": f"/r/cpp/comments/p{p:04d}/_/c{p:04d}/",
                    "parent_fullname": f"t3_p{p:04d}",
                    "body": f"Answer to {p}",
                    "distinguished": None,
                }
                for p in range(posts)
            ],
        )
    sent = _count_statements(store)

    documents = list(reddit_documents(store.engine, DocumentConfig(), None, []))

    assert len(documents) == posts
    assert all(f"Answer to {d.doc_id.split('/p')[1].lstrip('0') or '0'}" in d.text for d in documents)
    assert len(sent) < 10 < len(documents)  # one statement per 500 submissions, not one per submission
