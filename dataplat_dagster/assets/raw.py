"""Raw (bronze): landing files read with their schema, plus lineage columns; nothing lost."""

from datetime import UTC, datetime
from functools import partial
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.assets.quality import Published
from dataplat_dagster.assets.support import (
    QUARANTINE,
    AssetOptions,
    Counts,
    asset_key,
    build_ins,
    common_asset_args,
    input_name,
    operations,
    partitions_def,
    recorded,
    run_keys,
)
from dataplat_dagster.assets.transformed import quarantine_out
from dataplat_dagster.checks.gate import GateInputs
from dataplat_dagster.checks.specs import build_check_specs
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.engines.base import PARTITION, REASON, RULE, Engine
from dataplat_dagster.engines.landing import empty_read, read_landing_file
from dataplat_dagster.landing_files import files_by_window
from dataplat_dagster.partitions import assign_windows
from dataplat_dagster.resources.file_store import FileInfo, FileStore
from dataplat_dagster.resources.io_managers import WINDOW_PROPERTIES, ParquetIOManager
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource

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
    plan: TablePlan, tables: Plan, kinds: set[str], options: AssetOptions = AssetOptions()
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
                **common_asset_args(plan, kinds),
                metadata={"dataplat/description": plan.description},
            ),
            QUARANTINE: quarantine_out(plan, kinds, "that could not be read or failed its rules"),
        },
        deps=[asset_key(landing.id)],
        ins=build_ins(plan, tables),
        partitions_def=windows,
        **operations(plan),
        check_specs=build_check_specs(plan, asset_key(plan.id), windows),
    )
    def raw_asset(
        context: dg.AssetExecutionContext,
        engine: Engine,
        file_store: FileStore,
        metrics: MetricsResource,
        notifier: NotifierResource,
        io_manager: dg.ResourceParam[ParquetIOManager],
        **inputs: Any,
    ):
        counts = Counts()
        with recorded(context, plan, metrics, counts):
            keys = run_keys(context, plan)
            files = _files(file_store, landing, keys)
            bronze = {
                "_load_ts": datetime.now(UTC),
                "_source_system": plan.spec.source_system,
                "_source_host": file_store.source_host(),
                "_run_id": context.run.run_id,
                "_extraction_method": plan.spec.extraction_method or f"file:{source.format}",
            }
            rows, rejects = [], []
            for info, key in files:
                read = read_landing_file(
                    source, partial(file_store.open_input, info.path), info.path
                )
                rows.append(_with_bronze(read.rows, bronze, info, key))
                rejects.append(_with_bronze(read.rejects, bronze, info, key))
            if not files:  # if_missing: skip -> the windows are written empty
                read = empty_read(source)
                nobody = FileInfo("", 0, 0.0)
                rows.append(_with_bronze(read.rows, bronze, nobody, keys[0]))
                rejects.append(_with_bronze(read.rejects, bronze, nobody, keys[0]))
            table = pa.concat_tables(rows, promote_options="default")
            bad = pa.concat_tables(rejects, promote_options="default")
            counts.rows_in = table.num_rows + bad.num_rows
            counts.rows_in_by_input = {"landing." + landing.id.name: counts.rows_in}
            if source.partition_column and plan.partitioned:
                table, bad = _by_column(table, bad, source.partition_column, windows, keys, counts)
            read_by_window = _rows_by_window([table, bad], keys)
            rejected_by_window = _rows_by_window([bad], keys)
            gate_inputs = GateInputs(
                keys,
                references={t: inputs[names[t]] for t in plan.check_inputs},
                removed_before=rejected_by_window,
                quarantined_before=rejected_by_window,
                source_counts=read_by_window,
            )
            rejected = [engine.from_arrow(bad)] if bad.num_rows else []
            published = Published(plan, engine, table, rejected, gate_inputs, counts)
        context.log.info(
            f"{plan.id}: read {len(files)} file(s), {counts.rows_out} rows, {counts.rows_quarantined} quarantined"
        )
        yield from _landing_observations(landing, files, file_store)
        yield from published.events(
            context,
            notifier,
            metrics,
            with_quarantine=True,
            warehouse=io_manager,
            metadata={
                "files": len(files),
                WINDOW_PROPERTIES: dg.MetadataValue.json(_sources(files, keys, read_by_window)),
            },
            options=options,
        )

    return raw_asset


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


