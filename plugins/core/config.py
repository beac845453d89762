"""``include/collectors.yaml``: which collectors run, when, with which config.

Pure pydantic, no Airflow: the DAG factory, the console command and the tests share it.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import importlib.machinery
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError
from core.publishing.settings import PublishSettings
from core.vectors.settings import VectorSettings, parse_vector_settings

__all__ = [
    "AlertRouting",
    "AssetSchedule",
    "CollectorEntry",
    "CollectorsFile",
    "Defaults",
    "check_asset_producers",
    "check_collector_path",
    "load_collectors_file",
    "project_root",
    "resolve_path",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CATEGORIES = Literal[
    "unknown",
    "validation",
    "auth",
    "permission",
    "rate_limit",
    "network",
    "timeout",
    "command",
    "conflict",
    "resource",
]


def project_root() -> Path:
    """The folder holding ``dags/``, ``plugins/`` and ``include/`` (``$COLLECTORS_PROJECT_ROOT``)."""
    configured = os.environ.get("COLLECTORS_PROJECT_ROOT")
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


def resolve_path(value: str | Path) -> Path:
    """A config path: absolute as given, relative to the project root otherwise."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else project_root() / path


class AlertRouting(BaseModel):
    """Which failure categories alert at once and which only when retries are exhausted."""

    model_config = ConfigDict(extra="forbid")

    immediate: list[_CATEGORIES] = Field(
        default_factory=lambda: ["auth", "permission", "validation", "command"]
    )
    on_final_failure: list[_CATEGORIES] = Field(
        default_factory=lambda: ["rate_limit", "network", "timeout", "unknown", "resource", "conflict"]
    )
    slack_conn_id: str | None = "slack_webhook_default"
    webhook_conn_ids: list[str] = Field(default_factory=list)
    repeat_suppression_minutes: int = Field(default=60, ge=0)


#: Cron presets (Airflow's names): the one table the DAG factory and the freshness check share.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_RETRIES = 3
_DEADLINE_MINUTES = 120
_EXECUTION_TIMEOUT_MINUTES = 180
_START_DATE = dt.date(2026, 1, 1)
#: The params every collector DAG declares; an entry's own ``params`` come on top.
COMMON_PARAMS = ("since", "until", "partitions", "dry_run", "full_refresh")

#: Settings an entry inherits from ``defaults:`` unless it sets them itself (``null`` included:
#: an entry's ``deadline_minutes: null`` turns its deadline off whatever the default says).
INHERITED_SETTINGS = ("retries", "deadline_minutes", "execution_timeout_minutes", "start_date")


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = "community-data"
    retries: int = Field(default=_RETRIES, ge=0)
    retry_delay_seconds: float = Field(default=60, gt=0)
    max_retry_delay_seconds: float = Field(default=3600, gt=0)
    store_conn_id: str = "collector_db"
    deadline_minutes: int | None = Field(default=_DEADLINE_MINUTES, gt=0)
    execution_timeout_minutes: int | None = Field(default=_EXECUTION_TIMEOUT_MINUTES, gt=0)
    start_date: dt.date = _START_DATE
    timezone: str = "UTC"


class AssetSchedule(BaseModel):
    """``schedule: {asset: ...}`` / ``{assets: [...]}``: run when every named asset has a new
    event (Airflow's asset scheduling), instead of on a cron. ``external: true`` says the
    asset comes from outside this file (another DAG, the REST API), so no collector here has
    to emit it."""

    model_config = ConfigDict(extra="forbid")

    asset: str | None = Field(default=None, min_length=1)
    assets: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    external: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> AssetSchedule:
        if (self.asset is None) == (self.assets is None):
            raise ValueError("give either 'asset' (one) or 'assets' (a list), not both or neither")
        return self

    @property
    def uris(self) -> list[str]:
        """The assets, in the order given, without duplicates."""
        return list(dict.fromkeys([self.asset] if self.asset is not None else self.assets or []))


def _schedule_kind(value: object) -> str:
    return "on_assets" if isinstance(value, Mapping | AssetSchedule) else "cron"


