"""Declared partitioning -> Dagster time-window partitions, and rows -> windows."""

import functools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd

from dataplat_dagster.config.models import Partitioning

_GRAIN_CRON = {
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 1",
    "monthly": "0 0 1 * *",
}
_EVERY = re.compile(r"^(\d+)(m|h)$")
DAY_FORMAT = "%Y-%m-%d"
MINUTE_FORMAT = "%Y-%m-%d-%H:%M"


def cron_of(partitioning: Partitioning) -> str:
    if partitioning.cron:
        return partitioning.cron
    grain = partitioning.granularity or "daily"
    if grain in _GRAIN_CRON:
        return _GRAIN_CRON[grain]
    match = _EVERY.match(grain)
    assert match is not None  # validated by the model
    every, unit = int(match.group(1)), match.group(2)
    return f"*/{every} * * * *" if unit == "m" else f"0 */{every} * * *"


def _key_format(cron: str) -> str:
    minute, hour, *_ = cron.split()
    return DAY_FORMAT if minute == "0" and hour == "0" else MINUTE_FORMAT


@functools.cache
def build_partitions_def(partitioning: Partitioning) -> dg.TimeWindowPartitionsDefinition:
    """One partitions definition per distinct declaration (cached: equal specs, same instance).

    Raises:
        ValueError: the cron expression or the start/end cannot make windows.
    """
    cron = cron_of(partitioning)
    fmt = _key_format(cron)
    start = datetime.fromisoformat(partitioning.start)
    end = datetime.fromisoformat(partitioning.end) if partitioning.end else None
    return dg.TimeWindowPartitionsDefinition(
        start=start.strftime(fmt),
        end=end.strftime(fmt) if end else None,
        fmt=fmt,
        cron_schedule=cron,
        timezone=partitioning.timezone,
    )


def window_keys_covering(
    partitions_def: dg.TimeWindowPartitionsDefinition, start: datetime, end: datetime
) -> list[str]:
    """Keys of the declared windows that overlap [start, end] (within the definition's bounds)."""
    first = partitions_def.get_first_partition_window()
    last = partitions_def.get_last_partition_window()
    if first is None or last is None:
        return []
    # Dagster lists windows that *start* inside a range; widen it by two windows so the one
    # holding `start` is included, then keep the overlapping ones.
    reach = 2 * (first.end - first.start)
    low, high = max(start - reach, first.start), min(end + timedelta(microseconds=1), last.end)
    if low >= high:
        return []
    keys = partitions_def.get_partition_keys_in_time_window(dg.TimeWindow(low, high))
    covering = []
    for key in keys:
        window = partitions_def.time_window_for_partition_key(key)
        if window.start <= end and window.end > start and window.end <= last.end:
            covering.append(key)
    return covering


def key_of_moment(
    partitions_def: dg.TimeWindowPartitionsDefinition, moment: datetime
) -> str | None:
    """The key of the window holding `moment` (naive moments are in the partitions' timezone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(partitions_def.timezone))
    keys = window_keys_covering(partitions_def, moment, moment)
    return keys[0] if keys else None


def assign_windows(
    values: pd.Series, partitions_def: dg.TimeWindowPartitionsDefinition
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Map event times to window keys, vectorised.

    Args:
        values: dates or timestamps (naive ones are in the partitions' timezone).
        partitions_def: the windows.

    Returns:
        `(codes, keys, outside)`: `keys[codes[i]]` is row i's window; rows outside every
        window (or null) have `outside[i]` true and are clamped to the nearest window.
    """
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(
            partitions_def.timezone, ambiguous="NaT", nonexistent="shift_forward"
        )
    nanos = (
        stamps.dt.tz_convert("UTC").astype("int64", copy=False).to_numpy()
        if len(stamps)
        else np.array([], "int64")
    )
    null = stamps.isna().to_numpy()
    valid = nanos[~null]
    first_window = partitions_def.time_window_for_partition_key(
        partitions_def.get_first_partition_key()
    )
    low = pd.Timestamp(valid.min(), tz="UTC").to_pydatetime() if len(valid) else first_window.start
    high = pd.Timestamp(valid.max(), tz="UTC").to_pydatetime() if len(valid) else first_window.start
    keys = window_keys_covering(partitions_def, low, high) or [
        partitions_def.get_first_partition_key()
    ]
    windows = [partitions_def.time_window_for_partition_key(key) for key in keys]
    starts = np.array([pd.Timestamp(w.start).value for w in windows], dtype="int64")
    ends = np.array([pd.Timestamp(w.end).value for w in windows], dtype="int64")
    codes = np.clip(np.searchsorted(starts, nanos, side="right") - 1, 0, len(keys) - 1)
    outside = null | (nanos < starts[codes]) | (nanos >= ends[codes])
    return codes.astype(np.int32), keys, outside
