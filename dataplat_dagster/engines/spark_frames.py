"""Arrow <-> Spark DataFrames with the platform's types on both sides.

Spark's TimestampType is an instant (the platform's `timestamp`) and TimestampNTZType a
wall-clock time (`timestamp_ntz`); both come back as Arrow microseconds, instants in UTC,
so a table reads the same whichever engine wrote it.
"""

from typing import Any

import pyarrow as pa

from dataplat_dagster.timestamps import instants_in_utc

# Spark has signed integers only: an unsigned type needs the next wider one
_WIDER = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
    pa.large_string(): pa.string(),
    pa.null(): pa.string(),
}


def spark_ready(table: pa.Table) -> pa.Table:
    """`table` with types Spark takes as they are: dictionaries decoded, signed integers."""
    for index, field in enumerate(table.schema):
        target = field.type
        if pa.types.is_dictionary(target):
            target = target.value_type
        if pa.types.is_timestamp(target):
            target = pa.timestamp("us", tz="UTC" if target.tz is not None else None)
        target = _WIDER.get(target, target)
        if target != field.type:
            table = table.set_column(index, field.with_type(target), table[index].cast(target))
    return table


def arrow_to_spark(session: Any, table: pa.Table) -> Any:
    """A Spark DataFrame of `table` (in the session; on Spark Connect sent to the server)."""
    table = spark_ready(table)
    return session.createDataFrame(table, schema=spark_schema(table.schema))


def spark_schema(schema: pa.Schema) -> Any:
    """Spark's schema for an Arrow one; a naive timestamp stays a wall-clock time (NTZ)."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    return StructType(
        [
            StructField(f.name, from_arrow_type(f.type, prefer_timestamp_ntz=True), f.nullable)
            for f in schema
        ]
    )


def spark_to_arrow(frame: Any) -> pa.Table:
    """The frame's rows as Arrow: instants in UTC, microseconds."""
    return instants_in_utc(frame.toArrow())


def normalise_numbers(frame: Any) -> Any:
    """Decimals as the platform's numbers, as `sql.normalise_numbers` makes DuckDB's.

    Scale 0 (Spark's `sum` of decimals, whole literals) -> int64; a scale -> float64.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    casts = {
        field.name: F.col(f"`{field.name}`").cast(
            "bigint" if field.dataType.scale == 0 else "double"
        )
        for field in frame.schema.fields
        if isinstance(field.dataType, T.DecimalType)
    }
    return frame.withColumns(casts) if casts else frame


def arrow_schema(frame: Any) -> pa.Schema:
    """The Arrow schema of a Spark frame's rows (no data is read)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(frame.schema, timezone="UTC", prefers_large_types=False)
