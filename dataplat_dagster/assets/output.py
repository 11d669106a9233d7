"""Output: exports of a table (a file per window, or a SQL table) and a notification."""

import io
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from dataplat_dagster.assets.clickhouse_output import write_to_clickhouse
from dataplat_dagster.assets.left_out import left_out_metadata, windows_to_build
from dataplat_dagster.assets.sql_output import (
    SqlDatabaseUnavailable,
    SqlTarget,
    SqlWrite,
    write_sql_output,
)
from dataplat_dagster.assets.sql_rows import SqlOutputError
from dataplat_dagster.assets.support import (
    AssetOptions,
    Counts,
    asset_key,
    build_ins,
    common_asset_args,
    engine_key,
    fixed_signature,
    io_manager_key,
    operations,
    partitions_def,
    recorded,
)
from dataplat_dagster.config.models import OutputTable
from dataplat_dagster.config.path_pattern import PathPattern
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.engines.base import PARTITION, Engine
from dataplat_dagster.notifications import output_notice
from dataplat_dagster.resources.clickhouse import is_clickhouse_url
from dataplat_dagster.resources.databases import DatabasesResource
from dataplat_dagster.resources.file_store import FileStore
from dataplat_dagster.resources.io_managers import ParquetIOManager
from dataplat_dagster.resources.metrics import MetricsResource
from dataplat_dagster.resources.notifier import NotifierResource
from dataplat_dagster.resources.storage import RecordedWindow

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}


def build_output_asset(
    plan: TablePlan,
    tables: Plan,
    kinds: set[str],
    options: AssetOptions = AssetOptions(),
    *,
    job: str,
) -> dg.AssetsDefinition:
    spec: OutputTable = plan.spec
    (source_name,) = build_ins(plan, tables)

    @dg.asset(
        key=asset_key(plan.id),
        ins=build_ins(plan, tables),
        partitions_def=partitions_def(plan),
        **operations(plan),
        required_resource_keys={
            engine_key(plan),
            io_manager_key(plan),
            "exports",
            "databases",
            "notifier",
            "metrics",
        },
        **common_asset_args(plan, {spec.format, *kinds}, job),
    )
    @fixed_signature
    def output_asset(
        context: dg.AssetExecutionContext,
        **inputs: Any,
    ) -> dg.MaterializeResult:
        engine: Engine = getattr(context.resources, engine_key(plan))
        io_manager: ParquetIOManager = getattr(context.resources, io_manager_key(plan))
        exports: FileStore = context.resources.exports
        databases: DatabasesResource = context.resources.databases
        notifier: NotifierResource = context.resources.notifier
        metrics: MetricsResource = context.resources.metrics
        frame = inputs[source_name]
        counts = Counts(rows_in=engine.row_count(frame))
        counts.rows_in_by_input = {spec.from_: counts.rows_in}
        with recorded(context, plan, metrics, counts):
            keys, left_out = windows_to_build(context, plan)
            left_out_metadata(context, asset_key(plan.id), left_out)
            parts = (
                list(engine.split(frame, keys))
                if plan.partitioned
                else [(None, _drop(engine.to_arrow(frame)))]
            )
            sql_metadata: dict[str, Any] = {}
            if spec.format == "sql":
                written = _write_table(engine, databases, plan, frame, keys)
                locations = {key: written.location for key, _ in parts}
                sql_metadata = {
                    "sql_table_created": written.created,
                    "sql_columns_added": dg.MetadataValue.json(list(written.added_columns)),
                }
            elif spec.format == "clickhouse":
                written = write_to_clickhouse(databases, plan, engine.to_arrow(frame), keys)
                locations = {key: written.location for key, _ in parts}
                sql_metadata = {
                    "clickhouse_table": written.location,
                    "clickhouse_table_created": written.created,
                    "clickhouse_rows_by_window": dg.MetadataValue.json(written.rows_by_window),
                    "clickhouse_ddl": dg.MetadataValue.md(f"```sql\n{written.ddl}\n```"),
                }
            else:
                locations = _write_files(exports, plan, parts)
            counts.rows_out = counts.rows_in
            _record(io_manager, plan, parts, locations)
        for key, table in parts:
            if key is not None:  # each window's own export and rows, on its materialization
                context.add_asset_metadata(
                    {"dagster/uri": locations[key], "dagster/row_count": table.num_rows},
                    partition_key=key,
                )
        notifier.send(
            output_notice(
                table=str(plan.id),
                keys=keys,
                locations=sorted(set(locations.values())),
                rows=counts.rows_out,
                run_id=context.run.run_id,
                ui_base_url=options.ui_base_url,
                recipients=spec.notify,
            )
        )
        metadata: dict[str, Any] = {
            **counts.as_metadata(),
            **sql_metadata,
            "locations": dg.MetadataValue.json(_listed(sorted(set(locations.values())))),
        }
        if not plan.partitioned:
            metadata |= {"dagster/row_count": counts.rows_out, "dagster/uri": locations[None]}
        return dg.MaterializeResult(metadata=metadata)

    return output_asset


