"""Discover and load dataflow declarations with the defaults chain applied.

The chain, lowest first: framework defaults (the pydantic field defaults) ->
`resources/base.yaml` `defaults` (then the environment profile's) -> the dataflow's
`defaults` -> dataflow `globals` whose names are table parameters -> the table's own values.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dataplat_dagster.config.errors import DeclarationError, Problem
from dataplat_dagster.config.extracted import unknown_sql_connection
from dataplat_dagster.config.models import (
    LAYERS,
    Dataflow,
    LandingSource,
    OutputTable,
    RawTable,
    TransformTable,
    is_owner,
)
from dataplat_dagster.config.profile import Profile, deep_merge, load_profile
from dataplat_dagster.config.substitution import substitute
from dataplat_dagster.config.user_code import make_importable
from dataplat_dagster.config.validation import problems_from_validation
from dataplat_dagster.config.yaml_source import LineMap, line_of, read_yaml, render_path
from dataplat_dagster.environment import Environment

DATAFLOW_FILE_NAMES = ("dataflow.yaml", "dataflow.yml")

LAYER_MODELS: dict[str, type[BaseModel]] = {
    "landing": LandingSource,
    "raw": RawTable,
    "staging": TransformTable,
    "common": TransformTable,
    "business": TransformTable,
    "output": OutputTable,
}


@dataclass
class LoadedDataflow:
    """A validated dataflow with what error messages and SQL files need."""

    spec: Dataflow
    file: str
    folder: Path
    lines: LineMap = field(default_factory=dict)
    project_root: Path | None = None  # where user code (Python transforms) lives
    # (layer, table) of the tables that declare `engine` themselves, not through defaults
    explicit_engines: frozenset[tuple[str, str]] = frozenset()

    def fail(self, path: tuple[str | int, ...], reason: str) -> DeclarationError:
        return DeclarationError(
            self.file, [Problem(render_path(path), reason, line_of(self.lines, path))]
        )


@dataclass
class Project:
    """Everything declared: the environment profile and the dataflows."""

    profile: Profile
    dataflows: list[LoadedDataflow]


def load_project(project_root: Path, env: Environment) -> Project:
    """Load `resources/` for `env` and every dataflow under `assets/`.

    The project root goes on sys.path first: declarations name Python transforms kept next
    to `definitions.py`, and those are imported while the plan is built.
    """
    make_importable(project_root)
    profile = load_profile(project_root / "resources", env, project_root)
    return Project(profile, load_dataflows(project_root / "assets", profile))


def load_dataflows(assets_dir: Path, profile: Profile) -> list[LoadedDataflow]:
    """Load every `assets/<dataflow>/dataflow.yaml`; the first invalid file stops loading."""
    if not assets_dir.is_dir():
        raise DeclarationError.single(str(assets_dir), "", "the assets folder does not exist")
    loaded: list[LoadedDataflow] = []
    seen: dict[str, str] = {}
    for folder in sorted(
        p for p in assets_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ):
        files = [folder / name for name in DATAFLOW_FILE_NAMES if (folder / name).exists()]
        if not files:
            continue
        dataflow = load_dataflow_file(files[0], profile)
        name = dataflow.spec.dataflow
        if name in seen:
            raise dataflow.fail(
                ("dataflow",), f"dataflow {name!r} is already declared in {seen[name]}"
            )
        seen[name] = dataflow.file
        loaded.append(dataflow)
    return loaded


def load_dataflow_file(path: Path, profile: Profile) -> LoadedDataflow:
    """Read, substitute, apply defaults and validate one dataflow file."""
    display = _display(path, profile.project_root)
    data, lines = read_yaml(path, display)
    if not isinstance(data, dict):
        raise DeclarationError.single(
            display, "", "a dataflow file is a mapping with at least `dataflow:`"
        )
    raw_globals = data.get("globals") or {}
    if not isinstance(raw_globals, dict):
        raise DeclarationError.single(
            display,
            "globals",
            "globals is a mapping of names to values",
            line_of(lines, ("globals",)),
        )
    globals_ = {
        **profile.globals_,
        **substitute(raw_globals, profile.globals_, file=display, lines=lines, path=("globals",)),
    }
    body = {key: value for key, value in data.items() if key != "globals"}
    body = substitute(body, globals_, file=display, lines=lines)
    body["globals"] = raw_globals
    _check_defaults(body.get("defaults"), display, lines)
    # the profile's engine is the lowest default of every built table's `engine`
    project_defaults = deep_merge({"all": {"engine": profile.engine}}, profile.defaults)
    explicit_engines = frozenset(
        (layer, name)
        for layer in LAYERS
        if isinstance(body.get(layer), dict)
        for name, table in body[layer].items()
        if isinstance(table, dict) and "engine" in table
    )
    for layer in LAYERS:
        tables = body.get(layer)
        if tables is None:
            continue
        if not isinstance(tables, dict):
            raise DeclarationError.single(
                display,
                layer,
                "a layer is a mapping of table names to tables",
                line_of(lines, (layer,)),
            )
        body[layer] = {
            name: _with_defaults(layer, table, project_defaults, _dataflow_defaults(body), globals_)
            for name, table in tables.items()
        }
    try:
        spec = Dataflow.model_validate(body)
    except ValidationError as exc:
        raise DeclarationError(display, problems_from_validation(exc, lines, body)) from None
    loaded = LoadedDataflow(
        spec, display, path.parent, lines, profile.project_root, explicit_engines
    )
    connections = (profile.resources.get("databases") or {}).get("connections") or {}
    unknown = unknown_sql_connection(spec.landing, connections)
    if unknown is not None:
        raise loaded.fail(*unknown)
    return loaded


@functools.cache
def _model_fields(layer: str) -> frozenset[str]:
    """The parameters of a layer's tables (asked once per table and default)."""
    model = LAYER_MODELS[layer]
    return frozenset(info.alias or name for name, info in model.model_fields.items())


