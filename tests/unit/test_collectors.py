from __future__ import annotations

import json
import logging
import sys
import warnings

import pytest

from core.collectors import (
    AbstractCollector,
    BaseCollectorCommand,
    CollectorBase,
    CollectorRunnable,
    CommandCollector,
    RunContext,
)
from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    CommandFailedError,
    ConfigError,
    NetworkError,
    classify_failure,
)
from core.protocols import Checkpoint, RunResult


class RecordingCollector(AbstractCollector):
    name = "recording"

    def __init__(self, *args, fail_in: str | None = None, on_error_fails: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []
        self.fail_in = fail_in
        self.on_error_fails = on_error_fails

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_in == name:
            raise AuthenticationError("token ghp_abcdefghijklmnopqrstuvwxyz012345 refused")

    def pre_collect(self) -> None:
        super().pre_collect()
        self._step("pre_collect")

    def validate_config(self) -> None:
        self._step("validate_config")
        if "items" not in self.raw_config:
            raise ConfigError("items: field required")

    def load_incremental_state(self):
        self._step("load_incremental_state")
        return super().load_incremental_state()

    def collect(self):
        self._step("collect")
        previous = int(self.incremental_state.checkpoint_token) if self.incremental_state else 0
        self.outgoing_state = Checkpoint(str(previous + len(self.raw_config["items"])), "items seen")
        return RunResult(success=True, counts={"items": len(self.raw_config["items"])})

    def post_collect(self, result):
        self._step("post_collect")
        super().post_collect(result)

    def on_error(self, exc):
        self.calls.append("on_error")
        if self.on_error_fails:
            raise RuntimeError("cleanup broke too")


def _collector(tmp_path, **kwargs) -> RecordingCollector:
    context = RunContext(store_url=f"sqlite:///{tmp_path / 'store.db'}")
    return RecordingCollector({"items": [1, 2, 3]}, context=context, **kwargs)


def test_run_follows_the_lifecycle_and_persists_the_outgoing_state(tmp_path):
    collector = _collector(tmp_path)
    result = collector.run()
    assert collector.calls == [
        "pre_collect",
        "validate_config",
        "load_incremental_state",
        "collect",
        "post_collect",
    ]
    assert result.counts == {"items": 3}
    assert result.duration_seconds is not None and result.duration_seconds >= 0
    assert collector.last_result is result
    second = _collector(tmp_path)
    second.run()
    assert second.incremental_state is not None and second.incremental_state.checkpoint_token == "3"
    assert isinstance(second, CollectorRunnable)


def test_full_refresh_ignores_the_stored_checkpoint(tmp_path):
    _collector(tmp_path).run()
    refresh = RecordingCollector(
        {"items": [1]}, context=RunContext(store_url=f"sqlite:///{tmp_path / 'store.db'}", full_refresh=True)
    )
    refresh.run()
    assert refresh.incremental_state is None


def test_failure_calls_on_error_logs_structured_and_reraises(tmp_path, caplog):
    collector = _collector(tmp_path, fail_in="collect")
    with caplog.at_level(logging.ERROR, logger="core.collectors"), pytest.raises(AuthenticationError):
        collector.run()
    assert collector.calls[-1] == "on_error"
    assert "post_collect" not in collector.calls
    record = next(r for r in caplog.records if getattr(r, "collector", None) == "recording")
    assert record.collector_phase == "collect"
    assert record.failure_category == "auth"
    assert "ghp_abcdefghijklmnopqrstuvwxyz012345" not in caplog.text
    assert collector.last_result is None


def test_a_failing_on_error_never_masks_the_original(tmp_path, caplog):
    collector = _collector(tmp_path, fail_in="collect", on_error_fails=True)
    with caplog.at_level(logging.WARNING), pytest.raises(AuthenticationError):
        collector.run()
    assert "on_error of recording failed (RuntimeError)" in caplog.text


def test_validate_step_collects_nothing_and_reports_config_errors(tmp_path):
    bad = RecordingCollector({}, context=RunContext(store_url=f"sqlite:///{tmp_path / 's.db'}"))
    with pytest.raises(ConfigError, match="items"):
        bad.validate()
    good = _collector(tmp_path)
    result = good.validate()
    assert "collect" not in good.calls
    assert result.counts["migrations_applied"] == 0


def test_collect_must_return_a_tracker_result(tmp_path):
    class Broken(RecordingCollector):
        def collect(self):
            return {"success": True}

    broken = Broken({"items": []}, context=RunContext(store_url=f"sqlite:///{tmp_path / 's.db'}"))
    with pytest.raises(TypeError, match="TrackerResult"):
        broken.run()


def test_collector_base_subclassing_is_deprecated():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        class Old(CollectorBase):
            name = "old"

            def run(self):
                return RunResult(success=True)

    assert any(
        issubclass(w.category, DeprecationWarning) and "AbstractCollector" in str(w.message) for w in caught
    )
    assert Old().run().success and Old().sync_pinecone() is None


def test_command_collector_success_and_failure_with_sanitized_stderr():
    ok = CommandCollector([sys.executable, "-c", "print('a'); print('b')"], name="printer")
    assert ok.run().counts == {"output_lines": 2}
    script = (
        "import sys; sys.stderr.write('fatal: auth with xoxb-1111-2222-secretsecret failed\\n'); sys.exit(3)"
    )
    failing = CommandCollector([sys.executable, "-c", script], name="legacy_sync")
    with pytest.raises(CommandFailedError) as caught:
        failing.run()
    assert caught.value.returncode == 3
    assert "xoxb-1111-2222-secretsecret" not in str(caught.value)
    assert "fatal: auth with" in caught.value.stderr_tail


def test_command_collector_wraps_callables():
    assert CommandCollector(lambda: None, name="noop").run().success
    assert CommandCollector(lambda: RunResult(True, {"rows": 4}), name="rows").run().counts == {"rows": 4}
    with pytest.raises(CommandFailedError, match="exit code 2"):
        CommandCollector(lambda: 2, name="two").run()


def test_base_collector_command_runs_collector_then_sync(tmp_path, capsys):
    class Command(BaseCollectorCommand):
        def add_arguments(self, parser):
            super().add_arguments(parser)
            parser.add_argument("--items", type=int, default=2)

        def get_collector(self, **options):
            return RecordingCollector(
                {"items": list(range(options["items"]))},
                context=RunContext(store_url=f"sqlite:///{tmp_path / 'cmd.db'}"),
            )

    assert Command().main(["--items", "4"]) == 0
    assert '"items": 4' in capsys.readouterr().out

    class Failing(Command):
        def get_collector(self, **options):
            return RecordingCollector(
                {"items": []},
                context=RunContext(store_url=f"sqlite:///{tmp_path / 'c.db'}"),
                fail_in="collect",
            )

    assert Failing().main([]) == 1
    err = capsys.readouterr().err
    assert '"failure_category":"auth"' in err and "ghp_" not in err


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_command_collector_json_result_passes_the_collect_result_through():
    outcome = {"collect": {"success": True, "counts": {"rows": 7}, "errors": [], "step": "collect"}}
    printer = CommandCollector(
        _python(f"print({json.dumps(json.dumps(outcome, indent=2))})"), json_result=True
    )
    result = printer.run()
    assert result.counts == {"rows": 7} and result.success
    assert result.duration_seconds is not None
    assert printer.last_result is result
    no_result = CommandCollector(_python("print('{}')"), name="quiet", json_result=True)
    assert no_result.run().counts == {}  # the wrapped collector returned no result


@pytest.mark.parametrize(
    "stdout",
    [
        "rows: 7 token=hunter2-secret-value",  # not JSON (and the secret is redacted from the message)
        '{"collect": {"counts": {"rows": 7}}}',  # no success
        '{"collect": {"success": true, "counts": {"rows": "seven"}}}',  # counts not int
        '["collect"]',  # not an outcome object
    ],
)
def test_command_collector_json_result_rejects_output_that_is_no_result(stdout):
    command = CommandCollector(
        _python(f"print({stdout!r})"), name="printer", json_result=True, secrets=["hunter2-secret-value"]
    )
    with pytest.raises(CommandFailedError, match="printer printed no collector result") as caught:
        command.run()
    assert "hunter2-secret-value" not in str(caught.value)
    assert classify_failure(caught.value) is CollectorFailureCategory.COMMAND


@pytest.mark.parametrize(("reported", "expected"), [("network", "network"), ("unknown", "command")])
def test_command_collector_json_result_keeps_the_commands_failure_category(reported, expected):
    secret = "hunter2-secret-value"
    failure = {"success": False, "failure_category": reported, "error": f"upstream refused {secret}"}
    code = f"import sys; sys.stderr.write('log line\\n' + {json.dumps(failure)!r} + '\\n'); sys.exit(1)"
    command = CommandCollector(_python(code), name="wrapped", json_result=True, secrets=[secret])
    with pytest.raises(CommandFailedError) as caught:
        command.run()
    assert classify_failure(caught.value).value == expected
    assert str(caught.value).startswith(f"wrapped exited with code 1 [{reported}]: upstream refused")
    assert secret not in str(caught.value) and secret not in caught.value.stderr_tail
    plain = CommandCollector(_python(code), name="wrapped", secrets=[secret])  # without json_result
    with pytest.raises(CommandFailedError) as caught:
        plain.run()
    assert classify_failure(caught.value) is CollectorFailureCategory.COMMAND


def test_base_collector_command_runs_a_command_collector_and_a_legacy_collector(capsys):
    """What a console command may return: glue around a command, or a legacy ``run()`` collector."""

    class Glue(BaseCollectorCommand):
        def get_collector(self, **options):
            return CommandCollector(_python("print('one'); print('two')"), name="glue")

    assert Glue().main(["--skip-sync"]) == 0
    assert json.loads(capsys.readouterr().out)["collect"]["counts"] == {"output_lines": 2}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        class Legacy(CollectorBase):
            name = "legacy"

            def run(self):
                raise NetworkError("upstream gone")

    class LegacyCommand(BaseCollectorCommand):
        def get_collector(self, **options):
            return Legacy()

    assert LegacyCommand().main([]) == 1
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["failure_category"] == "network"
