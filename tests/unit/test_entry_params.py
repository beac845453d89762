"""An entry's own run params (``params:`` in collectors.yaml): declared on its DAG with their
JSON schema, accepted by the run's options and handed to the collector as ``RunContext.params``;
names clashing with the common params are refused at parse time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from airflow.sdk.exceptions import ParamValidationError

from airflow_collectors.dag_factory import build_dags
from airflow_collectors.window import run_options
from core.config import load_collectors_file
from core.errors import ConfigError

TOY = "tests.fakes.toy_collector:ToyCollector"


def _write(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "collectors.yaml"
    head = f"collectors:\n  toy:\n    collector: {TOY}\n    schedule: null\n    params:\n"
    path.write_text(head + textwrap.indent(textwrap.dedent(params).strip() + "\n", " " * 6))
    return path


VERSIONS = """
versions:
  type: [array, "null"]
  items: {type: string, pattern: '^[0-9]+[.][0-9]+[.][0-9]+$'}
  default: null
  description: Releases to index.
"""


def test_declared_params_are_on_the_dag_with_their_schema(tmp_path: Path) -> None:
    dag = build_dags(_write(tmp_path, VERSIONS))["collect_toy"]
    param = dag.params.get_param("versions")
    assert param.value is None and param.schema["items"]["type"] == "string"
    assert param.description == "Releases to index."
    assert {"since", "until", "partitions", "dry_run", "full_refresh", "versions"} <= set(dag.params.keys())
    assert "`versions`" in str(dag.doc_md)
    collect = dag.get_task("toy.collect") if "toy.collect" in dag.task_dict else dag.get_task("collect")
    assert list(getattr(collect, "entry_params", [])) == ["versions"]
    dag.params.validate()
    with pytest.raises(ParamValidationError, match=r"'1\.86' does not match"):
        param.resolve(["1.86"])  # the schema refuses it at trigger time


def test_run_options_pass_declared_params_on_and_still_refuse_unknown_ones() -> None:
    options = run_options({"versions": ["1.86.0"], "dry_run": False}, "manual", (None, None), ["versions"])
    assert dict(options.extra) == {"versions": ["1.86.0"]}
    assert dict(run_options({"dry_run": False}, "manual", (None, None)).extra) == {}
    with pytest.raises(ConfigError, match="'version' \\(did you mean 'versions'\\?\\)"):
        run_options({"version": ["1.86.0"]}, "manual", (None, None), ["versions"])
    with pytest.raises(ConfigError, match="unknown param 'versions'"):
        run_options({"versions": ["1.86.0"]}, "manual", (None, None))  # not declared by this entry


@pytest.mark.parametrize("name", ["since", "full_refresh", "bad-name"])
def test_a_param_clashing_with_the_common_ones_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, f"{name}: {{type: string}}\n")
    with pytest.raises(ConfigError, match=f"collectors.toy.params.*{name}"):
        load_collectors_file(path)
