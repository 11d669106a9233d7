"""Each row's window from a date column, as Spark expressions (raw of a file of many windows).

The same answer as the Arrow path (assets/raw_windows.py `by_column`, partitions.py
`assign_windows`): a date inside the declared windows goes to its window; a date outside them
is quarantined in the nearest declared window (the first or the last); a row without a date
is quarantined in the window `assign_windows` gives a null, which depends on the dates of the
rows read with it (`null_window`, computed on the driver from their minimum and maximum).
Rows of windows this run does not build get no window (null) and are dropped.

Windows that start at local midnight (daily, weekly, monthly ... schedules) compare dates as
dates; other schedules and timestamp columns stay with the Arrow readers (`why_not`).
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa

from dataplat_dagster.partitions import assign_windows

WHEN = "__dataplat_when"  # the row's date, as converted (null when it did not convert)
RANGE = "__dataplat_range"  # 0: read as a row (table's range), 1: rejected on reading
# declared ranges of up to this many days get each row's window by an array lookup (about
# 27 years of days; longer ones use the binary search of nested CASEs)
MAX_LOOKUP_DAYS = 10_000


@dataclass(frozen=True)
class DateWindows:
    """The date column giving each row's window, the declared windows and the run's."""

    column: str
    windows: dg.TimeWindowPartitionsDefinition
    keys: tuple[str, ...]

    @property
    def first(self) -> tuple[str, date]:
        window = self.windows.get_first_partition_window()
        assert window is not None
        return self.windows.get_first_partition_key(), window.start.date()

    @property
    def last(self) -> tuple[str, date]:
        window = self.windows.get_last_partition_window()
        assert window is not None
        return self.windows.get_last_partition_key(), window.end.date()

    def outside(self, when: Any) -> Any:
        """Whether a date is null or outside every declared window."""
        return when.isNull() | (when < self.first[1]) | (when >= self.last[1])

    def window_of(self, when: Any) -> Any:
        """The run's window of a date (null: no date, or a window this run does not build)."""
        from pyspark.sql import functions as F

        (first_key, first), (last_key, end) = self.first, self.last
        bounds = [
            (key, window.start.date(), window.end.date())
            for key in self.keys
            for window in [self.windows.time_window_for_partition_key(key)]
        ]
        days = (end - first).days
        separator = _separator(bounds)
        inside = (
            _by_day(when, first, days, bounds, separator)
            if days <= MAX_LOOKUP_DAYS and separator is not None
            else _search(when, sorted(bounds, key=lambda b: b[1]))
        )
        return (
            F.when(when < first, self._in_run(first_key))
            .when(when >= end, self._in_run(last_key))
            .otherwise(inside)
        )

    def null_window(self, low: date | None, high: date | None) -> str | None:
        """Where `assign_windows` puts a null among dates from `low` to `high`, if in the run."""
        values = pa.array([low, high, None], pa.date32())
        codes, keys, _ = assign_windows(values, self.windows)
        key = keys[codes[-1]]
        return key if key in self.keys else None

    def _in_run(self, key: str) -> Any:
        from pyspark.sql import functions as F

        return F.lit(key if key in self.keys else None).cast("string")


def _by_day(
    when: Any, first: date, days: int, bounds: list[tuple[str, date, date]], separator: str
) -> Any:
    """The window of each day of the declared range, looked up by the date's day number.

    Windows start at midnight, so each is whole days: one subtraction and an array lookup per
    row, where the binary search compared about log2(windows) dates through nested CASEs (2.5 s
    of the 12.6 s parse of TPC-H lineitem at scale factor 1 over 84 monthly windows). Only
    dates inside the declared range reach it (`window_of` handles the others).
    """
    from pyspark.sql import functions as F

    by_day = [""] * days  # "": a day of no window this run builds
    for key, start, end in bounds:
        by_day[(start - first).days : (end - first).days] = [key] * (end - start).days
    # one text literal split into the array: an array of thousands of literal expressions
    # cost seconds of Spark's query planning (each optimizer rule visits every element)
    lookup = F.split(F.lit(separator.join(by_day)), re.escape(separator))
    # counted from 1; a null date gives a null index, hence a null window; days of
    # windows the run does not build hold "" (no window)
    return F.nullif(F.try_element_at(lookup, F.date_diff(when, F.lit(first)) + 1), F.lit(""))


# between the days' keys in the lookup's literal: the first that no key holds (keys are
# dates and times; the unit separator is no character of a date format)
_SEPARATORS = (",", "|", ";", "\x1f")


def _separator(bounds: list[tuple[str, date, date]]) -> str | None:
    """The first of `_SEPARATORS` that no key holds (None: the binary search then)."""
    return next((s for s in _SEPARATORS if not any(s in key for key, _, _ in bounds)), None)


def _search(when: Any, bounds: list[tuple[str, date, date]]) -> Any:
    """A binary search over the windows' starts as nested CASEs: log2(windows) comparisons."""
    from pyspark.sql import functions as F

    def among(low: int, high: int) -> Any:
        if high - low == 1:
            key, start, end = bounds[low]
            return F.when((when >= start) & (when < end), F.lit(key))
        middle = (low + high) // 2
        return F.when(when >= bounds[middle][1], among(middle, high)).otherwise(among(low, middle))

    if not bounds:
        return F.lit(None).cast("string")
    return among(0, len(bounds))


def why_not(windows: dg.TimeWindowPartitionsDefinition | None, type_name: str) -> str | None:
    """Why Spark cannot give rows their windows from this column (Arrow then does), or None."""
    if windows is None:
        return "the table has no windows"
    if type_name != "date":
        return f"the partition column is a {type_name}, and Spark assigns windows by dates"
    minute, hour, *_ = windows.cron_schedule.split()
    if (minute, hour) != ("0", "0"):
        return f"the windows ({windows.cron_schedule}) do not start at midnight"
    return None
