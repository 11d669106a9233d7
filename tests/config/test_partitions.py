"""Declared partitioning -> Dagster windows, and moments/rows -> window keys.

Covers `dataplat_dagster.partitions`: `build_partitions_def` (granularities, `<N>h`, cron,
key formats, caching), `key_of_moment` and `assign_windows` (codes/keys/outside, nulls,
values before the start and after the end, naive values in a non-UTC timezone, aware
values). Works on in-memory Partitioning models only: no declarations files, no runs.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.partitions import (
    assign_windows,
    build_partitions_def,
    cron_of,
    current_window_index,
    key_of_moment,
)

UTC = ZoneInfo("UTC")
LA = ZoneInfo("America/Los_Angeles")


def windows(**fields: str) -> dg.TimeWindowPartitionsDefinition:
    return build_partitions_def(Partitioning(**fields))


def week(timezone: str = "UTC") -> dg.TimeWindowPartitionsDefinition:
    """Daily windows 2024-01-01 .. 2024-01-07 (the end, 2024-01-08, is exclusive)."""
    return windows(granularity="daily", start="2024-01-01", end="2024-01-08", timezone=timezone)


# -- build_partitions_def ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "cron", "first_keys", "last_key", "count"),
    [
        ({"granularity": "daily"}, "0 0 * * *", ["2024-01-01", "2024-01-02"], "2024-01-07", 7),
        (
            {"granularity": "hourly"},
            "0 * * * *",
            ["2024-01-01-00:00", "2024-01-01-01:00"],
            "2024-01-07-23:00",
            168,
        ),
        (
            {"granularity": "2h"},
            "0 */2 * * *",
            ["2024-01-01-00:00", "2024-01-01-02:00"],
            "2024-01-07-22:00",
            84,
        ),
        (
            {"granularity": "30m"},
            "*/30 * * * *",
            ["2024-01-01-00:00", "2024-01-01-00:30"],
            "2024-01-07-23:30",
            336,
        ),
        ({"granularity": "weekly"}, "0 0 * * 1", ["2024-01-01"], "2024-01-01", 1),
        (
            {"cron": "30 6 * * *"},
            "30 6 * * *",
            ["2024-01-01-06:30", "2024-01-02-06:30"],
            "2024-01-06-06:30",
            6,
        ),
    ],
)
def test_build_partitions_def(
    fields: dict, cron: str, first_keys: list[str], last_key: str, count: int
) -> None:
    partitioning = Partitioning(start="2024-01-01", end="2024-01-08", **fields)
    assert cron_of(partitioning) == cron
    definition = build_partitions_def(partitioning)
    assert definition.cron_schedule == cron
    keys = definition.get_partition_keys()
    assert keys[: len(first_keys)] == first_keys
    assert keys[-1] == last_key
    assert len(keys) == count


def test_monthly_windows() -> None:
    definition = windows(
        granularity="monthly", start="2024-01-01", end="2024-04-01", timezone="Europe/Paris"
    )
    assert definition.get_partition_keys() == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert definition.timezone == "Europe/Paris"
    first = definition.time_window_for_partition_key("2024-02-01")
    assert first.start == datetime(2024, 2, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert first.end == datetime(2024, 3, 1, tzinfo=ZoneInfo("Europe/Paris"))


def test_start_with_time_of_day() -> None:
    definition = windows(granularity="hourly", start="2024-01-01T06:00", end="2024-01-01T09:00")
    assert definition.get_partition_keys() == [
        "2024-01-01-06:00",
        "2024-01-01-07:00",
        "2024-01-01-08:00",
    ]


def test_open_ended_windows_have_no_end() -> None:
    definition = windows(granularity="daily", start="2024-01-01")
    assert definition.end is None
    assert definition.get_first_partition_key() == "2024-01-01"


def test_equal_specs_share_one_instance() -> None:
    first = Partitioning(granularity="daily", start="2024-01-01", timezone="UTC", lag="1h")
    second = Partitioning(granularity="daily", start="2024-01-01", timezone="UTC", lag=3600)
    other = Partitioning(granularity="daily", start="2024-01-02", timezone="UTC", lag="1h")
    assert first == second
    assert build_partitions_def(first) is build_partitions_def(second)
    assert build_partitions_def(first) is not build_partitions_def(other)


# -- key_of_moment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "moment", "key"),
    [
        pytest.param("UTC", datetime(2024, 1, 3), "2024-01-03", id="window-start"),
        pytest.param("UTC", datetime(2024, 1, 3, 12, 0), "2024-01-03", id="mid-window"),
        pytest.param(
            "UTC", datetime(2024, 1, 7, 23, 59, 59), "2024-01-07", id="end-of-last-window"
        ),
        pytest.param(
            "UTC",
            datetime(2024, 1, 3, 1, 0, tzinfo=ZoneInfo("Europe/Paris")),
            "2024-01-03",
            id="aware-start",
        ),
        pytest.param(
            "UTC",
            datetime(2024, 1, 3, 0, 30, tzinfo=ZoneInfo("Europe/Paris")),
            "2024-01-02",
            id="aware-mid",
        ),
        pytest.param("UTC", datetime(2023, 12, 31), None, id="day-before-start"),
        pytest.param("UTC", datetime(2023, 12, 31, 12, 0), None, id="mid-day-before-start"),
        pytest.param("UTC", datetime(2024, 1, 8), None, id="at-exclusive-end"),
        pytest.param("UTC", datetime(2024, 1, 9, 6, 0), None, id="after-end"),
        pytest.param(
            "America/Los_Angeles", datetime(2024, 1, 3), "2024-01-03", id="la-naive-start"
        ),
        pytest.param(
            "America/Los_Angeles", datetime(2024, 1, 3, 0, 30), "2024-01-03", id="la-naive-mid"
        ),
        pytest.param(
            "America/Los_Angeles",
            datetime(2024, 1, 3, 7, 30, tzinfo=UTC),
            "2024-01-02",
            id="la-aware-utc",
        ),
    ],
)
def test_key_of_moment(timezone: str, moment: datetime, key: str | None) -> None:
    assert key_of_moment(week(timezone), moment) == key


def test_key_of_moment_hourly() -> None:
    definition = windows(granularity="hourly", start="2024-01-01", end="2024-01-02")
    assert key_of_moment(definition, datetime(2024, 1, 1, 5)) == "2024-01-01-05:00"
    assert key_of_moment(definition, datetime(2024, 1, 1, 5, 30)) == "2024-01-01-05:00"


def test_an_open_ended_index_grows_when_the_next_window_ends() -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    definition = windows(granularity="hourly", start=start.strftime("%Y-%m-%d %H:%M"))
    index = current_window_index(definition, datetime.now(UTC))
    last_end = index.ends[-1]  # the hour that ended last: the current hour is still open
    assert index.grows_at == last_end + timedelta(hours=1)
    assert not index.stale(index.grows_at - timedelta(seconds=1))
    assert index.stale(index.grows_at)
    assert current_window_index(definition, datetime.now(UTC)) is index  # built once, reused
    bounded = current_window_index(
        windows(granularity="hourly", start="2024-01-01", end="2024-01-02"), datetime.now(UTC)
    )
    assert bounded.grows_at is None and not bounded.stale(datetime.now(UTC))


# -- assign_windows ---------------------------------------------------------------------------


def row_keys(
    values: pd.Series, definition: dg.TimeWindowPartitionsDefinition
) -> tuple[list[str | None], list[str]]:
    """Each row's window key (None when outside) and the keys returned, after checking the shapes."""
    codes, keys, outside = assign_windows(values, definition)
    assert codes.dtype == np.int32
    assert outside.dtype == bool
    assert len(codes) == len(outside) == len(values)
    assert len(keys) >= 1 and len(set(keys)) == len(keys)
    assert ((codes >= 0) & (codes < len(keys))).all()  # outside rows are clamped, not -1
    return [None if out else keys[code] for code, out in zip(codes, outside, strict=True)], list(
        keys
    )


