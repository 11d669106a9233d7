"""Declared partitioning -> Dagster time-window partitions, and rows -> windows."""

import bisect
import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.timestamps import utc_microseconds

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
    return current_window_index(partitions_def, datetime.now(UTC)).key_of(moment)


def current_window_index(
    partitions_def: dg.TimeWindowPartitionsDefinition, now: datetime
) -> "WindowIndex":
    """The index of the windows that exist at `now`; bind it once for many lookups."""
    index = window_index(partitions_def)
    if index.stale(now):
        window_index.cache_clear()  # an open-ended definition has grown since the index was built
        index = window_index(partitions_def)
    return index


@functools.lru_cache(maxsize=64)
def window_index(partitions_def: dg.TimeWindowPartitionsDefinition) -> "WindowIndex":
    return WindowIndex(partitions_def)


def assign_windows(
    values: pa.Array | pa.ChunkedArray | pd.Series,
    partitions_def: dg.TimeWindowPartitionsDefinition,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Map event times to window keys, vectorised.

    Args:
        values: dates or timestamps of any unit, zoned or not; dates and naive timestamps
            are wall-clock times of the partitions' timezone.
        partitions_def: the windows.

    Returns:
        `(codes, keys, outside)`: `keys[codes[i]]` is row i's window; rows outside every
        window (or null) have `outside[i]` true and are clamped to the nearest window.
    """
    # compared in microseconds since the epoch in UTC: no unit or zone is read as another,
    # and no date overflows (nanoseconds end in 2262)
    micros, null = utc_microseconds(values, partitions_def.timezone)
    first = partitions_def.get_first_partition_window()
    last = partitions_def.get_last_partition_window()
    assert first is not None and last is not None
    valid = micros[~null]
    bounds = (_micros(first.start), _micros(last.end) - 1)
    low = np.clip(valid.min(), *bounds) if len(valid) else bounds[0]
    high = np.clip(valid.max(), *bounds) if len(valid) else bounds[0]
    keys = window_keys_covering(partitions_def, _moment(low), _moment(high)) or [
        partitions_def.get_first_partition_key()
    ]
    windows = [partitions_def.time_window_for_partition_key(key) for key in keys]
    starts = np.array([_micros(w.start) for w in windows], dtype=np.int64)
    ends = np.array([_micros(w.end) for w in windows], dtype=np.int64)
    codes = np.clip(np.searchsorted(starts, micros, side="right") - 1, 0, len(keys) - 1)
    outside = null | (micros < starts[codes]) | (micros >= ends[codes])
    return codes.astype(np.int32), keys, outside


def _micros(moment: datetime) -> int:
    return pd.Timestamp(moment).value // 1000


def _moment(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


class WindowNotEligible(dg.Failure):
    """A window that is still open, or closed less than the declared lag ago."""


def eligible_at(
    partitions_def: dg.TimeWindowPartitionsDefinition, key: str, lag: timedelta
) -> datetime:
    """When a window may be built: its end plus the stability lag, in elapsed time.

    The lag is added in UTC: across a DST change, wall-clock arithmetic would make a 3-hour
    lag last 2 or 4 real hours.
    """
    return window_index(partitions_def).eligible_at(key, lag)


FEW_WINDOWS = 31


def _eligible_at_alone(
    partitions_def: dg.TimeWindowPartitionsDefinition, key: str, lag: timedelta
) -> datetime:
    """`eligible_at` of one window, from its own time window."""
    end = partitions_def.time_window_for_partition_key(key).end
    return (end.astimezone(UTC) + lag).astimezone(end.tzinfo)


def ensure_eligible(
    partitioning: Partitioning, keys: list[str], now: datetime | None = None
) -> None:
    """Refuse windows that are not stable yet, naming them (the first five) and when each becomes eligible.

    Raises:
        WindowNotEligible: a window ends in the future or less than `lag` ago (not retried).
    """
    now = now or datetime.now(ZoneInfo("UTC"))
    partitions_def = build_partitions_def(partitioning)
    # a few windows (a run of one day): computed alone, not by indexing every declared window
    moment = eligible_at if len(keys) > FEW_WINDOWS else _eligible_at_alone
    early = [(key, moment(partitions_def, key, partitioning.lag)) for key in keys]
    early = [(key, moment) for key, moment in early if moment > now]
    if early:
        listed = "; ".join(
            f"window {key} becomes eligible at {moment.isoformat()}" for key, moment in early[:5]
        )
        listed += f"; and {len(early) - 5} more" if len(early) > 5 else ""
        raise WindowNotEligible(
            description=(
                f"{len(early)} window(s) are still open or closed less than the lag "
                f"({partitioning.lag}) ago: {listed}. Run them once they are eligible."
            ),
            allow_retries=False,
        )


class WindowIndex:
    """Moment -> window key by binary search over the declared windows (fast for many files)."""

    def __init__(self, partitions_def: dg.TimeWindowPartitionsDefinition) -> None:
        self.partitions_def = partitions_def
        self.timezone = ZoneInfo(partitions_def.timezone)
        keys = list(partitions_def.get_partition_keys())  # chronological
        windows = sorted(
            partitions_def.time_windows_for_partition_keys(frozenset(keys)), key=lambda w: w.start
        )
        self.keys = keys
        self._ends_by_key = {key: window.end for key, window in zip(keys, windows, strict=True)}
        # compared in UTC: within one zone Python compares wall times, which repeat on DST fall-back
        self.starts = [w.start.astimezone(UTC) for w in windows]
        self.ends = [w.end.astimezone(UTC) for w in windows]
        # an open-ended definition gains a window when the one after its last has ended
        following = (
            partitions_def.get_next_partition_window(windows[-1].end, respect_bounds=False)
            if windows and partitions_def.end is None
            else None
        )
        self.grows_at = following.end.astimezone(UTC) if following else None

    def eligible_at(self, key: str, lag: timedelta) -> datetime:
        """See the module's `eligible_at`; a bound index saves hashing the definition per call."""
        end = self._ends_by_key.get(key)
        if end is None:  # a window past the cached index of an open-ended definition
            end = self.partitions_def.time_window_for_partition_key(key).end
        return (end.astimezone(UTC) + lag).astimezone(end.tzinfo)

    def stale(self, now: datetime) -> bool:
        """Whether windows have appeared since the index was built (open-ended definitions)."""
        if self.partitions_def.end is not None:
            return False
        return self.grows_at is None or now.astimezone(UTC) >= self.grows_at

    def key_of(self, moment: datetime) -> str | None:
        if moment.tzinfo is None:
            moment = moment.replace(
                tzinfo=self.timezone
            )  # an ambiguous wall time is its first occurrence
        moment = moment.astimezone(UTC)
        index = bisect.bisect_right(self.starts, moment) - 1
        if index < 0 or not moment < self.ends[index]:
            return None
        return self.keys[index]