_Schedule = Annotated[
    Annotated[str, Tag("cron")] | Annotated[AssetSchedule, Tag("on_assets")], Discriminator(_schedule_kind)
]


class CollectorEntry(BaseModel):
    """One collector: becomes one DAG ``collect_<name>``."""

    model_config = ConfigDict(extra="forbid")

    collector: str = Field(description="'package.module:ClassName' of an AbstractCollector")
    schedule: _Schedule | None = Field(
        default="@daily", description="cron expression, preset, {asset: ...}/{assets: [...]}, or null"
    )
    emits: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="assets announced when the collect step reports news"
    )
    description: str = ""
    enabled: bool = True
    partitioned: bool = False
    pool: str | None = None
    tags: list[str] = Field(default_factory=list)
    connections: list[str] = Field(default_factory=list, description="connection ids the collector reads")
    # Inherited from ``defaults:`` when absent (see ``CollectorsFile``); ``null`` means "off".
    start_date: dt.date = _START_DATE
    retries: int = Field(default=_RETRIES, ge=0)
    deadline_minutes: int | None = Field(default=_DEADLINE_MINUTES, gt=0)
    execution_timeout_minutes: int | None = Field(default=_EXECUTION_TIMEOUT_MINUTES, gt=0)
    expected_interval_hours: float | None = Field(default=None, gt=0)
    config: dict[str, Any] = Field(default_factory=dict)
    publish: PublishSettings | None = Field(
        default=None, description="Markdown of the collected rows to a GitHub repository (docs/publishing.md)"
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="run params of this collector only (name -> JSON schema: type, items, default, description)",
    )
    _vectors: VectorSettings = PrivateAttr(default_factory=VectorSettings)

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in value:
            if not name.isidentifier() or name in COMMON_PARAMS:
                raise ValueError(
                    f"param {name!r}: must be an identifier, not one of {', '.join(COMMON_PARAMS)}"
                )
        return value

    @model_validator(mode="after")
    def _parse_vectors(self) -> CollectorEntry:
        """``config.vectors`` is parsed here, once: a bad field fails the file with the entry named."""
        try:
            self._vectors = parse_vector_settings(self.config.get("vectors"))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _publish_has_its_own_token(self) -> CollectorEntry:
        """The write token is never one the collector scrapes with."""
        if self.publish is not None and self.publish.connection_id in self.connections:
            raise ValueError(
                f"publish.connection_id {self.publish.connection_id!r} is one of this entry's scraping "
                "connections; publishing needs its own token (contents:write on the target only)"
            )
        return self

    @property
    def vector_settings(self) -> VectorSettings:
        return self._vectors

    @property
    def cron_expression(self) -> str | None:
        """The cron expression, presets resolved; ``None`` when manual-only or asset-scheduled."""
        schedule = self.cron_schedule
        return CRON_PRESETS.get(schedule, schedule) if schedule is not None else None

    @field_validator("collector")
    @classmethod
    def _collector_path_shape(cls, value: str) -> str:
        module, _, attr = value.partition(":")
        if not module or not attr or not all(part.isidentifier() for part in (*module.split("."), attr)):
            raise ValueError(f"must look like 'package.module:ClassName', got {value!r}")
        return value

    @property
    def cron_schedule(self) -> str | None:
        """The cron expression or preset; ``None`` when manual-only or asset-scheduled."""
        return self.schedule if isinstance(self.schedule, str) else None

    @property
    def asset_schedule(self) -> AssetSchedule | None:
        return self.schedule if isinstance(self.schedule, AssetSchedule) else None


class CollectorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Field(default_factory=Defaults)
    alerts: AlertRouting = Field(default_factory=AlertRouting)
    collectors: dict[str, CollectorEntry]

    @model_validator(mode="before")
    @classmethod
    def _inherit_defaults(cls, data: Any) -> Any:
        """Each entry starts from ``defaults:`` for the settings it does not set itself, before
        validation, so every entry is complete and validated as a whole."""
        if not isinstance(data, Mapping):
            return data
        defaults, collectors = data.get("defaults"), data.get("collectors")
        if not isinstance(defaults, Mapping) or not isinstance(collectors, Mapping):
            return data
        inherited = {key: defaults[key] for key in INHERITED_SETTINGS if key in defaults}
        return {
            **data,
            "collectors": {
                name: {**inherited, **entry} if isinstance(entry, Mapping) else entry
                for name, entry in collectors.items()
            },
        }

    @field_validator("collectors")
    @classmethod
    def _names(cls, value: dict[str, CollectorEntry]) -> dict[str, CollectorEntry]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"collector name {name!r} must match {_NAME.pattern}")
        return value


