"""Each row's window on Spark (engines/spark_windows.py) against Dagster's own windows.

The lookup by day number and the binary search of nested CASEs must give every date the
window Dagster's partitions definition gives it: daily windows in a zone other than UTC
across its daylight-saving changes, weekly and monthly ones, a run building some of the
windows only, dates before, inside and after the declared range, and null dates.
"""

import random
from datetime import date, timedelta

import pytest

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.engines import spark_windows
from dataplat_dagster.engines.spark_windows import DateWindows
from dataplat_dagster.partitions import build_partitions_def

pytestmark = pytest.mark.spark

SCHEDULES = {
    "daily, Berlin, 400 days": {
        "granularity": "daily",
        "timezone": "Europe/Berlin",
        "start": "2023-11-20",
        "end": "2024-12-24",
    },
    "weekly, Los Angeles": {
        "granularity": "weekly",
        "timezone": "America/Los_Angeles",
        "start": "2024-01-07",
        "end": "2024-07-07",
    },
    "monthly, 84 months": {"granularity": "monthly", "start": "1992-01-01", "end": "1999-01-01"},
}


def expected(windows, run: set[str], day: date | None) -> str | None:
    """The window Dagster gives a date (the first or last for dates outside), if in the run."""
    keys = windows.get_partition_keys()
    if day is None:
        return None
    bounds = [(key, windows.time_window_for_partition_key(key)) for key in keys]
    if day < bounds[0][1].start.date():
        key = keys[0]
    elif day >= bounds[-1][1].end.date():
        key = keys[-1]
    else:
        key = next(k for k, w in bounds if w.start.date() <= day < w.end.date())
    return key if key in run else None


def days_around(windows) -> list[tuple[int, date | None]]:
    """(n, day) for every day of the declared windows, ten days either side, and a null."""
    first = windows.get_first_partition_window().start.date()
    last = windows.get_last_partition_window().end.date()
    days = [first + timedelta(days=n) for n in range(-10, (last - first).days + 10)]
    return [(n, day) for n, day in enumerate(days)] + [(len(days), None)]


@pytest.mark.parametrize("how", ["lookup", "search"])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=list(SCHEDULES))
def test_every_date_gets_the_window_dagster_gives_it(spark, monkeypatch, schedule, how) -> None:
    from pyspark.sql import functions as F

    if how == "search":  # the nested CASEs of ranges longer than the lookup holds
        monkeypatch.setattr(spark_windows, "MAX_LOOKUP_DAYS", 0)
    windows = build_partitions_def(Partitioning.model_validate(SCHEDULES[schedule]))
    keys = windows.get_partition_keys()
    chooser = random.Random(schedule)
    run = set(chooser.sample(keys, max(1, len(keys) // 3))) | {keys[0], keys[-1]}
    rows = days_around(windows)
    frame = spark.createDataFrame(rows, "n long, day date")

    dated = DateWindows("day", windows, tuple(sorted(run)))
    got = dict(frame.select("n", dated.window_of(F.col("day")).alias("w")).collect())

    wanted = {n: expected(windows, run, day) for n, day in rows}
    assert got == wanted
    assert sum(w is not None for w in got.values()) > len(run)  # windows were found at all


def test_keys_holding_every_separator_leave_the_lookup_for_the_binary_search() -> None:
    day = date(2024, 1, 1)
    assert spark_windows._separator([("2024-01-01", day, day)]) == ","
    assert spark_windows._separator([("a,b|c", day, day)]) == ";"
    assert spark_windows._separator([("a,b|c;d\x1fe", day, day)]) is None
