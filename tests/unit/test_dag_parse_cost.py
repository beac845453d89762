"""What keeps DAG parsing cheap (docs/performance.md, "DAG parsing") still holds, and changes nothing else."""

from __future__ import annotations

import copy
import json
import os
import pickle
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization
from jsonschema.validators import Draft7Validator, validator_for

from airflow_collectors.dag_factory import PARAM_DIALECT, FrozenSchema, build_dags
from airflow_collectors.operator import PARTITIONS_XCOM_KEY
from airflow_collectors.task_group import STEP_DOCS, PartitionsOperator
from core import config as config_module
from core.config import check_collector_path, load_collectors_file, project_root
from core.errors import ConfigError

REAL_FILE = project_root() / "include" / "collectors.yaml"


@pytest.fixture
def tracker_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package whose ``__init__`` and module would fail if imported."""
    package = tmp_path / "parse_cost_tracker"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('the package was imported')\n")
    (package / "collector.py").write_text(
        textwrap.dedent(
            """
            raise RuntimeError('the module was imported')
            from elsewhere import (
                Imported,
                Other as Renamed,
            )
            class Direct:
                pass
            Assigned = Direct
            '''
            class OnlyInAString:
            '''
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


@pytest.mark.parametrize("name", ["Direct", "Assigned", "Imported", "Renamed"])
def test_a_collector_path_is_checked_without_importing_anything(tracker_package: Path, name: str) -> None:
    check_collector_path(f"parse_cost_tracker.collector:{name}")
    assert "parse_cost_tracker" not in sys.modules
    assert "parse_cost_tracker.collector" not in sys.modules


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("parse_cost_tracker.collector:Missing", "'Missing' is not defined"),
        ("parse_cost_tracker.collector:Other", "'Other' is not defined"),  # imported under another name
        ("parse_cost_tracker.nowhere:Direct", "module 'parse_cost_tracker.nowhere' not found"),
        ("parse_cost_tracker:Direct", "'Direct' is not defined"),
    ],
)
def test_a_missing_module_or_name_is_still_refused(tracker_package: Path, path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_collector_path(path)
    assert "parse_cost_tracker" not in sys.modules


def test_an_edited_module_is_read_again(tracker_package: Path) -> None:
    module = tracker_package / "collector.py"
    check_collector_path("parse_cost_tracker.collector:Direct")
    module.write_text("class Renamed:\n    pass\n")
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ConfigError, match="'Direct' is not defined"):
        check_collector_path("parse_cost_tracker.collector:Direct")


def test_the_fast_yaml_loader_reads_the_real_file_as_the_pure_python_one_does() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert config_module._YAML_LOADER is yaml.CSafeLoader
    text = REAL_FILE.read_text(encoding="utf-8")
    assert config_module._load_yaml(text) == yaml.safe_load(text)


def test_every_dag_param_schema_is_draft_7_and_still_validates(tmp_path: Path) -> None:
    source = tmp_path / "collectors.yaml"
    source.write_text(
        textwrap.dedent(
            """
            collectors:
              toy:
                collector: tests.fakes.toy_collector:ToyCollector
                schedule: "@daily"
                params:
                  tags: {type: array, items: {type: string}, default: []}
            """
        )
    )
    load_collectors_file(source)
    dag = build_dags(source)["collect_toy"]
    assert set(dag.params) == {"since", "until", "partitions", "dry_run", "full_refresh", "tags"}
    for name in dag.params:
        schema = dag.params.get_param(name).schema
        assert schema["$schema"] == PARAM_DIALECT["$schema"], name
        assert validator_for(schema) is Draft7Validator, name
    with pytest.raises(Exception, match="does not match"):
        dag.params.get_param("since").resolve("yesterday")
    with pytest.raises(Exception, match="is not of type 'array'"):
        dag.params.get_param("tags").resolve("one")


PARTITIONED = """
collectors:
  toy:
    collector: tests.fakes.toy_collector:ToyCollector
    schedule: "@daily"
    partitioned: true
    params:
      tags: {type: [array, "null"], items: {type: string, enum: [a, b]}, default: null, description: Tags.}
"""