# libyaml's loader when PyYAML was built with it (the wheels are): ~10x the pure-Python one.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if _YAML_LOADER is yaml.SafeLoader:
            raise
    # The pure-Python loader's message and position (libyaml points past the end at times).
    return yaml.safe_load(text)


def _describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        lines.append(f"{location}: {error['msg']}")
    return "; ".join(lines)


def load_collectors_file(path: Path, *, check_paths: bool = True) -> CollectorsFile:
    """Parse and validate ``path``; every error names the file and the entry/field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        raw = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping with a 'collectors' key")
    try:
        parsed = CollectorsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe_errors(exc)}") from None
    check_asset_producers(parsed, path)
    if check_paths:
        for name, entry in parsed.collectors.items():
            try:
                check_collector_path(entry.collector)
            except ConfigError as exc:
                raise ConfigError(f"{path}: collectors.{name}.collector: {exc}") from None
    return parsed


def check_asset_producers(parsed: CollectorsFile, path: Path) -> None:
    """Every asset a collector is scheduled on is emitted by a collector of the file (enabled
    or not) unless the schedule says ``external: true``: a typo would otherwise leave the
    consumer waiting for ever, silently."""
    emitted: dict[str, set[str]] = {}
    for name, entry in parsed.collectors.items():
        for uri in entry.emits:
            emitted.setdefault(uri, set()).add(name)
    for name, entry in parsed.collectors.items():
        schedule = entry.asset_schedule
        if schedule is None or schedule.external:
            continue
        for uri in schedule.uris:
            if uri not in emitted:
                known = ", ".join(repr(u) for u in sorted(emitted)) or "none"
                raise ConfigError(
                    f"{path}: collectors.{name}.schedule: no collector emits asset {uri!r} "
                    f"(emitted here: {known}); add it to a producer's 'emits', or set "
                    "'external: true' when another DAG or the REST API emits it"
                )
            if name in emitted[uri]:
                raise ConfigError(
                    f"{path}: collectors.{name}.schedule: the collector would trigger itself "
                    f"(it emits asset {uri!r})"
                )


def check_collector_path(path: str) -> None:
    """Check that ``module:Class`` exists WITHOUT importing it (DAG parsing stays cheap).

    Neither the module nor its packages are imported: the file is found on ``sys.path``
    and read. A top-level ``class Name`` or ``Name =`` line settles it at once; otherwise the
    file's top-level statements are parsed (a name imported from elsewhere counts too).
    """
    module, _, attr = path.partition(":")
    origin = _module_file(module)
    if origin is None:
        raise ConfigError(f"module {module!r} not found")
    stat = origin.stat()
    if attr not in _defined_names(str(origin), stat.st_mtime_ns, stat.st_size, attr):
        raise ConfigError(f"{attr!r} is not defined in module {module!r}")


def _module_file(module: str) -> Path | None:
    """The ``.py`` file of ``module``, located through the path finder: nothing is imported."""
    try:
        spec = None
        search: list[str] | None = None
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), search)
            if spec is None:
                if depth == 1:  # not on sys.path as files: ask the whole import system
                    spec = importlib.util.find_spec(module)
                break
            search = list(spec.submodule_search_locations or [])
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


@functools.lru_cache(maxsize=256)
def _defined_names(origin: str, _mtime_ns: int, _size: int, wanted: str) -> frozenset[str]:
    """Names a module defines at top level (``wanted`` alone when a line shows it at once)."""
    source = Path(origin).read_text(encoding="utf-8")
    if re.search(rf"^(?:class\s+{re.escape(wanted)}\b|{re.escape(wanted)}\s*[:=])", source, re.MULTILINE):
        return frozenset({wanted})
    defined: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            defined.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(defined)
