"""docs/tutorial-new-source.md says what the repository holds: every excerpt is verbatim in the file it
names, the sizes are the measured ones (and under the goal), the tests it lists exist, and the console
session works as shown against the fake started with the command shown."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "tutorial-new-source.md").read_text()
TRACKER = PROJECT_ROOT / "plugins" / "newsfeed_activity_tracker"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC, flags=re.S)


def _console(after: str) -> list[str]:
    """The ``$ `` commands of the first console block after the heading ``after``."""
    section = DOC[DOC.index(after) :]
    block = re.search(r"```console\n(.*?)```", section, flags=re.S)
    assert block is not None
    return [line[2:] for line in block.group(1).splitlines() if line.startswith("$ ")]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_every_excerpt_is_verbatim_in_the_file_it_names() -> None:
    excerpts = re.findall(r"<!-- from: (\S+) -->\n```\w+\n(.*?)```", DOC, flags=re.S)
    assert len(excerpts) >= 7
    for path, code in excerpts:
        assert code in (PROJECT_ROOT / path).read_text(), f"excerpt from {path} is not in it"


def test_the_reported_sizes_are_measured_and_under_the_goal() -> None:
    rows = re.findall(r"^\s+(\d+) (plugins/newsfeed_activity_tracker/\w+\.py)$", DOC, flags=re.M)
    measured = {str(p.relative_to(PROJECT_ROOT)): _lines(p) for p in sorted(TRACKER.glob("*.py"))}
    assert {path: int(n) for n, path in rows} == measured
    total = sum(measured.values())
    assert f"  {total} total" in DOC and f"**{total} lines of tracker code**" in DOC and f"\n{total} lines," in DOC
    assert total < 400
    assert f"The fake is {_lines(PROJECT_ROOT / 'tests/fakes/newsfeed_server.py')} lines" in DOC
    assert f"the integration tests {_lines(PROJECT_ROOT / 'tests/integration/test_newsfeed_collector.py')}." in DOC


def test_the_listed_tests_exist() -> None:
    source = (PROJECT_ROOT / "tests/integration/test_newsfeed_collector.py").read_text()
    named = re.findall(r"^\| `(test_\w+?)(?:_\.\.\.)?`", DOC, flags=re.M)
    named += re.findall(r", `(test_\w+)`", DOC)
    assert len(named) >= 9
    for name in named:
        assert f"def {name}" in source, name
    [pytest_command] = _console("## 9. Tests")
    paths = [word for word in shlex.split(pytest_command) if word.startswith("tests/")]
    assert paths and all((PROJECT_ROOT / path).is_file() for path in paths), paths


def test_the_console_session_works_as_shown(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    env.pop("AIRFLOW_CONN_NEWSFEED_DEFAULT", None)

    def argv(command: str) -> list[str]:
        words = shlex.split(command.replace("8765", port))
        assert words[0] == "python"
        return [sys.executable, *words[1:]]

    [start] = _console("It also runs alone")
    fake = subprocess.Popen(argv(start), cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        banner = fake.stdout.readline() if fake.stdout else ""
        expected = DOC[DOC.index(start) :].splitlines()[1].replace("8765", port)
        assert banner.strip() == expected
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/stories", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        config = _blocks("yaml")[-1]
        (tmp_path / "tutorial.yaml").write_text(config.replace("8765", port))
        run, search = _console("## 11. Try it")
        ran = subprocess.run(argv(run), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert '"stories": 3' in ran.stdout and '"documents": 2' in ran.stdout
        found = subprocess.run(argv(search), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert found.returncode == 0, found.stderr[-3000:]
        shown = DOC[DOC.index(search) :].splitlines()[1]
        assert found.stdout.splitlines()[0] == shown and "HALO" in found.stdout
    finally:
        fake.terminate()
        fake.wait(10)
