"""``publish_writer``: the Airflow task and the console build their writer from the same settings."""

from __future__ import annotations

from core.publishing.connection import publish_client, publish_writer
from core.publishing.settings import PublishSettings


def test_the_writer_takes_target_branch_attempts_request_size_and_pace_from_the_settings() -> None:
    settings = PublishSettings.model_validate(
        {
            "target": "octo/context",
            "branch": "digest",
            "folder_prefix": "days",
            "renderer": "discord_activity_tracker.publish:DiscordDaysPublisher",
            "max_attempts": 7,
            "max_tree_request_bytes": 123_456,
            "write_interval_seconds": 2.5,
        }
    )
    client = publish_client(settings, {"password": "github_pat_" + "W" * 40})
    with client:
        writer = publish_writer(settings, client)
    assert writer.client is client
    assert (writer.repository, writer.branch) == ("octo/context", "digest")
    assert (writer.max_attempts, writer.max_tree_request_bytes, writer.write_interval) == (7, 123_456, 2.5)
