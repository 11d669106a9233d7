"""Run a window-local SQL body once over a range of windows, as the plan rewrote it.

The rewrite (`sql_windows`) makes the window a column; this runs it, gives its columns the
names one window's query has, adds the row an aggregate without GROUP BY returns for a
window without rows, and types and orders the window column as the per-window loop does.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.engines.base import PARTITION, TransformError
from dataplat_dagster.engines.sql import connect, normalise_numbers, render_sql, view_name
from dataplat_dagster.engines.sql_windows import RangeSQL
from dataplat_dagster.timestamps import instants_in_utc


class RangeQueryFailed(TransformError):
    """DuckDB refused the rewritten query: the caller runs the body window by window.

    (A body that fails on its data fails there too, with the per-window error.)
    """


def run_range(
    query: RangeSQL,
    original: str,
    tables: dict[str, Any],
    windowed: Iterable[str],
    keys: Sequence[str],
    timezone: str = "UTC",
    *,
    label: str = "SQL",
) -> pa.Table:
    """Run a window-local body once over the windows `keys`, as `query` (the plan) says.

    `tables` are registered under their refs; the `windowed` ones carry `_partition`. The
    result has the per-window query's columns (DuckDB's names for them, from binding
    `original` over no rows) then `_partition`, rows in window order.
    """
    assert query.sql is not None
    connection = connect(timezone)
    try:
        for ref, frame in tables.items():
            connection.register(view_name(ref), frame)
        try:
            result = connection.sql(query.sql).to_arrow_table()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            raise RangeQueryFailed(f"DuckDB refused the query over the range ({first})") from None
        for ref in windowed:  # each window's view of the inputs, with no rows
            connection.register(view_name(ref), _no_rows(tables[ref]))
        over_none = connection.sql(render_sql(original))
        names = over_none.columns
        empty = over_none.to_arrow_table() if query.fill_empty else None
    except duckdb.Error as exc:
        raise TransformError(f"SQL failed: {exc}\n--- SQL ---\n{original.strip()}") from None
    finally:
        connection.close()
    if len(names) + 1 != result.num_columns:  # the rewrite only appends the window column
        raise RangeQueryFailed(
            f"the query over the range returned {result.num_columns - 1} columns where one "
            f"window returns {len(names)}"
        )
    result = instants_in_utc(result.rename_columns([*names, PARTITION]))
    if empty is not None:
        result = _fill_empty_windows(result, instants_in_utc(empty), keys)
    return ordered_by_window(normalise_numbers(result, label), keys, label)


def _no_rows(frame: Any) -> Any:
    if isinstance(frame, pa.Table):
        return frame.slice(0, 0).drop_columns([c for c in [PARTITION] if c in frame.column_names])
    return frame.iloc[0:0].drop(columns=[PARTITION], errors="ignore")


def _fill_empty_windows(result: pa.Table, empty: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Windows with no row get what the query returns over no rows (an aggregate's one row)."""
    present = set(pc.unique(result[PARTITION].cast(pa.string())).to_pylist())
    missing = [key for key in keys if key not in present]
    if not missing or not empty.num_rows:
        return result
    filler = pa.concat_tables([empty] * len(missing))
    window = pa.array(np.repeat(missing, empty.num_rows), pa.string())
    filler = filler.append_column(PARTITION, window)
    result = result.set_column(
        result.num_columns - 1, PARTITION, result[PARTITION].cast(pa.string())
    )
    return pa.concat_tables([result, filler.cast(result.schema)])


def ordered_by_window(table: pa.Table, keys: Sequence[str], label: str) -> pa.Table:
    """`_partition` as the per-window loop makes it, rows in window order (stable).

    The loop concatenates windows in run order and types the column as a dictionary of
    the sorted windows; rows keep their order within a window (a body's ORDER BY).
    """
    values = table[PARTITION]
    if pa.types.is_dictionary(values.type):
        values = values.cast(pa.string())
    position = pc.index_in(values, value_set=pa.array(list(keys), pa.string()))
    if position.null_count:
        raise TransformError(f"{label}: rows of windows outside this run or without a window")
    codes = position.to_numpy(zero_copy_only=False).astype(np.int64)
    if len(codes) and not (np.diff(codes) >= 0).all():
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(pa.array(order)), codes[order]
    labels = sorted(keys)
    where = {label: index for index, label in enumerate(labels)}
    rank = np.array([where[key] for key in keys], dtype=np.int32)
    column = pa.DictionaryArray.from_arrays(pa.array(rank[codes], pa.int32()), pa.array(labels))
    index = table.schema.get_field_index(PARTITION)
    return table.set_column(index, PARTITION, column)