def stamps(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


@pytest.mark.parametrize(
    ("timezone", "values", "expected"),
    [
        pytest.param(
            "UTC",
            stamps(
                "2024-01-02 05:00",
                None,
                "2023-12-31 10:00",
                "2024-01-09 00:00",
                "2024-01-07 23:59",
                "2024-01-01",
            ),
            ["2024-01-02", None, None, None, "2024-01-07", "2024-01-01"],
            id="mixed-null-before-after",
        ),
        pytest.param(
            "UTC",
            stamps("2024-01-02 05:00", "2024-01-02 06:00"),
            ["2024-01-02"] * 2,
            id="one-window-mid-day",
        ),
        pytest.param(
            "UTC",
            stamps("2024-01-03 00:00", "2024-01-05 18:00"),
            ["2024-01-03", "2024-01-05"],
            id="from-start",
        ),
        pytest.param("UTC", stamps("2024-01-08 00:00"), [None], id="at-exclusive-end"),
        pytest.param(
            "UTC",
            stamps("2023-12-31 23:59:59", "2024-01-01 00:00"),
            [None, "2024-01-01"],
            id="just-before-start",
        ),
        pytest.param(
            "America/Los_Angeles",
            stamps("2024-01-02 23:30", "2024-01-03 00:30"),
            ["2024-01-02", "2024-01-03"],
            id="la-naive-around-midnight",
        ),
        pytest.param(
            "America/Los_Angeles",
            stamps("2024-01-01 00:00", "2024-01-07 23:00"),
            ["2024-01-01", "2024-01-07"],
            id="la-naive-first-and-last",
        ),
        pytest.param(
            "America/Los_Angeles",
            stamps("2024-01-03 08:00", "2024-01-03 07:59").dt.tz_localize(
                "UTC"
            ),  # aware: converted
            ["2024-01-03", "2024-01-02"],
            id="la-aware-utc",
        ),
        pytest.param(
            "UTC",
            pd.Series([date(2024, 1, 2), date(2024, 1, 5), None]),
            ["2024-01-02", "2024-01-05", None],
            id="dates",
        ),
        pytest.param("UTC", stamps(None, None), [None, None], id="all-null"),
    ],
)
def test_assign_windows(timezone: str, values: pd.Series, expected: list[str | None]) -> None:
    definition = week(timezone)
    rows, keys = row_keys(values, definition)
    assert rows == expected
    assert set(keys) <= set(
        definition.get_partition_keys()
    )  # never a window outside the declaration


def test_assign_windows_hourly_and_monthly() -> None:
    hourly = windows(granularity="hourly", start="2024-01-01", end="2024-01-02")
    assert row_keys(stamps("2024-01-01 05:15", "2024-01-01 07:00"), hourly)[0] == [
        "2024-01-01-05:00",
        "2024-01-01-07:00",
    ]
    monthly = windows(granularity="monthly", start="2024-01-01", end="2024-04-01")
    assert row_keys(stamps("2024-02-15", "2024-01-31 23:00", "2024-04-02"), monthly)[0] == [
        "2024-02-01",
        "2024-01-01",
        None,
    ]


def test_assign_windows_empty() -> None:
    codes, keys, outside = assign_windows(pd.Series([], dtype="datetime64[ns]"), week())
    assert len(codes) == 0 and len(outside) == 0
    assert keys == ["2024-01-01"]
