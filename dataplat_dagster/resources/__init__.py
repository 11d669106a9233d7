"""Resources per environment: the same keys everywhere, implementations chosen by the profile."""

from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy.engine import make_url

from dataplat_dagster.config.errors import DeclarationError, Problem
from dataplat_dagster.config.profile import RESOURCE_KEYS, Profile
from dataplat_dagster.config.substitution import EnvRef
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.catalog import LocalCatalog
from dataplat_dagster.resources.databases import DatabasesResource
from dataplat_dagster.resources.file_store import LocalFileStore, S3FileStore
from dataplat_dagster.resources.glue_catalog import GlueCatalog
from dataplat_dagster.resources.io_managers import LocalParquetIOManager, S3ParquetIOManager
from dataplat_dagster.resources.metrics import CloudWatchMetrics, LocalMetrics
from dataplat_dagster.resources.notifier import OutboxNotifier, SesNotifier, SmtpNotifier

# `type:` in resources/<env>.yaml -> class. Local paths in these fields are anchored at the project root.
RESOURCE_TYPES: dict[str, type[dg.ConfigurableResource] | type[dg.ConfigurableIOManager]] = {
    "pandas": PandasEngine,
    "local_parquet": LocalParquetIOManager,
    "sqlite_catalog": LocalCatalog,
    "sqlite_metrics": LocalMetrics,
    "outbox": OutboxNotifier,
    "local_files": LocalFileStore,
    "databases": DatabasesResource,
    "aws": AwsResource,
    "s3_parquet": S3ParquetIOManager,
    "glue_catalog": GlueCatalog,
    "cloudwatch_metrics": CloudWatchMetrics,
    "ses": SesNotifier,
    "smtp": SmtpNotifier,
    "s3_files": S3FileStore,
}
OPTIONAL_KEYS: tuple[str, ...] = ()
LOCAL_PATH_FIELDS = ("root", "path", "folder")


def build_resources(profile: Profile, engines: set[str] | None = None) -> dict[str, Any]:
    """Instantiate every resource of the profile (nothing connects until a run uses it).

    Args:
        profile: the environment profile.
        engines: the engines the code location's tables use (default: the profile's). With
            `spark`, the SparkEngine (`spark_engine`) and the Spark twin of the warehouse IO
            manager (`spark_io_manager`, same store) are added beside the Pandas ones, so
            that tables on either engine share one code location.
    """
    missing = [key for key in RESOURCE_KEYS if key not in profile.resources]
    unknown = [key for key in profile.resources if key not in (*RESOURCE_KEYS, *OPTIONAL_KEYS)]
    if missing or unknown:
        problems = [
            Problem(f"resources.{k}", "required resource is not configured") for k in missing
        ]
        problems += [
            Problem(f"resources.{k}", f"unknown resource key (expected {', '.join(RESOURCE_KEYS)})")
            for k in unknown
        ]
        raise DeclarationError(f"resources/{profile.env}.yaml", problems)
    built: dict[str, Any] = {}
    built["aws"] = _instantiate("aws", {"type": "aws", **profile.resources["aws"]}, profile, {})
    for key in ("engine", "catalog", "metrics", "notifier", "file_store", "exports", "databases"):
        built[key] = _instantiate(key, profile.resources[key], profile, built)
    built["io_manager"] = _instantiate(
        "io_manager", profile.resources["io_manager"], profile, built
    )
    if "spark" in (engines if engines is not None else {profile.engine}):
        built.update(_spark_resources(profile, built))
    return built


def _spark_resources(profile: Profile, built: dict[str, Any]) -> dict[str, Any]:
    """The Spark engine from the profile's `spark:` block, and its warehouse IO manager."""
    from dataplat_dagster.engines.spark_engine import SparkEngine
    from dataplat_dagster.resources.spark_io_managers import SPARK_TWINS

    where = f"resources/{profile.env}.yaml"
    spark = SparkEngine(**profile.spark.model_dump())
    declared = dict(profile.resources["io_manager"])
    twin = SPARK_TWINS.get(declared.pop("type"))
    if twin is None:
        raise DeclarationError.single(
            where,
            "resources.io_manager.type",
            f"the Spark engine writes to {', '.join(SPARK_TWINS)} warehouses only",
        )
    fields = {name: _env(value) for name, value in declared.items()}
    if isinstance(fields.get("root"), str) and "://" not in fields["root"]:
        fields["root"] = str(profile.local_path(fields["root"]))
    wanted = {"engine": spark, "catalog": built["catalog"]}
    if "aws" in twin.model_fields:
        wanted["aws"] = built["aws"]
    try:
        io_manager = twin(**fields, **wanted)
    except Exception as exc:  # pydantic's message names the field
        raise DeclarationError.single(where, "resources.io_manager", f"spark: {exc}") from None
    return {"spark_engine": spark, "spark_io_manager": io_manager}


def kinds_of(profile: Profile) -> set[str]:
    """Kinds shown on every built asset: the engine (each table's own, see assets) and the storage."""
    storage = "s3" if profile.resources["io_manager"]["type"].startswith("s3") else "parquet"
    return {profile.engine, storage}


def _instantiate(
    key: str, declared: dict[str, Any], profile: Profile, dependencies: dict[str, Any]
) -> Any:
    where = f"resources/{profile.env}.yaml"
    kind = declared.get("type")
    if kind not in RESOURCE_TYPES:
        raise DeclarationError.single(
            where,
            f"resources.{key}.type",
            f"unknown type {kind!r} (expected one of {', '.join(RESOURCE_TYPES)})",
        )
    fields = {name: _env(value) for name, value in declared.items() if name != "type"}
    for name in LOCAL_PATH_FIELDS:
        if isinstance(fields.get(name), str) and "://" not in fields[name]:
            fields[name] = str(profile.local_path(fields[name]))
    if kind == "databases":
        fields["connections"] = {
            name: _local_sqlite(c, profile) for name, c in (fields.get("connections") or {}).items()
        }
    cls = RESOURCE_TYPES[kind]
    # nested resources a class declares (aws, engine, catalog) are injected from those built
    wanted = {
        name: dependencies[name]
        for name in ("aws", "engine", "catalog")
        if name in cls.model_fields and name in dependencies
    }
    if (
        "aws" in cls.model_fields
        and "aws" not in dependencies
        and cls.model_fields["aws"].is_required()
    ):
        raise DeclarationError.single(
            where,
            f"resources.{key}",
            f"{kind} needs the `aws` resource (region, endpoint) in the profile",
        )
    try:
        return cls(**fields, **wanted)
    except Exception as exc:  # pydantic's message names the field
        raise DeclarationError.single(where, f"resources.{key}", f"{kind}: {exc}") from None


def _env(value: Any) -> Any:
    if isinstance(value, EnvRef):
        return dg.EnvVar(value.name)
    if isinstance(value, dict):
        return {k: _env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_env(v) for v in value]
    return value


def _local_sqlite(connection: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """Anchor a relative SQLite file at the project root (in-memory databases stay as they are)."""
    url = connection.get("url")
    if not isinstance(url, str):
        return connection
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or Path(database).is_absolute()
    ):
        return connection
    return {
        **connection,
        "url": parsed.set(database=str(profile.local_path(database))).render_as_string(
            hide_password=False
        ),
    }