def _sources(
    files: list[tuple[FileInfo, str | None]], keys: list[str | None], rows: dict[str | None, int]
) -> dict[str, dict[str, Any]]:
    """What each window was built from (kept in its manifest; schedules compare it to the source)."""
    sources = {}
    for key in keys:
        used = sorted(
            f"{info.path}@{info.version}" for info, file_key in files if file_key in (key, None)
        )
        sources[str(key)] = {"source_rows": rows.get(key, 0), "source_files": used}
    return sources


def _rows_by_window(parts: list[pa.Table], keys: list[str | None]) -> dict[str | None, int]:
    """Rows per window, counted on the dictionary codes of `_partition` (no text per row)."""
    totals: dict[str | None, int] = dict.fromkeys(keys, 0)
    for part in parts:
        if PARTITION not in part.column_names or keys == [None]:
            totals[keys[0]] += part.num_rows if keys == [None] or len(keys) == 1 else 0
            continue
        column = part[PARTITION]
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        for chunk in (
            column.unify_dictionaries().chunks if isinstance(column, pa.ChunkedArray) else [column]
        ):
            labels = chunk.dictionary.to_pylist()
            counts = np.bincount(
                pc.fill_null(chunk.indices, 0).to_numpy(zero_copy_only=False), minlength=len(labels)
            )
            for label, count in zip(labels, counts, strict=True):
                if label in totals:
                    totals[label] += int(count)
    return totals


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


def _by_column(
    table: pa.Table,
    bad: pa.Table,
    column: str,
    windows: dg.TimeWindowPartitionsDefinition | None,
    keys: list[str | None],
    counts: Counts,
) -> tuple[pa.Table, pa.Table]:
    """Give each row the window of its event time and keep this run's windows.

    A row outside every declared window (or with no event time) is quarantined in the
    nearest window, so that whichever run covers that window records it exactly once.
    """
    assert windows is not None
    table, outside = _assign(table, column, windows)
    bad, _ = _assign(bad, column, windows)
    if outside.any():
        stray = table.filter(pa.array(outside))
        values = stray[column].cast(pa.string()).to_pylist()
        reasons = [
            f"{name} line {line}: {column}={value} is outside the declared windows"
            for name, line, value in zip(
                stray["_source_file"].to_pylist(),
                stray["_source_row"].to_pylist(),
                values,
                strict=True,
            )
        ]
        stray = stray.append_column(RULE, pa.array(["partition"] * len(values), pa.string()))
        stray = stray.append_column(REASON, pa.array(reasons, pa.string()))
        stray = pa.table(
            {name: stray[name].cast(bad.schema.field(name).type) for name in bad.column_names}
        )
        bad = pa.concat_tables([bad, stray], promote_options="default")
        table = table.filter(pa.array(~outside))
    table, bad = _in_run(table, keys), _in_run(bad, keys)
    counts.rows_in = table.num_rows + bad.num_rows  # rows of other windows belong to other runs
    counts.rows_in_by_input = {name: counts.rows_in for name in counts.rows_in_by_input}
    return table, bad


def _assign(
    table: pa.Table, column: str, windows: dg.TimeWindowPartitionsDefinition
) -> tuple[pa.Table, np.ndarray]:
    values = (
        pd.Series(table[column].to_numpy())
        if pa.types.is_date(table[column].type)
        else table[column].to_pandas()
    )
    if not np.issubdtype(values.dtype, np.datetime64):  # quarantined rows hold text
        values = pd.to_datetime(values, errors="coerce", format="ISO8601")
    codes, labels, outside = assign_windows(values, windows)
    partition = pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int32()), pa.array(labels, pa.string())
    )
    if PARTITION in table.column_names:
        table = table.drop_columns([PARTITION])
    return table.append_column(PARTITION, partition), outside


def _in_run(table: pa.Table, keys: list[str | None]) -> pa.Table:
    """The rows of this run's windows (compared on the dictionary's codes, not on the text)."""
    column = table[PARTITION].unify_dictionaries() if table.num_rows else table[PARTITION]
    if not column.num_chunks:
        return table
    labels = column.chunk(0).dictionary.to_pylist()
    wanted = np.isin(
        np.array(labels, dtype=object), np.array([k for k in keys if k is not None], dtype=object)
    )
    if wanted.all():
        return table  # a run over every window the rows fall in keeps them all
    codes = np.concatenate(
        [chunk.indices.to_numpy(zero_copy_only=False) for chunk in column.chunks]
    )
    return table.filter(pa.array(wanted[codes]))