# Dagster copies this metadata onto every window's materialization (each has its own
# dagster/uri): a year's 365 file names on each of 365 windows was quadratic.
LISTED_LOCATIONS = 10


def _listed(locations: list[str]) -> list[str]:
    if len(locations) <= LISTED_LOCATIONS:
        return locations
    more = len(locations) - LISTED_LOCATIONS
    return [
        *locations[:LISTED_LOCATIONS],
        f"... and {more} more (each window's is its dagster/uri)",
    ]


def _write_files(
    exports: FileStore, plan: TablePlan, parts: list[tuple[str | None, pa.Table]]
) -> dict[str | None, str]:
    """One export file per window; window -> its URI."""
    spec: OutputTable = plan.spec
    extension = EXTENSIONS[spec.format]
    default = (
        f"{{dataflow}}/{{table}}/{{table}}_{{partition}}.{extension}"
        if plan.partitioned
        else f"{{dataflow}}/{{table}}/{{table}}.{extension}"
    )
    pattern = PathPattern(spec.path or default)
    windows = partitions_def(plan)
    locations = {}
    for key, table in parts:
        moment = windows.time_window_for_partition_key(key).start if windows and key else None
        path = pattern.render(
            moment=moment, partition=key or "all", dataflow=plan.id.dataflow, table=plan.id.name
        )
        locations[key] = exports.write_bytes(path, _serialise(table, spec.format))
    return locations


def _record(
    io_manager: ParquetIOManager,
    plan: TablePlan,
    parts: list[tuple[str | None, pa.Table]],
    locations: dict[str | None, str],
) -> None:
    """A manifest per window in the warehouse, naming the export: what was built is known there."""
    windows = [
        RecordedWindow(key, table.num_rows, table.schema, {"location": locations[key]})
        for key, table in parts
    ]
    io_manager.storage().record_many(plan.id.key_path, windows)  # one batch of locks


def _drop(table: pa.Table) -> pa.Table:
    return table.drop_columns([PARTITION]) if PARTITION in table.column_names else table


def _serialise(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "csv":
        pa_csv.write_csv(table, sink)
    elif fmt == "parquet":
        pq.write_table(table, sink)
    else:
        table.to_pandas().to_json(sink, orient="records", lines=True, date_format="iso")
    return sink.getvalue()


def _write_table(
    engine: Engine,
    databases: DatabasesResource,
    plan: TablePlan,
    frame: Any,
    keys: list[str | None],
) -> SqlWrite:
    """Replace this run's windows in the target table in one transaction (idempotent re-runs)."""
    spec: OutputTable = plan.spec
    assert spec.database and spec.table
    target = SqlTarget(
        output=str(plan.id),
        database=spec.database,
        table=spec.table,
        windows=tuple(key for key in keys if key is not None),
        columns=spec.columns,
        on_schema_change=spec.on_schema_change,
    )
    connection = databases.connections.get(spec.database)
    if connection is not None and is_clickhouse_url(connection.url):
        raise SqlOutputError(
            f"{plan.id}: database {spec.database!r} is a ClickHouse connection; declare the "
            "output with format: clickhouse"
        )
    try:
        database = databases.engine(spec.database)
    except OSError as exc:  # SQLite's folder could not be made
        raise SqlDatabaseUnavailable(
            f"writing {plan.id} to database {spec.database!r}: {exc}"
        ) from exc
    return write_sql_output(database, target, engine.to_arrow(frame))