def test_tasks_share_the_dag_param_schemas_which_cannot_change(tmp_path: Path) -> None:
    source = tmp_path / "collectors.yaml"
    source.write_text(PARTITIONED)
    dag = build_dags(source)["collect_toy"]
    tags = dag.params.get_param("tags")
    assert tags.description == "Tags." and "description" not in tags.schema
    for task in dag.tasks:
        assert isinstance(task.params, ParamsDict)
        for name in dag.params:
            # Airflow deep-copied the DAG's params into the task: the Param is new, its schema shared.
            copied, original = task.params.get_param(name), dag.params.get_param(name)
            assert copied is not original and copied.schema is original.schema, (task.task_id, name)
    schema = tags.schema
    assert isinstance(schema, FrozenSchema) and copy.deepcopy(schema) is schema
    with pytest.raises(TypeError, match="read-only"):
        schema["type"] = "string"
    with pytest.raises(TypeError, match="read-only"):
        schema.update(minItems=1)
    with pytest.raises(TypeError, match="read-only"):
        schema["type"].append("object")
    with pytest.raises(TypeError, match="read-only"):
        schema["items"]["enum"].clear()
    plain = json.loads(json.dumps(schema))
    assert plain == {
        "$schema": PARAM_DIALECT["$schema"],
        "title": "Tags",
        "type": ["array", "null"],
        "items": {"type": "string", "enum": ["a", "b"]},
    }
    assert pickle.loads(pickle.dumps(schema)) == plain  # noqa: S301 - our own bytes
    with pytest.raises(ParamValidationError, match="'c' is not one of"):
        tags.resolve(["c"])


def test_the_serialized_dag_holds_the_schemas_as_plain_json(tmp_path: Path) -> None:
    source = tmp_path / "collectors.yaml"
    source.write_text(PARTITIONED)
    dag = build_dags(source)["collect_toy"]
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    for name in dag.params:
        assert restored.params.get_param(name).schema == json.loads(
            json.dumps(dag.params.get_param(name).schema)
        )


class _ValidateXCom:
    def __init__(self, partitions: object) -> None:
        self.partitions = partitions
        self.pulled: list[tuple[str, str]] = []

    def xcom_pull(self, *, task_ids: str, key: str) -> object:
        self.pulled.append((task_ids, key))
        return self.partitions


def test_the_partitions_task_maps_collect_over_what_validate_found(tmp_path: Path) -> None:
    source = tmp_path / "collectors.yaml"
    source.write_text(PARTITIONED)
    dag = build_dags(source)["collect_toy"]
    partitions = dag.get_task("partitions")
    assert isinstance(partitions, PartitionsOperator)
    assert partitions.upstream_task_ids == {"validate"} and partitions.doc_md == STEP_DOCS["partitions"]
    collect: Any = dag.get_task("collect")
    expanded = collect.expand_input.value["partition"]
    assert expanded.operator is partitions and expanded.key == "return_value"
    ti = _ValidateXCom(["east", 7])
    assert partitions.execute({"ti": ti}) == ["east", "7"]  # pyright: ignore[reportArgumentType]
    assert ti.pulled == [("validate", PARTITIONS_XCOM_KEY)]
    assert partitions.execute({"ti": _ValidateXCom(None)}) == []  # pyright: ignore[reportArgumentType]


def test_a_cron_checked_once_is_still_refused_for_every_entry_using_it(tmp_path: Path) -> None:
    source = tmp_path / "collectors.yaml"
    entry = "    collector: tests.fakes.toy_collector:ToyCollector\n"
    source.write_text(
        f"collectors:\n  good:\n{entry}    schedule: '0 * * * *'\n  bad:\n{entry}    schedule: '61 * * * *'\n"
    )
    for _ in range(2):  # the second time the answer comes from the cache
        with pytest.raises(ConfigError, match=r"collectors\.bad\.schedule: invalid cron '61 \* \* \* \*'"):
            build_dags(source)
    source.write_text(
        f"collectors:\n  one:\n{entry}    schedule: '0 * * * *'\n  two:\n{entry}    schedule: '0 * * * *'\n"
    )
    dags = build_dags(source)
    assert [dag.timetable.expression for dag in dags.values()] == ["0 * * * *", "0 * * * *"]  # pyright: ignore[reportAttributeAccessIssue]
    assert dags["collect_one"].timetable is not dags["collect_two"].timetable
