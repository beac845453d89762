"""The formatter alone: the message, its redaction and its renderings (no I/O)."""

from __future__ import annotations

import json

from airflow_collectors.alerts.formatter import CATEGORY_ADVICE, CollectorAlert, webhook_body
from core.errors import CollectorFailureCategory
from tests.unit.alerts.helpers import GH_TOKEN, SECRET, make_alert


def test_message_names_everything_an_operator_needs():
    text = make_alert().text()
    for expected in (
        "Collector github failed (collect [acme/widgets]): rate_limit, retries exhausted",
        "DAG: collect_github",
        "Task: collect[2]",
        "Step: collect",
        "Partition: acme/widgets",
        "Category: rate_limit",
        "Try: 4 of 4",
        "Error: [rate_limit] github.collect: RateLimitError: quota exhausted",
        "Log: http://airflow.example/dags/collect_github/runs/x/tasks/collect/mapped/2?try_number=4",
        "What to do: the source's quota ran out",
    ):
        assert expected in text
    blocks = make_alert().slack_blocks()
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert "*Partition:* acme/widgets" in blocks[1]["text"]["text"]
    assert "<http://airflow.example" in blocks[2]["text"]["text"]
    json.dumps(make_alert().payload())  # the generic webhook body is JSON


def test_first_try_failure_does_not_claim_retries_exhausted():
    assert "retries exhausted" not in make_alert(category="auth", try_number=1).title()
    assert "will retry" in make_alert(kind="retry", try_number=1).title()


def test_lateness_and_staleness_titles():
    late = CollectorAlert(kind="deadline", collector="toy", category="late")
    stale = CollectorAlert(kind="stale", collector="toy", category="stale")
    assert late.title() == "Collector toy is late: run not finished by its deadline"
    assert stale.title().startswith("Collector toy is stale")
    assert "What to do: the run is still not finished at its deadline" in late.text()


def test_every_category_has_advice():
    assert {c.value for c in CollectorFailureCategory} <= set(CATEGORY_ADVICE)


def test_suppressed_count_is_reported_in_text_and_blocks():
    alert = make_alert(suppressed_before=3)
    assert "(3 similar alert(s) were suppressed since the previous one)" in alert.text()
    assert "_3 similar alert(s) were suppressed" in json.dumps(alert.slack_blocks())
    assert "suppressed" not in make_alert().text()


def test_sanitized_redacts_literal_and_pattern_secrets_everywhere():
    dirty = make_alert(
        error=f"401 for token {SECRET} (upstream {GH_TOKEN}) via https://bot:hunter22@api.example/x",
        details=(f"Authorization: Bearer {SECRET}",),
        partition=f"repo?token={SECRET}",
    )
    clean = dirty.sanitized([SECRET])
    rendered = clean.text() + json.dumps(clean.slack_blocks()) + json.dumps(clean.payload())
    for secret in (SECRET, GH_TOKEN, "hunter22"):
        assert secret not in rendered
    assert "[REDACTED]" in clean.error


def test_sanitized_redacts_a_literal_secret_without_a_token_shape():
    plain = "plainWord7secret"
    dirty = make_alert(error=f"server said {plain}", details=(f"echo: {plain}",), run_id=f"manual__{plain}")
    clean = dirty.sanitized([plain])
    assert plain in dirty.text()
    assert plain not in clean.text() + json.dumps(clean.payload()) + json.dumps(clean.slack_blocks())


def test_sanitized_caps_the_error():
    assert len(make_alert(error="x" * 10_000).sanitized().error) == 1500


def test_generic_webhook_body_is_text_plus_every_field():
    alert = make_alert(details=("Committed before the failure: 3 batches",))
    body = webhook_body(alert)
    assert body["text"] == alert.text()
    assert body["alert"]["title"] == alert.title()
    assert body["alert"]["category"] == "rate_limit" and body["alert"]["partition"] == "acme/widgets"
    assert body["alert"]["details"] == ["Committed before the failure: 3 batches"]
    assert json.loads(json.dumps(body)) == body


def test_discord_body_is_content_within_discords_limit_without_mentions():
    alert = make_alert(error="@everyone " + "y" * 5000)
    for payload_format in ("discord", "Discord"):
        body = webhook_body(alert, payload_format)
        assert set(body) == {"content", "allowed_mentions"}
        assert body["allowed_mentions"] == {"parse": []}
        assert len(body["content"]) == 2000 and body["content"] == alert.text()[:2000]
