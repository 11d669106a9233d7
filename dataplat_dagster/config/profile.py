"""Environment profiles: `resources/base.yaml` overlaid by `resources/<env>.yaml`."""

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from dataplat_dagster.config.base import StrictModel
from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.substitution import substitute
from dataplat_dagster.config.validation import problems_from_validation
from dataplat_dagster.config.yaml_source import read_yaml
from dataplat_dagster.environment import Environment

RESOURCE_KEYS = (
    "io_manager",
    "engine",
    "catalog",
    "metrics",
    "notifier",
    "file_store",
    "exports",
    "databases",
    "aws",
)


class RunSettings(StrictModel):
    """How runs of this profile execute."""

    executor: str = Field("in_process", pattern="^(in_process|multiprocess)$")
    max_concurrent: int = Field(2, ge=1, description="steps at once with the multiprocess executor")
    ui_base_url: str | None = Field(
        None, description="Dagster UI address, for links in notifications"
    )
    checks_per_window_up_to: int = Field(
        7,  # a week of days; a month of them was 700 event-log writes, 40% of the run
        ge=1,
        description="range runs of more windows report one check evaluation for the whole range",
    )


class SparkSettings(StrictModel):
    """The Spark engine's session (engines/spark_engine.py `SparkEngine` fields)."""

    master: str = Field("local[*]", description="where a classic session runs")
    remote: str | None = Field(
        None, description="a Spark Connect endpoint sc://host:port (master is then ignored)"
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Spark's own settings, passed through as they are"
    )
    app_name: str = Field("dataplat", description="the application name in the Spark UI")

    @field_validator("conf", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        # YAML reads `spark.sql.shuffle.partitions: 8` as a number; Spark takes text
        if isinstance(value, dict):
            return {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()
            }
        return value


class Profile(StrictModel):
    """A resolved environment profile."""

    env: str
    project_root: Path
    globals_: dict[str, Any] = Field(default_factory=dict, alias="globals")
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    run: RunSettings = RunSettings()
    engine: Literal["pandas", "spark"] = Field(
        "pandas", description="the engine of tables that do not choose one (nor their dataflow)"
    )
    spark: SparkSettings = Field(
        default_factory=SparkSettings, description="the Spark engine's session settings"
    )
    resources: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def local_path(self, value: str | Path) -> Path:
        """A path from the profile, relative ones anchored at the project root."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.project_root / path)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay wins; nested mappings merge key by key (except a resource `type` change, which replaces)."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        replaces = (
            isinstance(value, dict)
            and isinstance(current, dict)
            and value.get("type", current.get("type")) != current.get("type")
        )
        if isinstance(current, dict) and isinstance(value, dict) and not replaces:
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def load_profile(
    resources_dir: Path, env: Environment, project_root: Path | None = None
) -> Profile:
    """Read base.yaml then <env>.yaml from `resources_dir`, resolve globals, validate."""
    project_root = (project_root or resources_dir.parent).resolve()
    merged: dict[str, Any] = {}
    sources: list[tuple[str, Any, Any]] = []
    for name in ("base.yaml", f"{env}.yaml"):
        path = resources_dir / name
        if not path.exists():
            if name == "base.yaml":
                continue
            raise DeclarationError.single(str(path), "", f"no profile for environment {env!r}")
        data, lines = read_yaml(path, _display(path, project_root))
        data = data or {}
        if not isinstance(data, dict):
            raise DeclarationError.single(
                _display(path, project_root), "", "a profile is a mapping"
            )
        sources.append((_display(path, project_root), data, lines))
        merged = deep_merge(merged, data)
    # Globals resolve first (eagerly: they build paths), then everything else may use them.
    globals_: dict[str, Any] = {}
    for display, data, lines in sources:
        raw_globals = data.get("globals") or {}
        globals_.update(
            substitute(
                raw_globals, globals_, file=display, lines=lines, path=("globals",), eager_env=True
            )
        )
    resolved: dict[str, Any] = {}
    for display, data, lines in sources:
        rest = {k: v for k, v in data.items() if k != "globals"}
        resolved = deep_merge(resolved, substitute(rest, globals_, file=display, lines=lines))
    resolved["globals"] = globals_
    try:
        return Profile.model_validate({**resolved, "env": env, "project_root": project_root})
    except ValidationError as exc:
        label = _display(resources_dir / f"{env}.yaml", project_root)
        raise DeclarationError(label, problems_from_validation(exc, {})) from None


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
