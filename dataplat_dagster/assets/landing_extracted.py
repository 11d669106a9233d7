"""The landing asset of an extracted source (`http:` or `sql:`): a step of its dataflow's job.

Each window of the run is fetched and written to the source's path in the file store as one
JSON lines file, atomically: a failure names the source and window and leaves the window's
previous file in place. Raw then reads the file as it reads any landing file.
"""

from datetime import datetime
from typing import Any

import dagster as dg

from dataplat_dagster.assets.support import asset_key, backfill_policy, partitions_def, run_keys
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.extract import ExtractionError
from dataplat_dagster.extract.http import HttpProgress, fetch_records, window_params
from dataplat_dagster.extract.sql import SqlProgress, extraction_query, fetch_rows
from dataplat_dagster.extract.writing import Written, write_jsonl
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.file_store import FileStore


class ExtractionFailed(dg.Failure):
    """A window of an extracted source could not be fetched; nothing was published for it."""


def build_extracted_landing_asset(plan: TablePlan, tables: Plan, job: str) -> dg.AssetsDefinition:
    spec = plan.spec
    # a job's assets share one backfill policy: the landing step takes its reader's (raw's)
    readers = [t for t in tables.of_dataflow(plan.id.dataflow) if plan.id in t.inputs]
    windows = partitions_def(plan)
    kind = "http" if spec.http is not None else "sql"
    # SSM secrets (for SQL, the databases resource's passwords) are read through `aws`
    resources = {"file_store", "aws"} | ({"databases"} if kind == "sql" else set())

    @dg.asset(
        key=asset_key(plan.id),
        description=plan.description,
        group_name="landing",
        partitions_def=windows,
        owners=list(spec.owners),
        tags={"layer": "landing", "dataflow": plan.id.dataflow, **spec.tags, "job": job},
        kinds={kind, spec.format},
        metadata={
            "path_pattern": spec.path,
            "format": spec.format,
            "extraction": kind,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, column.type) for name, column in spec.schema_.items()]
            ),
        },
        required_resource_keys=resources,
        backfill_policy=backfill_policy(readers[0] if readers else plan),
    )
    def landing_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        file_store: FileStore = context.resources.file_store
        written: dict[str, Written] = {}
        details: dict[str, Any] = {}
        for key in run_keys(context, plan):
            start, end = _bounds(windows, key)
            where = f"{plan.id} window {key or 'all'}"
            path = plan.path_pattern.render(moment=start)  # type: ignore[union-attr]
            try:
                if kind == "http":
                    written[path], found = _extract_http(
                        plan, context.resources.aws, file_store, path, start, end
                    )
                else:
                    databases = context.resources.databases
                    written[path], found = _extract_sql(
                        plan, databases, file_store, path, start, end
                    )
            except ExtractionError as error:
                raise ExtractionFailed(
                    description=f"{where}: {error} (nothing published to {path})"
                ) from error
            context.log.info(f"{where}: {written[path].rows} rows to {written[path].uri}")
            # a range run: pages/chunks add up, the URL/query shown is the first window's
            for name, value in found.items():
                is_count = isinstance(value, int)
                details[name] = (
                    details.get(name, 0) + value if is_count else details.get(name, value)
                )
        return dg.MaterializeResult(
            metadata={
                "rows": sum(w.rows for w in written.values()),
                "bytes": sum(w.bytes for w in written.values()),
                "files": dg.MetadataValue.json({p: w.rows for p, w in written.items()}),
                "dagster/row_count": sum(w.rows for w in written.values()),
                "dagster/uri": next(iter(written.values())).uri if len(written) == 1 else "",
                **details,
            }
        )

    return landing_asset


def _bounds(
    windows: dg.PartitionsDefinition | None, key: str | None
) -> tuple[datetime | None, datetime | None]:
    if key is None or not isinstance(windows, dg.TimeWindowPartitionsDefinition):
        return None, None
    window = windows.time_window_for_partition_key(key)
    return window.start, window.end


def _extract_http(
    plan: TablePlan,
    aws: AwsResource,
    file_store: FileStore,
    path: str,
    start: datetime | None,
    end: datetime | None,
) -> tuple[Written, dict[str, Any]]:
    http = plan.spec.http
    progress = HttpProgress()
    written = write_jsonl(
        file_store, path, fetch_records(http, window_params(http, start, end), progress, aws)
    )
    return written, {
        "pages": progress.pages,
        "url": progress.requests[0] if progress.requests else http.url,
    }


def _extract_sql(
    plan: TablePlan,
    databases: Any,
    file_store: FileStore,
    path: str,
    start: datetime | None,
    end: datetime | None,
) -> tuple[Written, dict[str, Any]]:
    sql = plan.spec.sql
    try:
        engine = databases.engine(sql.database)
    except KeyError as error:
        raise ExtractionError(str(error.args[0])) from error
    column = plan.spec.schema_[sql.window_column].type if sql.window_column else None
    query, params = extraction_query(sql, engine, column, start, end)
    progress = SqlProgress()
    rows = fetch_rows(engine, query, params, sql.chunk_size, progress)
    written = write_jsonl(file_store, path, rows)
    return written, {
        "chunks": progress.chunks,
        "query": dg.MetadataValue.md(f"```sql\n{progress.query}\n```"),
        "database": sql.database,
    }
