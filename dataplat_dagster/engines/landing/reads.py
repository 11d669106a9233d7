"""What reading one landing file gives, and the conversion of its text to the declared types.

Every reader ends here: the values read as text are converted column by column (Arrow
casts, exact: an int64 never passes through float64), and a row is rejected, with the file,
the line and the first column that failed, when a value present does not convert or a
`nullable: false` column is null.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.arrow_casts import present_mask, text_to
from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.config.schema import TIMESTAMP_TYPES, ColumnSpec
from dataplat_dagster.timestamps import parse_timestamps
from dataplat_dagster.types import ARROW_TYPES

REASON = "_dq_reason"
RULE = "_dq_rule"
LINE = "_source_row"


class LandingFileError(ValueError):
    """A landing file that cannot be read at all (missing column, not text, unreadable format)."""


@dataclass
class LandingRead:
    """One file read: typed rows with their line numbers, and the rejected rows as text.

    `source_rows` is what the file holds, counted apart from the parser (its non-blank data
    lines, or a Parquet file's row count): every one of them is a row or a rejected row,
    which the raw count audit checks.
    """

    rows: pa.Table
    rejects: pa.Table
    source_rows: int


def declared_schema(source: LandingSource) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[spec.type]) for name, spec in source.schema_.items()])


def text_first_types(source: LandingSource) -> dict[str, pa.DataType]:
    """The types readers ask pyarrow for: text where this module converts (timestamps, formats)."""
    return {
        name: pa.string() if spec.format or spec.type in TIMESTAMP_TYPES else ARROW_TYPES[spec.type]
        for name, spec in source.schema_.items()
    }


def convert_text(source: LandingSource, text: pa.Table, label: str, zone: str) -> LandingRead:
    """Convert the text columns of `text` (declared columns plus LINE) to the declared types.

    Args:
        source: the declaration.
        text: the rows read; a column already of its declared type is kept as it is.
        label: the file, for reasons.
        zone: the zone of timestamps written without an offset (see dataplat_dagster.timestamps).
    """
    bad = np.zeros(text.num_rows, dtype=bool)
    reasons: dict[int, str] = {}  # row -> the first column that failed (rare: built per row)
    converted: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, spec in source.schema_.items():
        column = text[name]
        if not spec.format and column.type == ARROW_TYPES[spec.type]:
            converted[name] = column
            continue
        values, failed = convert_column(column, spec, zone)
        for row in np.flatnonzero(failed & ~bad):
            reasons[int(row)] = _reason(name, spec, column[int(row)].as_py())
        bad |= failed
        converted[name] = values
    typed = pa.table({**converted, LINE: text[LINE]})
    if not bad.any():
        checked = _check_nulls(source, typed, label)
        return LandingRead(checked.rows, checked.rejects, text.num_rows)
    ordered = [reasons[row] for row in np.flatnonzero(bad)]
    rejects = _with_reasons(_as_text(text.filter(pa.array(bad)), source), ordered, label)
    checked = _check_nulls(source, typed.filter(pa.array(~bad)), label)
    return LandingRead(
        checked.rows,
        pa.concat_tables([rejects, checked.rejects], promote_options="default"),
        text.num_rows,
    )


def convert_column(
    column: pa.Array | pa.ChunkedArray, spec: ColumnSpec, zone: str
) -> tuple[pa.Array, np.ndarray]:
    """(values of the declared type, mask of the values present that did not convert)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    if spec.type == "string":
        return column, np.zeros(len(column), dtype=bool)
    if spec.type in TIMESTAMP_TYPES:
        return parse_timestamps(column, spec.type, spec.timezone or zone, spec.format)
    if spec.type == "date" and spec.format:
        return _dates_with_format(column, spec.format)
    return text_to(column, spec.type)


def _dates_with_format(text: pa.Array, fmt: str) -> tuple[pa.Array, np.ndarray]:
    parsed = pd.to_datetime(pd.Series(text.to_pandas(), dtype=object), format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # the date as written, whatever its offset
    values = pa.Array.from_pandas(parsed.dt.normalize()).cast(pa.timestamp("us"))
    values = values.cast(pa.date32())
    return values, present_mask(text) & values.is_null().to_numpy(zero_copy_only=False)


def _reason(name: str, spec: ColumnSpec, value: object) -> str:
    reason = f"{name}: '{value}' is not a valid {spec.type}"
    return reason + f" (format {spec.format})" if spec.format else reason


def _with_reasons(rows: pa.Table, reasons: Sequence[str], label: str) -> pa.Table:
    lines = rows[LINE].to_pylist()
    rows = rows.append_column(RULE, pa.array(["parse"] * rows.num_rows, pa.string()))
    return rows.append_column(
        REASON,
        pa.array(
            [f"{label} line {n}: {r}" for n, r in zip(lines, reasons, strict=True)], pa.string()
        ),
    )


def _check_nulls(source: LandingSource, table: pa.Table, label: str) -> LandingRead:
    required = [name for name, spec in source.schema_.items() if not spec.nullable]
    mask = np.zeros(table.num_rows, dtype=bool)
    reasons = np.full(table.num_rows, None, dtype=object)
    for name in required:
        nulls = table[name].is_null().to_numpy(zero_copy_only=False)
        reasons[nulls & ~mask] = f"{name}: null in a column declared nullable: false"
        mask |= nulls
    if not mask.any():
        return LandingRead(table, empty_rejects(source), table.num_rows)
    bad = _with_reasons(_as_text(table.filter(pa.array(mask)), source), list(reasons[mask]), label)
    return LandingRead(table.filter(pa.array(~mask)), bad, table.num_rows)


def _as_text(table: pa.Table, source: LandingSource) -> pa.Table:
    columns = {name: pc.cast(table[name], pa.string()) for name in source.schema_}
    rest = {name: table[name] for name in table.column_names if name not in source.schema_}
    return pa.table({**columns, **rest})


def line_rejects(source: LandingSource, lines: list[int], reasons: list[str]) -> pa.Table:
    """Rejected lines that gave no values (ragged, undecodable...): the reason holds the text."""
    return pa.table(
        {
            **{name: pa.nulls(len(lines), pa.string()) for name in source.schema_},
            LINE: pa.array(lines, pa.int64()),
            RULE: pa.array(["parse"] * len(lines), pa.string()),
            REASON: pa.array(reasons, pa.string()),
        }
    )


def empty_rejects(source: LandingSource) -> pa.Table:
    return line_rejects(source, [], [])


def empty_read(source: LandingSource) -> LandingRead:
    """No rows, with the declared columns: a window whose file is allowed to be missing."""
    rows = declared_schema(source).empty_table().append_column(LINE, pa.array([], pa.int64()))
    return LandingRead(rows, empty_rejects(source), 0)
