"""Raw (bronze): landing files read with their schema, plus lineage columns; nothing lost."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa

from dataplat_dagster.assets.quality import Published
from dataplat_dagster.assets.raw_observed import observed_events
from dataplat_dagster.assets.raw_spark import load_observed, load_with_spark
from dataplat_dagster.assets.raw_windows import (
    DateColumn,
    by_column,
    check_file_windows,
    rows_by_window,
    source_counts,
    unaccounted_by_file,
    unaccounted_message,
)
from dataplat_dagster.assets.support import (
    QUARANTINE,
    AssetOptions,
    Counts,
    asset_key,
    build_ins,
    common_asset_args,
    engine_key,
    engine_of,
    fixed_signature,
    input_name,
    io_manager_key,
    operations,
    partitions_def,
    recorded,
    run_keys,
)
from dataplat_dagster.assets.transformed import quarantine_out
from dataplat_dagster.checks.gate import GateInputs, QualityGate
from dataplat_dagster.checks.specs import build_check_specs
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.engines.base import PARTITION, REASON, RULE, Engine
from dataplat_dagster.engines.landing import empty_read, read_landing_file
from dataplat_dagster.engines.landing.spark_reader import unsupported
from dataplat_dagster.engines.spark_windows import DateWindows
from dataplat_dagster.extract import extraction_method
from dataplat_dagster.landing_files import files_by_window
from dataplat_dagster.resources.file_store import FileInfo, FileStore
from dataplat_dagster.resources.io_managers import ParquetIOManager
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource
from dataplat_dagster.timestamps import naive_zone

BRONZE_COLUMNS = (
    "_load_ts",
    "_source_system",
    "_source_file",
    "_source_host",
    "_extraction_method",
    "_run_id",
)


class MissingLandingFiles(dg.Failure):
    """No file arrived for a window the run was asked to load."""


def build_raw_asset(
    plan: TablePlan,
    tables: Plan,
    kinds: set[str],
    options: AssetOptions = AssetOptions(),
    *,
    job: str,
) -> dg.AssetsDefinition:
    landing = tables[plan.inputs[0]]
    source = landing.spec
    windows = partitions_def(plan)
    names = {table_id: input_name(table_id, plan.all_inputs) for table_id in plan.check_inputs}

    @dg.multi_asset(
        name=f"raw__{plan.id.dataflow}__{plan.id.name}",
        outs={
            "table": dg.AssetOut(
                key=asset_key(plan.id),
                **common_asset_args(plan, kinds, job),
                metadata={"dataplat/description": plan.description},
            ),
            QUARANTINE: quarantine_out(
                plan, kinds, "that could not be read or failed its rules", job
            ),
        },
        deps=[asset_key(landing.id)],
        ins=build_ins(plan, tables),
        partitions_def=windows,
        **operations(plan),
        required_resource_keys={
            engine_key(plan),
            io_manager_key(plan),
            "file_store",
            "metrics",
            "notifier",
        },
        check_specs=build_check_specs(plan, asset_key(plan.id), windows),
    )
    @fixed_signature
    def raw_asset(
        context: dg.AssetExecutionContext,
        **inputs: Any,
    ):
        engine: Engine = getattr(context.resources, engine_key(plan))
        io_manager: ParquetIOManager = getattr(context.resources, io_manager_key(plan))
        file_store: FileStore = context.resources.file_store
        metrics: MetricsResource = context.resources.metrics
        notifier: NotifierResource = context.resources.notifier
        counts = Counts()
        with recorded(context, plan, metrics, counts):
            keys = run_keys(context, plan)
            files = _files(file_store, landing, keys)
            bronze = {
                "_load_ts": datetime.now(UTC),
                "_source_system": plan.spec.source_system,
                "_source_host": file_store.source_host(),
                "_run_id": context.run.run_id,
                "_extraction_method": plan.spec.extraction_method or extraction_method(source),
            }
            on_spark_engine = engine_of(plan) == "spark"
            why_not = _spark_cannot(landing, files, windows) if on_spark_engine else "pandas"
            on_spark = None
            spark_read = (  # what Spark reads, either way below
                (
                    engine.session(),
                    source,
                    files,
                    keys,
                    bronze,
                    file_store,
                    naive_zone(landing),
                    _dated(landing, windows, keys),
                )
                if why_not is None
                else None
            )
            if spark_read is not None and not QualityGate(plan, engine).active:
                # no check judges the counts before publication: the table's write counts them
                observed = load_observed(*spark_read)
                if len(keys) <= options.checks_per_window_up_to:
                    yield from _landing_observations(landing, files, file_store)
                yield from observed_events(
                    context,
                    plan,
                    engine,
                    observed,
                    counts,
                    keys=keys,
                    input_name="landing." + landing.id.name,
                    metadata={"files": len(files)},
                    sources=partial(_sources, files, keys),
                )
                context.log.info(
                    f"{plan.id}: read {len(files)} file(s), {counts.rows_out} rows, "
                    f"{counts.rows_quarantined} quarantined"
                )
                return
            if spark_read is not None:  # Spark reads the files: only counts come back
                on_spark = load_with_spark(*spark_read)
                table, bad = on_spark.table, on_spark.bad
                read_by_window = on_spark.read_by_window
                rejected_by_window = on_spark.rejected_by_window
                loaded = _Loaded(table, bad, dict(read_by_window), {})
                counts.rows_in = on_spark.rows_in
                rejected = [bad] if any(rejected_by_window.values()) else []
            else:
                if engine_of(plan) == "spark":
                    context.log.info(
                        f"{plan.id}: landing files read by the Arrow readers: {why_not}"
                    )
                loaded = _load(landing, files, keys, bronze, file_store, windows)
                table, bad, unaccounted = loaded.table, loaded.bad, loaded.unaccounted
                counts.rows_in = table.num_rows + bad.num_rows
                read_by_window = source_counts(table, bad, keys, unaccounted)
                if unaccounted:
                    context.log.error(unaccounted_message(str(plan.id), unaccounted))
                rejected_by_window = rows_by_window([bad], keys)
                rejected = [engine.from_arrow(bad)] if bad.num_rows else []
            counts.rows_in_by_input = {"landing." + landing.id.name: counts.rows_in}
            gate_inputs = GateInputs(
                keys,
                references={t: inputs[names[t]] for t in plan.check_inputs},
                removed_before=rejected_by_window,
                quarantined_before=rejected_by_window,
                source_counts=read_by_window,
            )
            published = Published(plan, engine, table, rejected, gate_inputs, counts)
        context.log.info(
            f"{plan.id}: read {len(files)} file(s), {counts.rows_out} rows, {counts.rows_quarantined} quarantined"
        )
        if len(keys) <= options.checks_per_window_up_to:
            # larger ranges: the files read stay in each window's manifest (`properties`),
            # not one event-log write per file (8 s of a year of daily files)
            yield from _landing_observations(landing, files, file_store)
        yield from published.events(
            context,
            notifier,
            metrics,
            with_quarantine=True,
            warehouse=io_manager,
            metadata=_metadata(files, loaded),
            properties=_sources(files, keys, loaded.lines_by_window),
            options=options,
        )
        if on_spark is not None:
            on_spark.release()

    return raw_asset


def _spark_cannot(
    landing: TablePlan,
    files: list[tuple[FileInfo, str | None]],
    windows: dg.TimeWindowPartitionsDefinition | None,
) -> str | None:
    """Why Spark does not read this run's files (the Arrow readers then do), or None."""
    if not files:
        return "no file to read (if_missing: skip)"
    return unsupported(landing.spec, windows)


