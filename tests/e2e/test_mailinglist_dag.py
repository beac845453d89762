"""The mailing-list collector under ``airflow dags test``: one mapped collect task per list against
the HyperKitty fake (private: basic auth from an ``AIRFLOW_CONN_*`` connection; mbox exports
refused, so the REST walk backfills), into a fresh PostgreSQL database, then the vector sync to
the local sink. Assertions compare the store with the fake's own dataset."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.identity import person_profiles
from core.store import Store, collector_runs, load_checkpoint
from core.vectors.ledger import vector_local_records
from mailinglist_activity_tracker.tables import ml_lists, ml_messages
from tests.e2e.conftest import AirflowHome
from tests.fakes.hyperkitty_server import MAIL_DIR, HyperKittyData, HyperKittyFake, synthetic_message

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

BOOST = "boost@lists.example.org"
USERS = "boost-users@lists.example.org"
LOGIN = "archiver"
PASSWORD = "Hk-" + "E2eMa1lingL1stSecret" * 2


@pytest.fixture
def fake() -> Iterator[HyperKittyFake]:
    data = HyperKittyData((BOOST, USERS))
    with HyperKittyFake(data, mbox_export=False, auth=(LOGIN, PASSWORD)) as server:
        server.load_dir(MAIL_DIR, BOOST)
        for n in range(12):
            data.archive(
                synthetic_message(n, reply_to=n - 1 if n % 3 else None, domain="users.example.org"), USERS
            )
        data.cross_post(synthetic_message(100), [BOOST, USERS])
        yield server


def _config(tmp_path: Path, fake: HyperKittyFake) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0}}
        collectors:
          mailinglist:
            collector: mailinglist_activity_tracker.collector:MailingListCollector
            partitioned: true
            connections: [hyperkitty_private]
            schedule: null
            config:
              base_url: "{fake.base_url}"
              lists: [{BOOST}, {USERS}]
              connection_id: hyperkitty_private
              page_size: 5
              stop_after_known: 3
              requests_per_second: 100
              vectors: {{sink: local, namespace: mailinglist}}
        """)
    )
    return path


def _expected(fake: HyperKittyFake, fqdn: str) -> dict[str, tuple[str, str, str | None, str]]:
    return {e.hash: (e.message_id, e.thread_id, e.parent, e.address) for e in fake.data.lists[fqdn]}


def test_mailinglist_dag_collects_each_list_and_syncs_thread_documents(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, fake: HyperKittyFake
) -> None:
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_HYPERKITTY_PRIVATE": json.dumps(
            {"conn_type": "http", "login": LOGIN, "password": PASSWORD}
        ),
    }
    config = _config(tmp_path, fake)
    first = airflow_home.dags_test(
        "collect_mailinglist", config_file=config, state_dir=tmp_path, extra_env=env
    )
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-5000:]
    assert PASSWORD not in output

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(ml_messages)).mappings()]
            lists = sorted(conn.execute(select(ml_lists.c.list_fqdn)).scalars())
            senders = (
                conn.execute(
                    select(person_profiles.c.external_id).where(person_profiles.c.source == "mailinglist")
                )
                .scalars()
                .all()
            )
            records = dict(
                conn.execute(
                    select(vector_local_records.c.record_id, vector_local_records.c.text).where(
                        vector_local_records.c.namespace == "mailinglist"
                    )
                ).all()
            )
            runs = [
                dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
            ]
            checkpoints = {fqdn: load_checkpoint(conn, "mailinglist", fqdn) for fqdn in (BOOST, USERS)}
        assert lists == [USERS, BOOST]
        for fqdn in (BOOST, USERS):
            stored = {
                r["message_id_hash"]: (r["message_id"], r["thread_id"], r["parent_hash"], r["sender_address"])
                for r in rows
                if r["list_fqdn"] == fqdn
            }
            assert stored == _expected(fake, fqdn), fqdn
            state = checkpoints[fqdn]
            assert state is not None and state.extras["count"] == len(fake.data.lists[fqdn])
            assert state.checkpoint_token == fake.data.archive_order(fqdn)[0].hash
            assert state.extras.get("walk") is None  # the walk finished
        assert all(r["content"] is not None and r["deleted_at"] is None for r in rows)
        assert len(senders) == len({r["sender_address"] for r in rows if r["sender_address"]})

        collects = [r for r in runs if r["step"] == "collect"]
        assert sorted(r["partition"] for r in collects) == [USERS, BOOST]
        assert sorted(r["map_index"] for r in collects) == [0, 1]
        assert all(r["status"] == "success" for r in runs), runs
        assert next(r for r in runs if r["step"] == "validate")["counts"]["partitions"] == 2
        threads = {(fqdn, e.thread_id) for fqdn in (BOOST, USERS) for e in fake.data.lists[fqdn]}
        sync = next(r for r in runs if r["step"] == "sync_pinecone")
        assert sync["counts"]["documents"] == len(threads)
        assert {rid.rsplit(":", 1)[0] for rid in records} == {f"mailinglist:{f}/{t}" for f, t in threads}
        assert any("Formal review of Boost.Widget" in text for text in records.values())
        assert PASSWORD not in json.dumps([r["counts"] for r in runs], default=str)
        # Every request carried the connection's credentials (the fake answers 401 otherwise).
        assert fake.log and all(e.status == 200 or "/export/" in e.path for e in fake.log)

        # A second run: nothing changed upstream: per list the list, one index page, one thread page.
        fake.log.clear()
        second = airflow_home.dags_test(
            "collect_mailinglist", config_file=config, state_dir=tmp_path, extra_env=env
        )
        assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
        assert sorted(e.path for e in fake.log) == sorted(
            f"/api/list/{fqdn}/{rest}" for fqdn in (BOOST, USERS) for rest in ("", "emails/", "threads/")
        )
        with store.engine.connect() as conn:
            again = (
                conn.execute(
                    select(collector_runs.c.counts).where(
                        collector_runs.c.id > runs[-1]["id"], collector_runs.c.step == "collect"
                    )
                )
                .scalars()
                .all()
            )
        assert len(again) == 2 and all(c.get("messages_new", 0) == 0 for c in again), again
    finally:
        store.dispose()
