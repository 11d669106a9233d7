"""When a window may be built: the lag rule of `dataplat_dagster.partitions`.

Covers `eligible_at` across daylight-saving changes (daily windows of 23 and 25 hours in
America/Los_Angeles, a lag that spans the change itself, "2h" windows across the
spring-forward), `ensure_eligible` / `WindowNotEligible` (the message names each window and
when it becomes eligible; it passes once eligible), and a manual run of a window within its
lag failing with that message (a tiny project written on tmp_path). Window keys and
`assign_windows` in general are covered in tests/config/test_partitions.py; sensors and
schedules are not touched here.
"""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from dataplat_dagster.config.models import Partitioning
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.partitions import (
    FEW_WINDOWS,
    WindowNotEligible,
    build_partitions_def,
    eligible_at,
    ensure_eligible,
    key_of_moment,
)
from tests.conftest import write_project

LA = ZoneInfo("America/Los_Angeles")
DAILY_LA = Partitioning(
    granularity="daily", timezone="America/Los_Angeles", start="2024-03-08", lag="2h"
)
WEEK = Partitioning(
    granularity="daily", timezone="UTC", start="2024-01-01", end="2024-01-08", lag="1h"
)


def window_of(partitioning: Partitioning, key: str) -> dg.TimeWindow:
    return build_partitions_def(partitioning).time_window_for_partition_key(key)


@pytest.mark.parametrize(
    ("key", "hours", "local", "utc"),
    [
        ("2024-03-10", 23, datetime(2024, 3, 11, 2), datetime(2024, 3, 11, 9, tzinfo=UTC)),
        ("2024-11-03", 25, datetime(2024, 11, 4, 2), datetime(2024, 11, 4, 10, tzinfo=UTC)),
        ("2024-03-12", 24, datetime(2024, 3, 13, 2), datetime(2024, 3, 13, 9, tzinfo=UTC)),
    ],
    ids=["spring-forward-23h", "fall-back-25h", "ordinary-day"],
)
def test_eligible_at_of_a_daylight_saving_day(
    key: str, hours: int, local: datetime, utc: datetime
) -> None:
    window = window_of(DAILY_LA, key)
    moment = eligible_at(build_partitions_def(DAILY_LA), key, DAILY_LA.lag)

    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(hours=hours)
    assert moment.astimezone(UTC) == utc
    assert moment.astimezone(LA).replace(tzinfo=None) == local


@pytest.mark.parametrize(
    ("key", "lag", "utc"),
    [
        ("2024-03-09", "3h", datetime(2024, 3, 10, 11, tzinfo=UTC)),  # ends 00:00 PST = 08:00Z
        ("2024-11-02", "2h", datetime(2024, 11, 3, 9, tzinfo=UTC)),  # ends 00:00 PDT = 07:00Z
    ],
    ids=["lag-spans-spring-forward", "lag-spans-fall-back"],
)
def test_the_lag_is_elapsed_time_when_it_spans_the_change(
    key: str, lag: str, utc: datetime
) -> None:
    """'eligible this long after it ends': the lag is a duration, not a wall-clock shift."""
    partitioning = Partitioning(
        granularity="daily", timezone="America/Los_Angeles", start="2024-03-08", lag=lag
    )
    end = window_of(partitioning, key).end
    moment = eligible_at(build_partitions_def(partitioning), key, partitioning.lag)

    assert moment.astimezone(UTC) - end.astimezone(UTC) == partitioning.lag
    assert moment.astimezone(UTC) == utc


def test_two_hour_windows_across_the_spring_forward() -> None:
    partitioning = Partitioning(
        granularity="2h",
        timezone="America/Los_Angeles",
        start="2024-03-09",
        end="2024-03-12",
        lag="2h",
    )
    windows = build_partitions_def(partitioning)
    keys = [
        k for k in windows.get_partition_keys() if "2024-03-09-20:00" <= k <= "2024-03-10-08:00"
    ]
    spans = [windows.time_window_for_partition_key(k) for k in keys]

    assert "2024-03-10-02:00" not in keys  # 02:00 does not exist that night
    for before, after in pairwise(spans):  # no gap, no overlap
        assert before.end.astimezone(UTC) == after.start.astimezone(UTC)
    for key, span in zip(keys, spans, strict=True):
        moment = eligible_at(windows, key, partitioning.lag).astimezone(UTC)
        assert moment - span.end.astimezone(UTC) == timedelta(hours=2), key

    # 01:30 PST (09:30Z) lies in the window opened at midnight, which closes at 03:00 PDT
    holding = key_of_moment(windows, datetime(2024, 3, 10, 9, 30, tzinfo=UTC))
    assert holding == "2024-03-10-00:00"
    assert eligible_at(windows, holding, partitioning.lag) == datetime(2024, 3, 10, 12, tzinfo=UTC)
    assert key_of_moment(windows, datetime(2024, 3, 10, 3, 30)) == "2024-03-10-03:00"


