"""Each row's window through Spark Connect: the lookup by day number and the binary search.

The same expressions as on a classic session (tests/engines/test_spark_windows.py), built by
the Connect client: the lookup's literal, its split and `try_element_at` travel as a plan.
"""

import pytest
from pyspark.sql import SparkSession

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.engines import spark_windows
from dataplat_dagster.engines.spark_windows import DateWindows
from dataplat_dagster.partitions import build_partitions_def
from tests.engines.test_spark_windows import SCHEDULES, days_around, expected

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("how", ["lookup", "search"])
def test_every_date_gets_its_window_through_connect(
    connect_session: SparkSession, monkeypatch, how: str
) -> None:
    from pyspark.sql import functions as F

    if how == "search":
        monkeypatch.setattr(spark_windows, "MAX_LOOKUP_DAYS", 0)
    schedule = SCHEDULES["daily, Berlin, 400 days"]
    windows = build_partitions_def(Partitioning.model_validate(schedule))
    keys = windows.get_partition_keys()
    run = set(keys[::3]) | {keys[0], keys[-1]}
    rows = days_around(windows)
    frame = connect_session.createDataFrame(rows, "n long, day date")

    dated = DateWindows("day", windows, tuple(sorted(run)))
    got = dict(frame.select("n", dated.window_of(F.col("day")).alias("w")).collect())

    assert got == {n: expected(windows, run, day) for n, day in rows}
