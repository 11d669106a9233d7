"""Raw rows and their windows: by a date column, checked against the file's window, counted.

- One file covering many windows (`partition_column` without `{date}` in the path): each row
  goes to the window of its date; a row outside every declared window, or without a date,
  is quarantined in the nearest window, so that whichever run covers that window records it
  exactly once.
- A file per window that also names a `partition_column`: each row is checked against its
  file's window. `outside_window: quarantine` (the default) quarantines a row dated in
  another window, with the file, line, value and both windows; `route` files it into its
  own window when this run builds that window, and quarantines it otherwise.
"""

from dataclasses import dataclass
from typing import Literal

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.config.schema import ColumnSpec
from dataplat_dagster.engines.base import PARTITION, REASON, RULE
from dataplat_dagster.engines.landing.reads import convert_column
from dataplat_dagster.partitions import assign_windows
from dataplat_dagster.timestamps import to_kind


@dataclass(frozen=True)
class DateColumn:
    """The column giving each row's window, and how naive values are read."""

    name: str
    spec: ColumnSpec
    zone: str
    windows: dg.TimeWindowPartitionsDefinition


def by_column(
    table: pa.Table, bad: pa.Table, column: DateColumn, keys: list[str | None]
) -> tuple[pa.Table, pa.Table]:
    """Each row in the window of its date; the rows of this run's windows only."""
    own, outside = _own_windows(table, column)
    table = _with_windows(table, own)
    bad_own, _ = _own_windows(bad, column)
    bad = _with_windows(bad, bad_own)
    if outside.any():
        reasons = [
            f"{column.name}={value} is outside the declared windows"
            for value in _shown(table.filter(pa.array(outside))[column.name])
        ]
        table, bad = _quarantine(table, bad, outside, reasons)
    return in_run(table, keys), in_run(bad, keys)


def check_file_windows(
    table: pa.Table,
    bad: pa.Table,
    column: DateColumn,
    keys: list[str | None],
    policy: Literal["quarantine", "route"],
) -> tuple[pa.Table, pa.Table]:
    """Rows dated outside their file's window: quarantined, or routed to their own window."""
    if not table.num_rows:
        return table, bad
    own, outside = _own_windows(table, column)
    filed = _keys(table[PARTITION])
    misfiled = outside | (own != filed)
    if not misfiled.any():
        return table, bad
    in_this_run = np.isin(own, np.array([k for k in keys if k is not None], dtype=object))
    if policy == "route":
        routed = misfiled & ~outside & in_this_run
        table = _with_windows(table, np.where(routed, own, filed))
        misfiled &= ~routed
    values = _shown(table.filter(pa.array(misfiled))[column.name])
    reasons = [
        _misfiled_reason(column, value, own_key, file_key, out, policy)
        for value, own_key, file_key, out in zip(
            values, own[misfiled], filed[misfiled], outside[misfiled], strict=True
        )
    ]
    return _quarantine(table, bad, misfiled, reasons)


def _misfiled_reason(
    column: DateColumn, value: str | None, own: str, filed: str, outside: bool, policy: str
) -> str:
    if value is None:
        return (
            f"{column.name} is null, so the row cannot be checked against its file's window {filed}"
        )
    if outside:
        return (
            f"{column.name}={value} is outside the declared windows (its file's window is {filed})"
        )
    reason = f"{column.name}={value} falls in window {own}, not in its file's window {filed}"
    if policy == "route":
        return reason + f"; window {own} is not built by this run, run it to route the row there"
    return reason + " (outside_window: quarantine)"


def _own_windows(table: pa.Table, column: DateColumn) -> tuple[np.ndarray, np.ndarray]:
    """Each row's window key (object array) and whether it is outside every window."""
    values = table[column.name]
    if pa.types.is_string(values.type):  # quarantined rows hold text: read what they can
        values, _ = convert_column(values, column.spec, column.zone)
    if not pa.types.is_date(values.type):
        values = to_kind(values, "timestamp", column.spec.timezone or column.zone)
    codes, labels, outside = assign_windows(values, column.windows)
    return np.array(labels, dtype=object)[codes], outside


def _with_windows(table: pa.Table, keys: np.ndarray) -> pa.Table:
    partition = pc.dictionary_encode(pa.array(keys, pa.string()))
    if PARTITION in table.column_names:
        table = table.drop_columns([PARTITION])
    return table.append_column(PARTITION, partition)


def _keys(column: pa.ChunkedArray) -> np.ndarray:
    return np.array(column.cast(pa.string()).to_pylist(), dtype=object)


def _shown(values: pa.ChunkedArray) -> list[str | None]:
    """Values as users wrote them: ISO dates and times (instants with their offset)."""
    return [None if value is None else value.isoformat() for value in values.to_pylist()]


def _quarantine(
    table: pa.Table, bad: pa.Table, mask: np.ndarray, reasons: list[str]
) -> tuple[pa.Table, pa.Table]:
    """Move the rows of `mask` from `table` to the rejects `bad`, with their reasons."""
    stray = table.filter(pa.array(mask))
    prefixes = [
        f"{name} line {line}: "
        for name, line in zip(
            stray["_source_file"].to_pylist(), stray["_source_row"].to_pylist(), strict=True
        )
    ]
    stray = stray.append_column(RULE, pa.array(["partition"] * stray.num_rows, pa.string()))
    stray = stray.append_column(
        REASON, pa.array([p + r for p, r in zip(prefixes, reasons, strict=True)], pa.string())
    )
    stray = pa.table(
        {name: stray[name].cast(bad.schema.field(name).type) for name in bad.column_names}
    )
    return table.filter(pa.array(~mask)), pa.concat_tables([bad, stray], promote_options="default")


def in_run(table: pa.Table, keys: list[str | None]) -> pa.Table:
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


def rows_by_window(parts: list[pa.Table], keys: list[str | None]) -> dict[str | None, int]:
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


def source_counts(
    table: pa.Table,
    bad: pa.Table,
    keys: list[str | None],
    unaccounted: dict[str, tuple[str | None, int]],
) -> dict[str | None, int]:
    """What the count audit compares with, per window.

    The rows and rejected rows there, plus the lines of its files that gave neither (those
    of a file covering many windows count in every window: which one lost them is unknown).
    """
    counts = rows_by_window([table, bad], keys)
    for key, missing in unaccounted.values():
        for window in [key] if key is not None else keys:
            counts[window] = counts.get(window, 0) + missing
    return counts


def unaccounted_by_file(unaccounted: dict[str, tuple[str | None, int]]) -> dict[str, int]:
    return {path: missing for path, (_, missing) in unaccounted.items()}


def unaccounted_message(table: str, unaccounted: dict[str, tuple[str | None, int]]) -> str:
    listed = ", ".join(
        f"{path}: {missing:+d}" for path, missing in unaccounted_by_file(unaccounted).items()
    )
    return (
        f"{table}: the lines of some files are neither rows nor quarantined rows ({listed}); "
        "the count audit of the windows they feed fails"
    )
