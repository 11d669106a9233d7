"""The timestamp rule (`dataplat_dagster.timestamps`): text and typed values to instants.

Covers ISO text with and without an offset read as `timestamp` (UTC instants) and
`timestamp_ntz` (wall-clock), in UTC, America/New_York and Asia/Kolkata, across the DST
changes (the repeated and the skipped hour), strptime formats, every Arrow timestamp unit
zoned and naive, dates, microsecond flooring of nanoseconds, and the normalisation of
zoned columns to UTC. Pure Arrow values built in the test; no files or runs.
"""

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dataplat_dagster.timestamps import (
    INSTANT,
    WALL_CLOCK,
    instants_in_utc,
    parse_timestamps,
    to_kind,
    utc_microseconds,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "text", "instant"),
    [
        ("UTC", "2013-01-15T10:00:00", "2013-01-15T10:00:00"),
        ("UTC", "2013-01-15T10:00:00Z", "2013-01-15T10:00:00"),
        # the reported case: an explicit Z is an instant, not a New York wall-clock time
        ("America/New_York", "2013-01-15T10:00:00Z", "2013-01-15T10:00:00"),
        ("America/New_York", "2013-01-15T10:00:00", "2013-01-15T15:00:00"),
        ("America/New_York", "2013-07-15 10:00:00", "2013-07-15T14:00:00"),  # summer time
        ("America/New_York", "2013-01-15T10:00:00+05:30", "2013-01-15T04:30:00"),
        ("Asia/Kolkata", "2013-01-15T10:00:00", "2013-01-15T04:30:00"),
        ("Asia/Kolkata", "2013-01-15T10:00:00-0500", "2013-01-15T15:00:00"),
        ("Asia/Kolkata", "2013-01-15", "2013-01-14T18:30:00"),  # a date is its midnight
        ("UTC", "2013-01-15T10:00:00.123456789", "2013-01-15T10:00:00.123456"),  # floored
        # New York leaves DST at 2:00 on 2024-11-03: 1:30 happens twice, the first is taken
        ("America/New_York", "2024-11-03T01:30:00", "2024-11-03T05:30:00"),
        # and enters it at 2:00 on 2024-03-10: 2:30 does not exist, it moves to 3:00 EDT
        ("America/New_York", "2024-03-10T02:30:00", "2024-03-10T07:00:00"),
        ("UTC", "9999-12-31T23:59:59", "9999-12-31T23:59:59"),  # beyond nanoseconds' 2262
    ],
)
def test_text_to_instants(zone: str, text: str, instant: str) -> None:
    values, bad = parse_timestamps(pa.array([text]), "timestamp", zone)
    assert values.type == INSTANT
    assert values.to_pylist() == [utc(instant)]
    assert not bad.any()


@pytest.mark.parametrize(
    ("zone", "text", "wall"),
    [
        ("America/New_York", "2013-01-15T10:00:00", "2013-01-15T10:00:00"),  # never shifted
        ("America/New_York", "2013-01-15T10:00:00Z", "2013-01-15T05:00:00"),  # its NY time
        ("Asia/Kolkata", "2013-01-15T10:00:00Z", "2013-01-15T15:30:00"),
        ("Asia/Kolkata", "2024-03-10T02:30:00", "2024-03-10T02:30:00"),
    ],
)
def test_text_to_wall_clock(zone: str, text: str, wall: str) -> None:
    values, bad = parse_timestamps(pa.array([text]), "timestamp_ntz", zone)
    assert values.type == WALL_CLOCK
    assert values.to_pylist() == [datetime.fromisoformat(wall)]
    assert not bad.any()


def test_bad_blank_and_null_text() -> None:
    text = pa.array(["2024-01-01T10:00:00", "not a time", "", "  ", None, "2024-02-30T10:00:00"])
    values, bad = parse_timestamps(text, "timestamp", "UTC")
    assert bad.tolist() == [False, True, False, False, False, True]  # blank is null, not bad
    assert values.to_pylist() == [utc("2024-01-01T10:00:00"), None, None, None, None, None]


def test_strptime_formats_with_and_without_offset() -> None:
    naive, bad = parse_timestamps(
        pa.array(["05/01/2024 10:30", "31/02/2024 10:00"]),
        "timestamp",
        "Asia/Kolkata",
        "%d/%m/%Y %H:%M",
    )
    assert naive.to_pylist() == [utc("2024-01-05T05:00:00"), None]
    assert bad.tolist() == [False, True]
    zoned, bad = parse_timestamps(
        pa.array(["05/01/2024 10:30 +0100"]), "timestamp", "Asia/Kolkata", "%d/%m/%Y %H:%M %z"
    )
    assert zoned.to_pylist() == [utc("2024-01-05T09:30:00")] and not bad.any()


UNITS = ["s", "ms", "us", "ns"]


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_every_unit_naive_and_zoned(unit: str, zone: str) -> None:
    wall = pd.Timestamp("2024-03-10 12:00:00")
    naive = pa.array([wall.to_pydatetime()], pa.timestamp(unit))
    expected = wall.tz_localize(zone).tz_convert("UTC").to_pydatetime()
    assert to_kind(naive, "timestamp", zone).to_pylist() == [expected]
    assert to_kind(naive, "timestamp_ntz", zone).to_pylist() == [wall.to_pydatetime()]
    zoned = pa.array([expected], pa.timestamp(unit, tz=zone))
    assert to_kind(zoned, "timestamp", "UTC").type == INSTANT
    assert to_kind(zoned, "timestamp", "UTC").to_pylist() == [expected]
    assert to_kind(zoned, "timestamp_ntz", zone).to_pylist() == [wall.to_pydatetime()]


def test_nanoseconds_are_floored_before_the_epoch_too() -> None:
    values = pa.array([-1, 1_999, None], pa.timestamp("ns", tz="UTC"))
    micros, null = utc_microseconds(values, "UTC")
    assert micros[:2].tolist() == [-1, 1] and null.tolist() == [False, False, True]


def test_utc_microseconds_of_dates_pandas_and_far_dates() -> None:
    dates = pa.array([date(2024, 1, 2), date(9999, 12, 31)], pa.date32())
    micros, _ = utc_microseconds(dates, "Asia/Kolkata")
    assert micros[0] == pd.Timestamp("2024-01-01 18:30", tz="UTC").value // 1000
    assert micros[1] > pd.Timestamp.max.value // 1000  # past nanoseconds' range, no overflow
    series = pd.Series(pd.to_datetime(["2024-01-02 05:00"])).astype("datetime64[us]")
    micros, null = utc_microseconds(series, "America/New_York")
    assert micros.tolist() == [pd.Timestamp("2024-01-02 10:00", tz="UTC").value // 1000]
    assert not null.any()


def test_instants_in_utc_normalises_zone_and_unit_only() -> None:
    moment = utc("2024-01-02T03:00:00")
    table = pa.table(
        {
            "ny": pa.array([moment], pa.timestamp("ns", tz="America/New_York")),
            "wall": pa.array([datetime(2024, 1, 2)], pa.timestamp("ns")),
            "n": [1],
        }
    )
    out = instants_in_utc(table)
    assert out.schema.field("ny").type == INSTANT
    assert out["ny"].to_pylist() == [moment]
    assert out.schema.field("wall").type == pa.timestamp("ns")  # wall-clock: left alone
    assert np.array_equal(out["n"].to_numpy(), [1])
