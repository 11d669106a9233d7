"""Column types across the stack: declared name <-> Arrow <-> Hive/Glue <-> pandas."""

import numpy as np
import pandas as pd
import pyarrow as pa

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    # the timestamp rule (see dataplat_dagster.timestamps): an instant is kept in UTC, a
    # wall-clock time without a zone
    "timestamp": pa.timestamp("us", tz="UTC"),
    "timestamp_ntz": pa.timestamp("us"),
}

# pandas 3's default `str` dtype: Arrow-backed, NaN for missing. Its hashing (dedupe, joins,
# groupby) is faster than StringDtype("pyarrow") with pd.NA: 7.0 s against 9.8 s to find the
# duplicates of TPC-H lineitem at scale factor 1.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)

# Nullable pandas dtypes: integer columns keep their type when they hold nulls, strings are
# Arrow-backed (pandas 2 with object strings runs this platform's pipelines about 2x slower).
PANDAS_TYPES: dict[str, str | pd.api.extensions.ExtensionDtype] = {
    "string": TEXT,
    "int8": pd.Int8Dtype(),
    "int16": pd.Int16Dtype(),
    "int32": pd.Int32Dtype(),
    "int64": pd.Int64Dtype(),
    "float32": "float32",
    "float64": "float64",
    "bool": pd.BooleanDtype(),
    "date": pd.ArrowDtype(pa.date32()),  # a date stays a date (numpy has no date type)
    "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    "timestamp_ntz": "datetime64[us]",
}

_ARROW_TO_PANDAS = {
    pa.string(): TEXT,
    pa.large_string(): TEXT,
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.date32(): pd.ArrowDtype(pa.date32()),
}


def pandas_type_for_arrow(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    """`types_mapper` for `pa.Table.to_pandas`: nullable ints and Arrow-backed strings."""
    return _ARROW_TO_PANDAS.get(arrow_type)


def hive_type(arrow_type: pa.DataType) -> str:
    """The Hive/Glue type name of an Arrow type."""
    if pa.types.is_dictionary(arrow_type):
        return hive_type(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    # Hive has signed integers only: an unsigned type needs the next wider one
    if pa.types.is_int8(arrow_type):
        return "tinyint"
    if pa.types.is_int16(arrow_type) or pa.types.is_uint8(arrow_type):
        return "smallint"
    if pa.types.is_int32(arrow_type) or pa.types.is_uint16(arrow_type):
        return "int"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_float32(arrow_type):
        return "float"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_null(arrow_type):
        return "string"
    return "string"


def declared_type(arrow_type: pa.DataType) -> str:
    """The closest declared type name of an Arrow type (for schemas shown to users)."""
    if pa.types.is_dictionary(arrow_type):
        return declared_type(arrow_type.value_type)
    for name, candidate in ARROW_TYPES.items():
        if arrow_type == candidate:
            return name
    if pa.types.is_timestamp(arrow_type):
        # any zone names an instant; no zone is a wall-clock time (whatever the unit)
        return "timestamp" if arrow_type.tz is not None else "timestamp_ntz"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_large_string(arrow_type):
        return "string"
    return str(arrow_type)