def _dated(
    landing: TablePlan,
    windows: dg.TimeWindowPartitionsDefinition | None,
    keys: list[str | None],
) -> DateWindows | None:
    """A file of many windows on Spark: its rows find their window by this date column."""
    column = landing.spec.partition_column
    if column is None or landing.spec.has_date_in_path or windows is None:
        return None
    return DateWindows(column, windows, tuple(k for k in keys if k is not None))


@dataclass
class _Loaded:
    """The files of a run read: rows, rejected rows, and what the files held."""

    table: Any  # Arrow, or Spark DataFrames when Spark read the files
    bad: Any
    lines_by_window: dict[str | None, int]  # data lines of each window's files (or its rows)
    unaccounted: dict[
        str, tuple[str | None, int]
    ]  # file -> (window, lines neither read nor rejected)


def _load(
    landing: TablePlan,
    files: list[tuple[FileInfo, str | None]],
    keys: list[str | None],
    bronze: dict[str, Any],
    file_store: FileStore,
    windows: dg.TimeWindowPartitionsDefinition | None,
) -> _Loaded:
    source, zone = landing.spec, naive_zone(landing)
    rows, rejects, unaccounted = [], [], {}
    lines: dict[str | None, int] = dict.fromkeys(keys, 0)
    for info, key in files:
        read = read_landing_file(source, partial(file_store.open_input, info.path), info.path, zone)
        rows.append(_with_bronze(read.rows, bronze, info, key))
        rejects.append(_with_bronze(read.rejects, bronze, info, key))
        lines[key] = lines.get(key, 0) + read.source_rows
        missing = read.source_rows - read.rows.num_rows - read.rejects.num_rows
        if missing:
            unaccounted[info.path] = (key, missing)
    if not files:  # if_missing: skip -> the windows are written empty
        read, nobody = empty_read(source), FileInfo("", 0, 0.0)
        rows.append(_with_bronze(read.rows, bronze, nobody, keys[0]))
        rejects.append(_with_bronze(read.rejects, bronze, nobody, keys[0]))
    table = pa.concat_tables(rows, promote_options="default")
    bad = pa.concat_tables(rejects, promote_options="default")
    if source.partition_column and windows is not None:
        spec = source.schema_[source.partition_column]
        column = DateColumn(source.partition_column, spec, zone, windows)
        if source.has_date_in_path:
            policy = source.outside_window_policy
            table, bad = check_file_windows(table, bad, column, keys, policy)
        else:
            table, bad = by_column(table, bad, column, keys)
            lines = rows_by_window([table, bad], keys)  # rows of other windows: other runs
    return _Loaded(table, bad, lines, unaccounted)


