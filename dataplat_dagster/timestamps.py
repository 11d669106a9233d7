"""The timestamp rule, applied by every reader, step and window assignment.

- `timestamp` is an instant. It is stored as Arrow `timestamp("us", tz="UTC")` (Parquet
  `isAdjustedToUTC`, DuckDB `TIMESTAMPTZ`, pandas `datetime64[us, UTC]`). A value written with
  an offset (`Z`, `+05:30`) is that instant; a value written without one is a wall-clock
  time in the column's zone (its `timezone`, else the source's partitioning timezone, else
  UTC), converted to UTC.
- `timestamp_ntz` is a wall-clock time, stored naive (`timestamp("us")`) and never shifted.
  A value written with an offset becomes the wall-clock time it shows in the column's zone.
- A wall-clock time that occurs twice (the hour repeated when DST ends) is its first
  occurrence; one that does not exist (the hour skipped when DST starts) moves forward to
  the first valid instant, as pandas' `shift_forward` does.
- Timestamps keep microseconds: finer digits are dropped (toward the past).
"""

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.arrow_casts import cast_each, present_mask

if TYPE_CHECKING:
    from dataplat_dagster.config.plan import TablePlan

INSTANT = pa.timestamp("us", tz="UTC")
WALL_CLOCK = pa.timestamp("us")
TimestampKind = Literal["timestamp", "timestamp_ntz"]

# an ISO 8601 date, optionally with a time, optionally with a zone; anything else is not a
# timestamp, which saves trying it value by value
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"
_ZONED = r"[T ]\d{2}.*(Z|z|[+-]\d{2}(:?\d{2})?)$"  # an offset after a time
_MICROSECONDS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


def naive_zone(plan: "TablePlan") -> str:
    """The zone of a table's timestamps written without one.

    The table's own windows' timezone, else its dataflow's, else UTC: a dataflow's naive
    times are wall-clock times where its windows are.
    """
    windows = plan.partitioning or plan.dataflow.spec.partitioning
    return windows.timezone if windows is not None else "UTC"


def parse_timestamps(
    text: pa.Array | pa.ChunkedArray, kind: TimestampKind, zone: str, fmt: str | None = None
) -> tuple[pa.Array, np.ndarray]:
    """Text to `kind` under the rule above.

    Args:
        text: strings (null and blank values give null).
        kind: `timestamp` or `timestamp_ntz`.
        zone: the zone of values written without an offset.
        fmt: a strptime format; None reads ISO 8601 (a date, `T` or a space, a time, a zone).

    Returns:
        The values, and a mask of the present values that are not timestamps.
    """
    text = _combined(text)
    if fmt is None:
        for target in (WALL_CLOCK, INSTANT):  # a column written one way casts in one pass
            try:
                return to_kind(pc.cast(text, target), kind, zone), np.zeros(len(text), bool)
            except pa.ArrowInvalid:
                pass
    present = present_mask(text)
    if fmt is not None:
        return _with_format(text, kind, zone, fmt, present)
    trimmed = pc.utf8_trim_whitespace(text)
    # digits past the microsecond are dropped in the text, which floors them
    trimmed = pc.replace_substring_regex(trimmed, r"(\.\d{6})\d+", r"\1")
    iso = pc.fill_null(pc.match_substring_regex(trimmed, _ISO), False).to_numpy(
        zero_copy_only=False
    )
    zoned = iso & pc.fill_null(pc.match_substring_regex(trimmed, _ZONED), False).to_numpy(
        zero_copy_only=False
    )
    naive_values, naive_bad = cast_each(_only(trimmed, iso & ~zoned), WALL_CLOCK)
    zoned_values, zoned_bad = cast_each(_only(trimmed, zoned), INSTANT)
    values = _combine(naive_values, zoned_values, zoned, kind, zone)
    bad = present & (~iso | naive_bad | zoned_bad)
    return _only(values, ~bad), bad


