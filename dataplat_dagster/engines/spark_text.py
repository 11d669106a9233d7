"""Values as text the way the Pandas engine writes them, and Spark types as declared names.

The quarantine keeps rejected rows as text; both engines must write the same text for the
same value (so a quarantine reads the same whichever engine built the table): booleans as
True/False, instants as `2024-01-01 12:00:00+00:00`, wall-clock times without a zone.
"""

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataplat_dagster.engines.base import PARTITION, REASON, RULE
from dataplat_dagster.engines.spark_times import instant_text, wall_text

_DECLARED: dict[type, str] = {
    T.StringType: "string",
    T.ByteType: "int8",
    T.ShortType: "int16",
    T.IntegerType: "int32",
    T.LongType: "int64",
    T.FloatType: "float32",
    T.DoubleType: "float64",
    T.BooleanType: "bool",
    T.DateType: "date",
    T.TimestampType: "timestamp",
    T.TimestampNTZType: "timestamp_ntz",
}
_KEPT = (PARTITION, "_source_row", RULE, REASON)  # the window and the line stay as they are


def text_of(value: Column, data_type: T.DataType) -> Column:
    """`value` as the text pandas gives it (`astype(str)` of the column's pandas dtype)."""
    if isinstance(data_type, T.StringType):
        return value
    if isinstance(data_type, T.BooleanType):
        return F.when(value, F.lit("True")).when(~value, F.lit("False"))
    if isinstance(data_type, T.TimestampType):
        return instant_text(value)
    if isinstance(data_type, T.TimestampNTZType):
        return wall_text(value)
    if isinstance(data_type, T.FloatType | T.DoubleType):  # pandas reads NaN as missing
        return F.when(~F.isnan(value), value.cast("string"))
    return value.cast("string")


def as_text(frame: Any) -> Any:
    """Every column as text but the window and the source line (the values as seen)."""
    columns = [
        (
            F.col(_quoted(field.name))
            if field.name in _KEPT
            else text_of(F.col(_quoted(field.name)), field.dataType).alias(field.name)
        )
        for field in frame.schema.fields
    ]
    return frame.select(*columns)


def declared_type(data_type: T.DataType) -> str:
    """The declared type name of a Spark type (what the schema rule compares)."""
    name = _DECLARED.get(type(data_type))
    if name is not None:
        return name
    if isinstance(data_type, T.DecimalType):
        return f"decimal128({data_type.precision}, {data_type.scale})"
    return data_type.simpleString()


def column_types(frame: Any) -> dict[str, str]:
    return {
        field.name: declared_type(field.dataType)
        for field in frame.schema.fields
        if field.name != PARTITION
    }


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def column(name: str) -> Column:
    """A column by its exact name (dots and spaces included)."""
    return F.col(_quoted(name))
