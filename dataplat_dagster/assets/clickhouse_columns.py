"""The columns of a ClickHouse output table: ClickHouse types for the Arrow values it writes.

Declared columns (or a contract) give types and nullability, else the input's Arrow schema;
ordering-key columns are never Nullable. Runs before ClickHouse is touched, so bad data is
refused with the column named and nothing written.
"""

from collections.abc import Mapping

import pyarrow as pa

from dataplat_dagster.assets.sql_rows import SqlOutputError, table_layout
from dataplat_dagster.config.sql_columns import SqlColumn
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.resources.clickhouse import literal


def columns_and_values(
    data: pa.Table,
    declared: Mapping[str, SqlColumn],
    windows: tuple[str, ...],
    order_by: tuple[str, ...],
) -> tuple[dict[str, str], pa.Table]:
    """ClickHouse column types (name -> type) and the values to insert, in the same order.

    Raises:
        SqlOutputError: a column missing, undeclared, of another type, untyped (all null), or
            with a null in the ordering key; named in the message.
    """
    layout = table_layout(data, declared, windows, "clickhouse")
    if layout.untyped:
        raise SqlOutputError(
            f"every value of {', '.join(map(repr, layout.untyped))} is null, so its type is "
            "unknown; declare it under the output's `columns`"
        )
    unknown = [name for name in order_by if name not in layout.values.column_names]
    if unknown:
        raise SqlOutputError(f"order_by names columns the output does not write: {unknown}")
    arrays, types = {}, {}
    for column in layout.columns:
        name = column.name
        values = layout.values[name]
        if layout.signatures[
            name
        ].timezone:  # the layout keeps UTC wall times; ClickHouse an instant
            values = values.cast(pa.timestamp("us", tz="UTC"))
        keyed = name in order_by or name == PARTITION
        if keyed and values.null_count:
            raise SqlOutputError(
                f"column {name!r} is in the ordering key, which holds no nulls, and "
                f"{values.null_count} rows have none"
            )
        nullable = bool(column.nullable) and not keyed
        try:
            types[name] = clickhouse_type(values.type, nullable=nullable)
        except SqlOutputError as exc:
            raise SqlOutputError(f"column {name!r}: {exc}") from None
        arrays[name] = values
    return types, pa.table(arrays)


_SIMPLE = {
    pa.int8(): "Int8",
    pa.int16(): "Int16",
    pa.int32(): "Int32",
    pa.int64(): "Int64",
    pa.uint8(): "UInt8",
    pa.uint16(): "UInt16",
    pa.uint32(): "UInt32",
    pa.uint64(): "UInt64",
    pa.float32(): "Float32",
    pa.float64(): "Float64",
    pa.bool_(): "Bool",
    pa.string(): "String",
    pa.binary(): "String",
    pa.date32(): "Date32",
}


def clickhouse_type(arrow_type: pa.DataType, *, nullable: bool) -> str:
    """The ClickHouse column type of an Arrow storage type.

    Raises:
        SqlOutputError: no ClickHouse column of this server generation holds it (time of day,
            lists, structs).
    """
    if arrow_type in _SIMPLE:
        name = _SIMPLE[arrow_type]
    elif pa.types.is_timestamp(arrow_type):
        name = f"DateTime64(6, {literal(arrow_type.tz)})" if arrow_type.tz else "DateTime64(6)"
    elif pa.types.is_decimal(arrow_type):
        name = f"Decimal({arrow_type.precision}, {arrow_type.scale})"
    else:
        raise SqlOutputError(f"no ClickHouse column type for {arrow_type}; cast it to a string")
    return f"Nullable({name})" if nullable else name
