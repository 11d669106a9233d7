"""Landing: the files that arrive, as observable assets (observed, never built here).

The UI shows each window's latest observation: the files it holds, their sizes and versions.
Observations are recorded when a sensor sees files arrive, when raw reads them, and when an
operator observes the source (the asset's Observe button, or a run selecting it).

A source declared with `http:` or `sql:` is extracted instead: its landing asset is
materialized by its dataflow's job, before raw (see `build_extracted_landing_asset`).
"""

import hashlib

import dagster as dg

from dataplat_dagster.assets.landing_extracted import build_extracted_landing_asset
from dataplat_dagster.assets.support import asset_key, partitions_def
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.landing_files import files_by_window
from dataplat_dagster.resources.file_store import FileInfo, FileStore


def build_landing_asset(
    plan: TablePlan, job: str | None = None, tables: Plan | None = None
) -> dg.AssetsDefinition:
    if plan.spec.extracted:
        assert job is not None and tables is not None, f"{plan.id} is extracted: job and plan"
        return build_extracted_landing_asset(plan, tables, job)
    spec = plan.spec
    windows = partitions_def(plan)
    asset_spec = dg.AssetSpec(
        key=asset_key(plan.id),
        description=plan.description,
        group_name="landing",
        partitions_def=windows,
        owners=list(spec.owners),
        tags={"layer": "landing", "dataflow": plan.id.dataflow, **spec.tags},
        kinds={"file", spec.format},
        metadata={
            "path_pattern": spec.path,
            "format": spec.format,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, column.type) for name, column in spec.schema_.items()]
            ),
        },
    )

    @dg.multi_observable_source_asset(
        name=f"landing__{plan.id.dataflow}__{plan.id.name}",
        specs=[asset_spec],
        partitions_def=windows,
    )
    def landing_asset(context: dg.AssetExecutionContext, file_store: FileStore):
        keys: list[str | None] = list(context.partition_keys) if windows else [None]
        found = files_by_window(file_store, plan, keys)
        for key in keys:
            files = found.get(key, []) or (found.get(None, []) if key is not None else [])
            yield observation(plan, key, files, file_store)
        total = sum(len(files) for files in found.values())
        yield dg.ObserveResult(asset_key=asset_key(plan.id), metadata={"files_observed": total})

    return landing_asset


def observation(
    plan: TablePlan, window: str | None, files: list[FileInfo], file_store: FileStore
) -> dg.AssetObservation:
    """What one window of a source holds now; its data version changes with any file's."""
    versions = sorted(f"{info.path}@{info.version}" for info in files)
    return dg.AssetObservation(
        asset_key=asset_key(plan.id),
        partition=window,
        metadata={
            "files": dg.MetadataValue.json(versions),
            "bytes": sum(info.size for info in files),
            "window": str(window) if window is not None else "all",
            "dagster/uri": file_store.uri(files[0].path) if len(files) == 1 else file_store.uri(""),
        },
        tags={"dagster/data_version": hashlib.sha1("\n".join(versions).encode()).hexdigest()[:16]},
    )
