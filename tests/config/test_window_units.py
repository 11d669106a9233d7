"""Rows to windows for every timestamp unit Arrow has (`partitions.assign_windows`).

The reported bug: in a dataflow whose timezone is not UTC, microsecond timestamps were
read as nanoseconds and every row fell outside the windows. Covers the units s, ms, us and
ns, naive and zoned, as pandas columns (how Arrow hands them over) and as Arrow arrays,
dates, in UTC, America/New_York and Asia/Kolkata, around New York's DST changes, and
dates far past 2262. Window definitions built in the test; no files or runs.
"""

from datetime import date, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.partitions import assign_windows, build_partitions_def

UNITS = ["s", "ms", "us", "ns"]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata"]


def hourly(zone: str, start: str, end: str) -> dg.TimeWindowPartitionsDefinition:
    return build_partitions_def(
        Partitioning(granularity="hourly", timezone=zone, start=start, end=end)
    )


def daily(zone: str, start: str, end: str) -> dg.TimeWindowPartitionsDefinition:
    return build_partitions_def(
        Partitioning(granularity="daily", timezone=zone, start=start, end=end)
    )


def windows_of(values: pa.Array | pd.Series, definition: dg.TimeWindowPartitionsDefinition) -> list:
    codes, keys, outside = assign_windows(values, definition)
    return [None if out else keys[code] for code, out in zip(codes, outside, strict=True)]


WALL = [datetime(2013, 1, 1, 6, 0), datetime(2013, 1, 1, 23, 59, 59), datetime(2013, 1, 2, 0, 0)]


@pytest.mark.parametrize("as_pandas", [True, False], ids=["pandas", "arrow"])
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("zone", ZONES)
def test_naive_wall_clock_times_of_every_unit(zone: str, unit: str, as_pandas: bool) -> None:
    values = pa.array(WALL, pa.timestamp(unit))
    got = windows_of(
        values.to_pandas() if as_pandas else values, daily(zone, "2013-01-01", "2013-01-05")
    )
    assert got == ["2013-01-01", "2013-01-01", "2013-01-02"]


@pytest.mark.parametrize("as_pandas", [True, False], ids=["pandas", "arrow"])
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("zone", ZONES)
def test_instants_of_every_unit(zone: str, unit: str, as_pandas: bool) -> None:
    # the same wall-clock times, as instants stored in UTC
    instants = [pd.Timestamp(w).tz_localize(zone).tz_convert("UTC").to_pydatetime() for w in WALL]
    values = pa.array(instants, pa.timestamp(unit, tz="UTC"))
    got = windows_of(
        values.to_pandas() if as_pandas else values, daily(zone, "2013-01-01", "2013-01-05")
    )
    assert got == ["2013-01-01", "2013-01-01", "2013-01-02"]


@pytest.mark.parametrize("unit", UNITS)
def test_new_york_hours_across_both_dst_changes(unit: str) -> None:
    spring = hourly("America/New_York", "2024-03-10", "2024-03-11")
    # 01:30 EST is 06:30 UTC, 03:30 EDT is 07:30 UTC: consecutive hours, 02:00 does not exist
    instants = pa.array(
        [datetime(2024, 3, 10, 6, 30), datetime(2024, 3, 10, 7, 30)], pa.timestamp(unit, tz="UTC")
    )
    assert windows_of(instants, spring) == ["2024-03-10-01:00", "2024-03-10-03:00"]
    fall = hourly("America/New_York", "2024-11-03", "2024-11-04")
    # 01:30 happens twice (05:30 and 06:30 UTC): both are kept, in the two 01:00 windows
    twice = pa.array(
        [datetime(2024, 11, 3, 5, 30), datetime(2024, 11, 3, 6, 30)], pa.timestamp(unit, tz="UTC")
    )
    keys = windows_of(twice, fall)
    assert None not in keys and len(set(keys)) == 2
    naive = pa.array([datetime(2024, 11, 3, 1, 30)], pa.timestamp(unit))  # first occurrence
    assert windows_of(naive, fall) == [keys[0]]


@pytest.mark.parametrize("date_type", [pa.date32(), pa.date64()], ids=["date32", "date64"])
@pytest.mark.parametrize("zone", ZONES)
def test_dates_are_days_of_the_zone(zone: str, date_type: pa.DataType) -> None:
    values = pa.array([date(2024, 1, 2), None, date(2023, 12, 31)], date_type)
    assert windows_of(values, daily(zone, "2024-01-01", "2024-01-08")) == ["2024-01-02", None, None]


def test_far_dates_are_outside_not_an_overflow() -> None:
    values = pa.array([date(9999, 12, 31), date(1, 1, 1), date(2024, 1, 3)], pa.date32())
    assert windows_of(values, daily("UTC", "2024-01-01", "2024-01-08")) == [
        None,
        None,
        "2024-01-03",
    ]