def to_kind(values: pa.Array | pa.ChunkedArray, kind: TimestampKind, zone: str) -> pa.Array:
    """Dates or timestamps of any unit, zoned or not, as `kind` (see the module's rule)."""
    values = _combined(values)
    if pa.types.is_date(values.type):
        values = values.cast(WALL_CLOCK)  # a date is its midnight, a wall-clock time
    if not pa.types.is_timestamp(values.type):
        raise TypeError(f"expected dates or timestamps, got {values.type}")
    values = _as_microseconds(values)
    if values.type.tz is None:
        return localize(values, zone) if kind == "timestamp" else values
    if kind == "timestamp":
        return values.cast(INSTANT)  # the same instant: only the type's zone changes
    return pc.local_timestamp(values.cast(pa.timestamp("us", tz=zone)))


def localize(values: pa.Array, zone: str) -> pa.Array:
    """Naive wall-clock times of `zone` as UTC instants (first occurrence, gaps forward)."""
    if zone == "UTC":
        return values.cast(INSTANT)
    placed = pc.assume_timezone(values, timezone=zone, ambiguous="earliest", nonexistent="latest")
    return placed.cast(INSTANT)


def utc_microseconds(
    values: pa.Array | pa.ChunkedArray | pd.Series, zone: str
) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch in UTC of dates or timestamps, and the null mask.

    Naive values and dates are wall-clock times of `zone`. Works on every unit Arrow has
    (microseconds hold ±290,000 years, so no date overflows, unlike nanoseconds).
    """
    if isinstance(values, pd.Series):
        values = pa.Array.from_pandas(values)
    values = _combined(values)
    if pa.types.is_null(values.type):
        return np.zeros(len(values), np.int64), np.ones(len(values), bool)
    instants = to_kind(values, "timestamp", zone)
    null = instants.is_null().to_numpy(zero_copy_only=False)
    micros = pc.fill_null(instants.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return micros.astype(np.int64, copy=False), null


def instants_in_utc(table: pa.Table) -> pa.Table:
    """`table` with every zoned timestamp column as INSTANT (UTC, microseconds).

    DuckDB returns instants in its session zone and pandas keeps whatever zone a transform
    used; stored tables carry one type per column whatever produced them.
    """
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            if field.type != INSTANT:
                column = pa.chunked_array(
                    [_as_microseconds(chunk).cast(INSTANT) for chunk in table[index].chunks],
                    INSTANT,
                )
                table = table.set_column(index, field.with_type(INSTANT), column)
    return table


def _with_format(
    text: pa.Array, kind: TimestampKind, zone: str, fmt: str, present: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    # pandas' strptime knows %f and %z, Arrow's does not know %f
    parsed = pd.to_datetime(
        pd.Series(text.to_pandas(), dtype=object), format=fmt, errors="coerce", utc="%z" in fmt
    )
    values = pa.Array.from_pandas(parsed)
    values = values if pa.types.is_timestamp(values.type) else values.cast(WALL_CLOCK)
    bad = present & values.is_null().to_numpy(zero_copy_only=False)
    return to_kind(values, kind, zone), bad


def _combine(
    naive: pa.Array, zoned: pa.Array, zoned_mask: np.ndarray, kind: TimestampKind, zone: str
) -> pa.Array:
    as_kind = to_kind(naive, kind, zone)
    return pc.if_else(pa.array(zoned_mask), to_kind(zoned, kind, zone), as_kind)


def _as_microseconds(values: pa.Array) -> pa.Array:
    unit, tz = values.type.unit, values.type.tz
    if unit == "us":
        return values
    target = pa.timestamp("us", tz=tz)
    raw = values.cast(pa.int64())
    if unit == "ns":  # floored, so a time just before a window's start stays before it
        return _floor_ns(raw).cast(target)
    return pc.multiply_checked(raw, _MICROSECONDS[unit]).cast(target)


def _floor_ns(raw: pa.Array) -> pa.Array:
    numbers = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
    floored = np.floor_divide(numbers, 1000)
    return pa.array(floored, pa.int64(), mask=raw.is_null().to_numpy(zero_copy_only=False))


def _only(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """`values` with null where `keep` is false."""
    if keep.all():
        return values
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values
