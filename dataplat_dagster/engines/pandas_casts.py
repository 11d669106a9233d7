"""Series to declared types for the `cast` and `parse_dates` steps, by the landing rules.

Text is converted by the same Arrow conversions as landing files (exact integers, the
timestamp rule of dataplat_dagster.timestamps), so a value reads the same in a file and in
a step. Values already typed are converted by type: naive timestamps are wall-clock times
of the dataflow's zone, instants keep their instant.
"""

import numpy as np
import pandas as pd
import pyarrow as pa

from dataplat_dagster.config.schema import TIMESTAMP_TYPES, ColumnSpec
from dataplat_dagster.engines.landing.reads import convert_column
from dataplat_dagster.timestamps import parse_timestamps, to_kind
from dataplat_dagster.types import ARROW_TYPES, PANDAS_TYPES, TEXT, pandas_type_for_arrow


def has_type(values: pd.Series, target: str) -> bool:
    """The column already holds the target type: a cast is then a no-op (and costs nothing)."""
    return values.dtype == PANDAS_TYPES[target]


def convert(values: pd.Series, target: str, timezone: str) -> tuple[pd.Series, np.ndarray]:
    """(values as `target`, mask of the values present that did not convert).

    Args:
        values: the column.
        target: a declared type name.
        timezone: the zone of naive timestamps and of the dates of instants.
    """
    if target == "string":
        return values.astype(TEXT), np.zeros(len(values), dtype=bool)
    if _is_text(values) or values.dtype == object:
        array = _arrow(values)
        if pa.types.is_string(array.type) or not _is_temporal(array.type):
            converted, failed = convert_column(array, ColumnSpec(type=target), timezone)
            return _series(converted, values.index), failed
        values = _series(array, values.index)
    if target in TIMESTAMP_TYPES and _is_temporal(_arrow(values).type):
        return _series(to_kind(_arrow(values), target, timezone), values.index), _none(values)
    if target == "date" and pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _dates(values, timezone), _none(values)
    if target in TIMESTAMP_TYPES or target == "date":
        return _unconvertible(values, target)
    if target == "bool":
        return values.astype("boolean"), _none(values)
    if target.startswith("int"):
        floats = pd.Series(values, dtype="Float64")
        whole = floats.isna() | (floats % 1 == 0)
        converted = floats.where(whole).astype(PANDAS_TYPES[target])
        return converted, (values.notna() & converted.isna()).to_numpy()
    return values.astype(PANDAS_TYPES[target]), _none(values)


def parse_dates(
    values: pd.Series, fmt: str | None, as_timestamp: bool, timezone: str
) -> tuple[pd.Series, np.ndarray]:
    """Text parsed with `fmt` (None: ISO 8601) to instants, or to dates as written."""
    if not (_is_text(values) or values.dtype == object):
        return convert(values, "timestamp" if as_timestamp else "date", timezone)
    kind = "timestamp" if as_timestamp else "timestamp_ntz"
    parsed, failed = parse_timestamps(_arrow(values).cast(pa.string()), kind, timezone, fmt)
    series = _series(parsed, values.index)
    if not as_timestamp:
        series = series.dt.normalize().astype(PANDAS_TYPES["date"])
    return series, failed


def _dates(values: pd.Series, timezone: str) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(timezone).dt.tz_localize(None)  # the date where the data is
    return values.dt.normalize().astype(PANDAS_TYPES["date"])


def _unconvertible(values: pd.Series, target: str) -> tuple[pd.Series, np.ndarray]:
    """Numbers or booleans are no dates: every value present fails (and is quarantined)."""
    nulls = pa.nulls(len(values), ARROW_TYPES[target])
    return _series(nulls, values.index), values.notna().to_numpy()


def _arrow(values: pd.Series) -> pa.Array:
    try:
        return pa.Array.from_pandas(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects: their text
        return pa.Array.from_pandas(values.astype(TEXT))


def _series(array: pa.Array, index: pd.Index) -> pd.Series:
    series = array.to_pandas(types_mapper=pandas_type_for_arrow, date_as_object=False)
    series.index = index
    return series


def _is_temporal(data_type: pa.DataType) -> bool:
    return pa.types.is_timestamp(data_type) or pa.types.is_date(data_type)


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) and not isinstance(
        series.dtype, pd.CategoricalDtype
    )


def _none(values: pd.Series) -> np.ndarray:
    return np.zeros(len(values), dtype=bool)