def _landing_observations(
    landing: TablePlan, files: list[tuple[FileInfo, str | None]], file_store: FileStore
) -> list[dg.AssetObservation]:
    """The files read, as observations of the landing asset (what it held at build time)."""
    return [
        dg.AssetObservation(
            asset_key=asset_key(landing.id),
            partition=key if landing.partitioned else None,
            metadata={
                "file": info.path,
                "size": info.size,
                "version": info.version,
                "window": str(key) if key is not None else "all",
                "dagster/uri": file_store.uri(info.path),
            },
        )
        for info, key in files
    ]


def _metadata(files: list[tuple[FileInfo, str | None]], loaded: "_Loaded") -> dict[str, Any]:
    metadata: dict[str, Any] = {"files": len(files)}
    if loaded.unaccounted:
        lost = unaccounted_by_file(loaded.unaccounted)
        metadata["lines_unaccounted"] = dg.MetadataValue.json(lost)
    return metadata


def _sources(
    files: list[tuple[FileInfo, str | None]], keys: list[str | None], rows: dict[str | None, int]
) -> dict[str | None, dict[str, Any]]:
    """What each window was built from (kept in its manifest; schedules compare it to the source)."""
    sources = {}
    for key in keys:
        used = sorted(
            f"{info.path}@{info.version}" for info, file_key in files if file_key in (key, None)
        )
        sources[key] = {"source_rows": rows.get(key, 0), "source_files": used}
    return sources


def _files(
    file_store: FileStore, landing: TablePlan, keys: list[str | None]
) -> list[tuple[FileInfo, str | None]]:
    grouped = files_by_window(file_store, landing, keys)
    if landing.spec.has_date_in_path:
        missing = [key for key in keys if key not in grouped]
        if missing and landing.spec.if_missing == "fail":
            raise MissingLandingFiles(
                description=(
                    f"{landing.id}: no file matching {landing.spec.path!r} under {file_store.uri('')} "
                    f"for window(s) {', '.join(str(k) for k in missing)}"
                ),
                allow_retries=False,
            )
        return [(info, key) for key in keys for info in grouped.get(key, [])]
    files = grouped.get(None, [])
    if not files and landing.spec.if_missing == "fail":
        raise MissingLandingFiles(
            description=f"{landing.id}: no file matching {landing.spec.path!r} under {file_store.uri('')}",
            allow_retries=False,
        )
    # one file for many windows: every row finds its window by the partition column later
    single_key = keys[0] if len(keys) == 1 and not landing.spec.partition_column else None
    return [(info, single_key) for info in files]


def _with_bronze(
    table: pa.Table, bronze: dict[str, Any], info: FileInfo, key: str | None
) -> pa.Table:
    rows = table.num_rows
    columns = {
        "_load_ts": pa.array(
            np.full(rows, np.datetime64(bronze["_load_ts"].replace(tzinfo=None), "us")),
            pa.timestamp("us", tz="UTC"),
        ),
        "_source_system": _constant(bronze["_source_system"], rows),
        "_source_file": _constant(info.path, rows),
        "_source_host": _constant(bronze["_source_host"], rows),
        "_extraction_method": _constant(bronze["_extraction_method"], rows),
        "_run_id": _constant(bronze["_run_id"], rows),
    }
    if key is not None:
        columns[PARTITION] = _constant(key, rows)
    for name, column in columns.items():
        table = table.append_column(name, column)
    # keep the quarantine columns last, after the lineage columns
    order = [c for c in table.column_names if c not in (RULE, REASON)] + [
        c for c in (RULE, REASON) if c in table.column_names
    ]
    return table.select(order)


def _constant(value: str, rows: int) -> pa.DictionaryArray:
    """A repeated string costs one dictionary entry, not `rows` copies."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.string())
    )
