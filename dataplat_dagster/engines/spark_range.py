"""A window-local SQL body run once over a range on Spark, as the plan rewrote it.

The rewrite (`sql_windows.RangeSQL`) is DuckDB SQL; it is translated like any body. As in
`sql_range`, the result takes the per-window query's column names, windows without rows
get the row an aggregate without GROUP BY returns over no rows, and `_partition` must name
a window of the run.
"""

from collections.abc import Sequence
from typing import Any

from pyspark.sql import functions as F

from dataplat_dagster.engines.base import PARTITION, TransformError
from dataplat_dagster.engines.spark_frames import arrow_schema, normalise_numbers
from dataplat_dagster.engines.spark_masks import check_windows
from dataplat_dagster.engines.spark_sql import duckdb_schema, like_duckdb, run_spark_sql
from dataplat_dagster.engines.sql_range import RangeQueryFailed
from dataplat_dagster.engines.sql_windows import RangeSQL


def run_range(
    engine: Any,
    query: RangeSQL,
    original: str,
    tables: dict[str, Any],
    windowed: Sequence[str],
    keys: Sequence[str],
    timezone: str,
    label: str,
) -> Any:
    """Run `query.sql` over the frames of `tables`; the `windowed` ones carry `_partition`."""
    from dataplat_dagster.engines.spark_times import set_session_zone

    assert query.sql is not None
    session = engine.session()
    set_session_zone(session, timezone)
    frames = {ref: engine.as_frame(frame) for ref, frame in tables.items()}
    try:
        result = run_spark_sql(session, query.sql, frames, label=label)
    except TransformError as exc:  # the rewrite Spark refuses: the caller loops the windows
        raise RangeQueryFailed(f"Spark refused the query over the range ({exc})") from None
    # each window's view of its inputs: no `_partition`
    per_window = {
        ref: engine.drop_columns(frame, [PARTITION]) if ref in windowed else frame
        for ref, frame in frames.items()
    }
    schemas = {ref: arrow_schema(frame) for ref, frame in per_window.items()}
    schema = duckdb_schema(original, schemas, timezone)
    names = schema.names if schema is not None else [c for c in result.columns if c != PARTITION]
    if len(names) + 1 != len(result.columns):
        raise RangeQueryFailed(
            f"the query over the range returned {len(result.columns) - 1} columns where one "
            f"window returns {len(names)}"
        )
    result = result.toDF(*names, PARTITION).withColumn(PARTITION, F.col(PARTITION).cast("string"))
    if query.fill_empty:
        result = _fill_empty_windows(engine, result, original, per_window, keys, label, names)
    check_windows(result, keys, label=label)
    return like_duckdb(normalise_numbers(result), schema, names)


def _fill_empty_windows(
    engine: Any,
    result: Any,
    original: str,
    frames: dict[str, Any],
    keys: Sequence[str],
    label: str,
    names: list[str],
) -> Any:
    """Windows with no row get what the query returns over no rows (an aggregate's one row)."""
    present = {str(r[0]) for r in result.select(PARTITION).distinct().collect()}
    missing = [key for key in keys if key not in present]
    if not missing:
        return result
    empty_inputs = {ref: frame.limit(0) for ref, frame in frames.items()}
    over_none = run_spark_sql(engine.session(), original, empty_inputs, label=label)
    over_none = over_none.toDF(*names)
    windows = engine.session().createDataFrame([(key,) for key in missing], f"{PARTITION} string")
    filler = over_none.crossJoin(windows)
    return result.unionByName(filler.select(*[F.col(f"`{c}`") for c in result.columns]))