def _check_defaults(defaults: Any, file: str, lines: LineMap) -> None:
    if defaults is None:
        return
    if not isinstance(defaults, dict):
        raise DeclarationError.single(
            file, "defaults", "defaults is a mapping of layer (or all) to table parameters"
        )
    for scope, values in defaults.items():
        if scope != "all" and scope not in LAYER_MODELS:
            raise DeclarationError.single(
                file,
                f"defaults.{scope}",
                f"expected `all` or a layer ({', '.join(LAYERS)})",
                line_of(lines, ("defaults", scope)),
            )
        if not isinstance(values, dict):
            raise DeclarationError.single(
                file, f"defaults.{scope}", "expected a mapping of table parameters"
            )
        allowed = (
            frozenset().union(*(_model_fields(layer) for layer in LAYER_MODELS))
            if scope == "all"
            else _model_fields(scope)
        )
        for key in values:
            if key not in allowed:
                raise DeclarationError.single(
                    file,
                    f"defaults.{scope}.{key}",
                    f"not a parameter of {scope} tables",
                    line_of(lines, ("defaults", scope, key)),
                )


def _dataflow_defaults(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dataflow's `defaults`, with its own owners, tags and engine as every table's defaults."""
    defaults = dict(body.get("defaults") or {})
    inherited = {key: body[key] for key in ("owners", "tags", "engine") if body.get(key)}
    owners = inherited.get("owners")
    if not (isinstance(owners, list) and all(isinstance(o, str) and is_owner(o) for o in owners)):
        inherited.pop(
            "owners", None
        )  # reported once, at the dataflow's `owners`, not once per table
    defaults["all"] = deep_merge(inherited, defaults.get("all") or {})
    return defaults


def _with_defaults(
    layer: str,
    table: Any,
    project: dict[str, dict[str, Any]],
    dataflow: dict[str, dict[str, Any]],
    globals_: dict[str, Any],
) -> Any:
    if table is None:
        table = {}
    if not isinstance(table, dict):
        return table  # pydantic reports the wrong type with its location
    fields = _model_fields(layer)
    merged: dict[str, Any] = {}
    for level in (
        project.get("all"),
        project.get(layer),
        dataflow.get("all"),
        dataflow.get(layer),
        globals_,
    ):
        merged = deep_merge(merged, {k: v for k, v in (level or {}).items() if k in fields})
    return deep_merge(merged, table)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


__all__ = [
    "LAYER_MODELS",
    "LoadedDataflow",
    "Project",
    "deep_merge",
    "load_dataflows",
    "load_profile",
    "load_project",
]
