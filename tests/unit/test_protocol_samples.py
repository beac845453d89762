"""The protocol samples in ``tests/typing`` under the project's own pyright (see its README).

One pyright run over every sample: positive samples report nothing, each line of a negative
sample marked ``# expect-error: <rule>`` reports an error of that rule, no unmarked line
reports one, and the contract breaches pyright cannot see (``holes_*.py``) are caught by the
runtime guards instead.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from core.protocols import require_tracker_result
from tests.conftest import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "tests" / "typing"
PYRIGHT = Path(sys.executable).with_name("pyright")  # the one scripts/test.sh runs
EXPECT = re.compile(r"#\s*expect-error:\s*(?P<rule>\w+)")


def _sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.py"))


def _expected(path: Path) -> dict[int, str]:
    """Line number (1-based) -> the pyright rule the marked line must report."""
    marks: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            marks[number] = match["rule"]
    return marks


@pytest.fixture(scope="module")
def pyright_report() -> dict[str, Any]:
    files = _sample_files()
    completed = subprocess.run(
        [str(PYRIGHT), "--outputjson", *map(str, files)],
        cwd=PROJECT_ROOT,  # the project's pyproject.toml settings (extraPaths, venv, strictness)
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit code 1 just means "errors found" (the negative samples); anything else is pyright broken.
    assert completed.returncode in (0, 1), completed.stderr[-3000:] or completed.stdout[-3000:]
    report = json.loads(completed.stdout)
    assert report["summary"]["filesAnalyzed"] == len(files), report["summary"]
    return report


def _errors(report: dict[str, Any]) -> dict[str, dict[int, set[str]]]:
    """File name -> line (1-based) -> rules of the errors pyright reported there."""
    found: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] != "error":
            continue
        line = diagnostic["range"]["start"]["line"] + 1
        found[Path(diagnostic["file"]).name][line].add(diagnostic.get("rule") or diagnostic["message"])
    return found


def test_the_samples_are_there():
    names = {path.name for path in _sample_files()}
    assert {"positive_protocols.py", "positive_collectors.py", "negative_protocols.py"} <= names
    negatives = [path for path in _sample_files() if path.name.startswith("negative_")]
    assert all(_expected(path) for path in negatives), "a negative sample without expect-error marks"
    assert not any(_expected(path) for path in _sample_files() if not path.name.startswith("negative_"))


@pytest.mark.parametrize("name", ["positive_protocols.py", "positive_collectors.py", "holes_protocols.py"])
def test_positive_samples_type_check(pyright_report, name):
    errors = _errors(pyright_report).get(name, {})
    assert not errors, f"{name}: unexpected pyright errors {dict(errors)}"


def test_every_marked_negative_line_fails_with_its_rule_and_nothing_else_does(pyright_report):
    found = _errors(pyright_report)
    problems: list[str] = []
    for path in _sample_files():
        if not path.name.startswith("negative_"):
            continue
        expected = _expected(path)
        reported = found.get(path.name, {})
        for line, rule in expected.items():
            if rule not in reported.get(line, set()):
                problems.append(
                    f"{path.name}:{line}: expected {rule}, pyright said {sorted(reported.get(line, ()))}"
                )
        for line, rules in reported.items():
            if line not in expected:
                problems.append(f"{path.name}:{line}: unmarked error {sorted(rules)}")
    assert not problems, "\n".join(problems)


def test_what_pyright_cannot_see_the_guard_rejects(monkeypatch):
    spec = importlib.util.spec_from_file_location("holes_protocols", SAMPLES / "holes_protocols.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert module.HOLES
    for hole in module.HOLES:
        with pytest.raises(TypeError, match=rf"{type(hole).__name__}\.(errors|counts) must"):
            require_tracker_result(hole)
