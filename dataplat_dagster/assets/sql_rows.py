"""What a SQL output writes: its columns (declared or inferred) and the values, as Arrow.

Everything here runs before the database is touched, so bad data is refused with the column
named and nothing written.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from dataplat_dagster.config.sql_columns import SqlColumn
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.sql_types import (
    SqlTypeError,
    TypeSignature,
    arrow_signature,
    declared_arrow_type,
    sql_type,
    storage_type,
)

WINDOW_KEY_LENGTH = 64  # a length, so that MySQL and MariaDB can index the window column
# Declared columns take these frame types besides their own family (widening only).
_CONVERTIBLE = {
    "float": {"integer"},
    "decimal": {"integer", "float"},
}


def window_scope(windows: tuple[str, ...]) -> str:
    """A run's windows as an output's messages name them."""
    if not windows:
        return "all rows (unpartitioned)"
    if len(windows) == 1:
        return f"window {windows[0]}"
    return f"windows {windows[0]}..{windows[-1]} ({len(windows)})"


class SqlOutputError(ValueError):
    """A write that was refused (bad data, a table unlike the output); nothing was written."""


@dataclass
class TableLayout:
    """The columns of the output table and the values to write, in the same order."""

    columns: list[sa.Column] = field(default_factory=list)
    signatures: dict[str, TypeSignature] = field(default_factory=dict)  # what the values are
    untyped: list[str] = field(default_factory=list)  # every value null: no type to create
    values: pa.Table = field(default_factory=lambda: pa.table({}))


def table_layout(
    data: pa.Table,
    declared: Mapping[str, SqlColumn],
    windows: tuple[str, ...],
    dialect: str,
) -> TableLayout:
    """The columns (declared, else inferred from `data`) and the values in storage types.

    Args:
        data: the rows, with a `_partition` column when they span several windows.
        declared: the output's declared columns; empty to infer them from `data`.
        windows: the run's window keys; empty when the output is unpartitioned.
        dialect: the target engine's dialect name (timestamps and floats differ by dialect).

    Raises:
        SqlOutputError: a column missing, undeclared, of another type, or with a value that
            does not fit, named in the message.
    """
    keys = _window_keys(data, windows)
    data = data.drop_columns([PARTITION]) if PARTITION in data.column_names else data
    layout = TableLayout()
    arrays: dict[str, pa.ChunkedArray] = {}
    if declared:
        _check_names(data, declared)
    for name in declared or data.column_names:
        spec = declared.get(name)
        try:
            target = declared_arrow_type(spec.type) if spec else storage_type(data[name].type)
            values = _cast(data[name], target, declared=spec is not None)
        except (SqlTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SqlOutputError(f"column {name!r}: {exc}") from None
        if spec and not spec.nullable and values.null_count:
            raise SqlOutputError(
                f"column {name!r} is declared nullable: false, and {values.null_count} rows "
                f"have none (the first is row {_first_null(values) + 1} of the input)"
            )
        arrays[name] = _for_dialect(name, values, dialect)
        layout.signatures[name] = arrow_signature(values.type)
        layout.columns.append(_column(name, values.type, spec, layout.untyped))
    if keys is not None:
        arrays[PARTITION] = keys
        layout.signatures[PARTITION] = TypeSignature("string")
        layout.columns.append(
            sa.Column(PARTITION, sa.String(WINDOW_KEY_LENGTH), nullable=False, index=True)
        )
    layout.values = pa.table(arrays) if arrays else pa.table({})
    return layout


def _window_keys(data: pa.Table, windows: tuple[str, ...]) -> pa.ChunkedArray | None:
    """Each row's window key as text; None when the output is unpartitioned."""
    if not windows:
        return None
    if PARTITION in data.column_names:
        keys = data[PARTITION].cast(storage_type(data[PARTITION].type)).cast(pa.string())
        stray = set(pc.unique(keys).to_pylist()) - set(windows)
        if stray:
            raise SqlOutputError(
                f"rows belong to windows outside this run: {', '.join(sorted(map(str, stray)))}"
            )
        return keys
    if len(windows) != 1:
        raise SqlOutputError(f"rows for {len(windows)} windows need a {PARTITION} column")
    return pa.chunked_array([pa.array([windows[0]] * data.num_rows, pa.string())])


def _check_names(data: pa.Table, declared: Mapping[str, SqlColumn]) -> None:
    undeclared = [name for name in data.column_names if name not in declared]
    missing = [name for name in declared if name not in data.column_names]
    problems = []
    if undeclared:
        problems.append(f"columns not declared under `columns`: {', '.join(undeclared)}")
    if missing:
        problems.append(f"declared columns the input does not have: {', '.join(missing)}")
    if problems:
        raise SqlOutputError("; ".join(problems))


def _cast(values: pa.ChunkedArray, target: pa.DataType, *, declared: bool) -> pa.ChunkedArray:
    """`values` as `target`: lossless, except sub-microsecond time (SQL keeps microseconds)."""
    source = storage_type(values.type)
    if declared:
        have, want = arrow_signature(source), arrow_signature(target)
        widening = have.family in _CONVERTIBLE.get(want.family, set())
        if have.family not in ("null", want.family) and not widening:
            raise SqlOutputError(f"the input has {have}, the declaration says {want}")
    if pa.types.is_decimal(target) and pa.types.is_floating(source):
        values = pc.round(values, target.scale)  # a float's binary digits past the scale
    return pc.cast(values, options=pc.CastOptions(target, allow_time_truncate=True))


def _for_dialect(name: str, values: pa.ChunkedArray, dialect: str) -> pa.ChunkedArray:
    """Values as the driver should bind them on `dialect`."""
    kind = values.type
    if pa.types.is_floating(kind):
        # SQL has no portable NaN (MariaDB refuses it, SQLite stores NULL): a NaN is missing
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, kind), values)
        if dialect in ("mysql", "mariadb") and pc.any(pc.is_inf(values)).as_py():
            raise SqlOutputError(f"column {name!r} holds an infinity, which MariaDB cannot store")
    if pa.types.is_timestamp(kind) and kind.tz and dialect != "postgresql":
        # only PostgreSQL stores an instant; elsewhere the column holds the UTC wall time
        values = values.cast(pa.timestamp("us"))
    return values


def _column(name: str, kind: pa.DataType, spec: SqlColumn | None, untyped: list[str]) -> sa.Column:
    try:
        column_type: sa.types.TypeEngine = sql_type(kind)
    except SqlTypeError:
        untyped.append(name)
        column_type = sa.types.NullType()
    return sa.Column(name, column_type, nullable=spec.nullable if spec else True)


def _first_null(values: pa.ChunkedArray) -> int:
    return pc.index(pc.is_null(values), True).as_py()
