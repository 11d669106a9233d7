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
        return F.when(~F.isnan(value), python_float_text(value.cast("string")))
    return value.cast("string")


_JAVA_EXPONENT = r"^(-?)(\d)\.(\d+)E(-?\d+)$"


def python_float_text(java: Column) -> Column:
    """Java's text of a float (`1.2345678E7`, `1.0E-5`, `Infinity`) as Python writes it.

    Java writes an exponent below 1e-3 and from 1e7, Python below 1e-4 and from 1e16, and
    spells it differently (`1e-05`, `1.5e+16`, `inf`): `str()` of pandas' floats is what the
    Pandas engine's quarantine holds. Spark has no such format, so it is spelled out here.
    The digits are Java's: Java 17 writes a few values with more digits than the shortest
    (its smallest double is 4.9E-324, Python's 5e-324).
    """
    sign = F.regexp_extract(java, _JAVA_EXPONENT, 1)
    lead = F.regexp_extract(java, _JAVA_EXPONENT, 2)
    rest = F.regexp_replace(F.regexp_extract(java, _JAVA_EXPONENT, 3), "0+$", "")
    power = F.regexp_extract(java, _JAVA_EXPONENT, 4).cast("int")
    digits = F.concat(lead, rest)
    whole = power + 1  # digits before the point when written out
    written_out = F.when(
        power >= 0,
        F.concat(
            F.call_function("rpad", digits, whole, F.lit("0")),
            F.lit("."),
            F.when(
                F.length(digits) > whole, F.call_function("substr", digits, whole + 1)
            ).otherwise(F.lit("0")),
        ),
    ).otherwise(F.concat(F.lit("0."), F.call_function("repeat", F.lit("0"), -power - 1), digits))
    scientific = F.concat(
        lead,
        F.when(F.length(rest) > 0, F.concat(F.lit("."), rest)).otherwise(F.lit("")),
        F.lit("e"),
        F.when(power < 0, F.lit("-")).otherwise(F.lit("+")),
        F.when(F.abs(power) < 10, F.lit("0")).otherwise(F.lit("")),  # e-05, e+16, e+308
        F.abs(power).cast("string"),
    )
    python = F.concat(sign, F.when((power >= -4) & (power < 16), written_out).otherwise(scientific))
    return (
        F.when(java == F.lit("Infinity"), F.lit("inf"))
        .when(java == F.lit("-Infinity"), F.lit("-inf"))
        .when(java.rlike(_JAVA_EXPONENT), python)
        .otherwise(java)
    )


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