def test_ensure_eligible_names_each_early_window_and_when() -> None:
    now = datetime(2024, 1, 7, 0, 30, tzinfo=UTC)  # 01-06 closed 30 min ago, 01-07 is open

    with pytest.raises(WindowNotEligible) as raised:
        ensure_eligible(WEEK, ["2024-01-05", "2024-01-06", "2024-01-07"], now=now)

    message = raised.value.description or ""
    assert message.startswith("2 window(s) are still open or closed less than the lag")
    assert "window 2024-01-06 becomes eligible at 2024-01-07T01:00:00+00:00" in message
    assert "window 2024-01-07 becomes eligible at 2024-01-08T01:00:00+00:00" in message
    assert "2024-01-05" not in message
    assert isinstance(raised.value, dg.Failure) and raised.value.allow_retries is False


@pytest.mark.parametrize(
    ("partitioning", "keys", "early", "ready"),
    [
        (
            WEEK,
            ["2024-01-06", "2024-01-07"],
            datetime(2024, 1, 8, 0, 59, tzinfo=UTC),
            datetime(2024, 1, 8, 1, tzinfo=UTC),
        ),
        (
            DAILY_LA,
            ["2024-03-10"],
            datetime(2024, 3, 11, 8, 59, tzinfo=UTC),
            datetime(2024, 3, 11, 9, tzinfo=UTC),
        ),
    ],
    ids=["utc", "los-angeles-23h-day"],
)
def test_ensure_eligible_passes_once_eligible(
    partitioning: Partitioning, keys: list[str], early: datetime, ready: datetime
) -> None:
    with pytest.raises(WindowNotEligible, match=f"window {keys[-1]} becomes eligible at"):
        ensure_eligible(partitioning, keys, now=early)
    ensure_eligible(partitioning, keys, now=ready)
    ensure_eligible(partitioning, keys, now=ready + timedelta(days=30))


@pytest.mark.parametrize("count", [1, 2], ids=["latest-window", "last-two-windows"])
def test_a_manual_run_within_the_lag_fails_naming_the_window(
    tmp_path: Path, local_env: Path, landing_copy: Path, instance: dg.DagsterInstance, count: int
) -> None:
    start = datetime.now(UTC).date() - timedelta(days=4)
    root = write_project(
        tmp_path / "project",
        {
            "shop": (
                "dataflow: shop\n"
                f'partitioning: {{granularity: daily, timezone: UTC, start: "{start}", lag: 400d}}\n'
                "landing:\n"
                "  orders:\n"
                '    path: "shop/orders_{date:%Y%m%d}.csv"\n'
                "    schema: {order_id: int64, amount: float64}\n"
                "raw:\n"
                "  orders: {from: landing.orders}\n"
            )
        },
    )
    (landing_copy / "shop").mkdir()
    for day in range(6):
        name = f"orders_{start + timedelta(days=day):%Y%m%d}.csv"
        (landing_copy / "shop" / name).write_text("order_id,amount\n1,2.5\n")
    job = build_definitions(root).resolve_job_def("shop_job")
    windows = job.partitions_def
    assert isinstance(windows, dg.TimeWindowPartitionsDefinition)
    keys = list(windows.get_partition_keys())[-count:]
    tags = (
        {"dagster/partition": keys[0]}
        if count == 1
        else {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    )

    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)

    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "WindowNotEligible" in message
    assert f"{count} window(s) are still open or closed less than the lag" in message
    for key in keys:
        moment = windows.time_window_for_partition_key(key).end + timedelta(days=400)
        assert f"window {key} becomes eligible at {moment.isoformat()}" in message
    assert not (local_env / "warehouse" / "raw" / "shop" / "orders").exists()


@pytest.mark.parametrize("count", [1, FEW_WINDOWS + 1], ids=["one-window-alone", "many-indexed"])
def test_ensure_eligible_refuses_the_same_windows_alone_or_indexed(count: int) -> None:
    """A run of a few windows computes each alone; of many, by the index: the same verdict."""
    partitioning = Partitioning(
        granularity="daily", timezone="America/Los_Angeles", start="2024-01-01", lag="3h"
    )
    keys = [f"2024-{month:02d}-{day:02d}" for month in (3, 11) for day in range(1, 32)][:count]
    keys = keys if count > 1 else ["2024-03-10"]
    last = max(keys)
    end = window_of(partitioning, last).end.astimezone(UTC)
    ensure_eligible(partitioning, keys, now=end + timedelta(hours=3))
    with pytest.raises(WindowNotEligible, match=f"window {last} becomes eligible at"):
        ensure_eligible(partitioning, keys, now=end + timedelta(hours=2, minutes=59))
