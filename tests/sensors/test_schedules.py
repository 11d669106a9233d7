"""The dataflow schedules: `dataplat_dagster.schedules`.

Covers `eligible_windows` (lookback and lag) and the schedule built from the dataflow's
`schedule:` evaluated with `dg.build_schedule_context` after real runs: the latest eligible
windows are requested with run keys while nothing is built; built windows whose landing
files hold the same number of rows are skipped, and the skips are visible; a row appended
to a window's file requests that window again with the counts as the reason. Each case runs
on the demo (`retail_job_schedule`, whose job also holds the unpartitioned customer and
product tables) and on a small orders-only project written on tmp_path (`shop`). No
daemon, sensor or notification is involved; eligibility itself is in test_windows.py.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.environment import get_environment
from dataplat_dagster.jobs import job_specs
from dataplat_dagster.schedules import eligible_windows
from tests.conftest import PROJECT_ROOT, run_demo, write_project

TICK = datetime(2024, 1, 8, 1, 30, tzinfo=UTC)  # cron "30 1 * * *": 2024-01-07 closed at 00:00
LATEST = ["2024-01-05", "2024-01-06", "2024-01-07"]
SHOP = """\
dataflow: shop
partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-08", lag: 1h}
schedule: {cron: "30 1 * * *", lookback: 3}
landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    schema: {order_id: int64, amount: float64}
raw:
  orders: {from: landing.orders}
"""


@dataclass
class Scheduled:
    defs: dg.Definitions
    job: str
    folder: Path  # where the window files are
    rows: dict[str, int]  # source rows of the latest windows
    extra_row: str
    build: Callable[[list[str]], object]

    def file(self, window: str) -> Path:
        return self.folder / f"orders_{window.replace('-', '')}.csv"


@pytest.fixture(params=["retail", "shop"])
def project(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    local_env: Path,
    landing_copy: Path,
    instance: dg.DagsterInstance,
) -> Scheduled:
    if request.param == "retail":
        defs = request.getfixturevalue("demo_defs")
        return Scheduled(
            defs,
            "retail_job",
            landing_copy / "retail",
            {"2024-01-05": 22, "2024-01-06": 18, "2024-01-07": 19},
            "9001,3,P01,1,2.5,paid,2024-01-06T23:59:00\r\n",
            # 2024-01-05 fails the quality gate of common.orders_enriched by design; raw is built
            lambda keys: run_demo(defs, instance, keys, raise_on_error=False),
        )
    (landing_copy / "shop").mkdir()
    rows = {}
    for day in range(1, 8):
        rows[f"2024-01-0{day}"] = day + 1
        lines = "".join(f"{day * 100 + i},{i}.5\n" for i in range(day + 1))
        (landing_copy / "shop" / f"orders_2024010{day}.csv").write_text("order_id,amount\n" + lines)
    defs = build_definitions(write_project(tmp_path / "project", {"shop": SHOP}))

    def build(keys: list[str]) -> object:
        tags = {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
        job = defs.resolve_job_def("shop_job")
        return job.execute_in_process(instance=instance, tags=tags)

    latest = {k: rows[k] for k in LATEST}
    return Scheduled(defs, "shop_job", landing_copy / "shop", latest, "9999,1.0\n", build)


def tick(
    project: Scheduled, instance: dg.DagsterInstance, at: datetime = TICK
) -> tuple[list[dg.RunRequest] | dg.SkipReason, list[str]]:
    """Evaluate the schedule once; returns its result and the messages it logged."""
    schedule = project.defs.resolve_schedule_def(f"{project.job}_schedule")
    records: list[logging.LogRecord] = []
    with dg.build_schedule_context(
        scheduled_execution_time=at,
        resources={
            "file_store": project.defs.resources["file_store"],
            "io_manager": project.defs.resources["io_manager"],
        },
        instance=instance,
    ) as context:
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        context.log.addHandler(handler)
        result = schedule(context)
    return result, [record.getMessage() for record in records]


def requested(result: object) -> list[str | None]:
    assert isinstance(result, list), f"expected run requests, got {result!r}"
    return [r.partition_key for r in result]


@pytest.mark.parametrize(
    ("now", "lookback", "expected"),
    [
        (datetime(2024, 1, 1, 12, tzinfo=UTC), 3, []),  # the first window is still open
        (datetime(2024, 1, 2, 0, 30, tzinfo=UTC), 3, []),  # closed, but within the 1h lag
        (datetime(2024, 1, 2, 1, tzinfo=UTC), 3, ["2024-01-01"]),
        (datetime(2024, 1, 8, 0, 59, tzinfo=UTC), 3, ["2024-01-04", "2024-01-05", "2024-01-06"]),
        (TICK, 3, LATEST),
        (TICK, 1, ["2024-01-07"]),
        (datetime(2024, 6, 1, tzinfo=UTC), 2, ["2024-01-06", "2024-01-07"]),  # after the end
    ],
)
def test_eligible_windows(
    local_env: Path, now: datetime, lookback: int, expected: list[str]
) -> None:
    plan = build_plan(load_project(PROJECT_ROOT, get_environment()).dataflows)
    [job] = job_specs(plan, "retail")

    assert eligible_windows(job, now, lookback) == expected


def test_before_anything_is_built_the_latest_eligible_windows_are_requested(
    project: Scheduled, instance: dg.DagsterInstance
) -> None:
    result, logged = tick(project, instance)

    assert requested(result) == LATEST
    for request, window in zip(result, LATEST, strict=True):
        assert request.run_key == f"{project.job}:{window}:2024-01-08T01:30:00+00:00"
        assert request.tags["dataplat/reason"].startswith(f"{window}: ")
        assert "not built yet" in request.tags["dataplat/reason"]
        assert request.tags["dataflow"] == project.job.removesuffix("_job")
    assert len(logged) == 3


def test_built_windows_with_unchanged_sources_are_not_requested(
    project: Scheduled, instance: dg.DagsterInstance
) -> None:
    project.build(["2024-01-06", "2024-01-07"])

    result, _ = tick(project, instance)

    assert requested(result) == ["2024-01-05"]


def test_the_skip_of_built_windows_is_visible_next_to_the_requests(
    project: Scheduled, instance: dg.DagsterInstance
) -> None:
    project.build(["2024-01-06", "2024-01-07"])

    result, logged = tick(project, instance)

    assert "2024-01-05" in requested(result)
    visible = logged + [value for r in result for value in r.tags.values()]
    for window in ["2024-01-06", "2024-01-07"]:
        rows = project.rows[window]
        assert any(window in text and f"same {rows} source rows" in text for text in visible), (
            f"the skip of {window} is neither logged nor tagged: {visible}"
        )


def build_all(project: Scheduled) -> None:
    project.build(["2024-01-06", "2024-01-07"])
    project.build(["2024-01-05"])


def test_when_every_window_is_built_from_the_same_rows_the_tick_skips(
    project: Scheduled, instance: dg.DagsterInstance
) -> None:
    build_all(project)

    skipped, _ = tick(project, instance)

    assert isinstance(skipped, dg.SkipReason), f"expected a skip, got {skipped!r}"
    message = skipped.skip_message or ""
    for window in LATEST:
        assert f"{window}: " in message
        assert f"built from the same {project.rows[window]} source rows" in message


def test_an_appended_row_requests_its_built_window_again(
    project: Scheduled, instance: dg.DagsterInstance
) -> None:
    build_all(project)
    with project.file("2024-01-06").open("a", newline="") as handle:
        handle.write(project.extra_row)

    result, logged = tick(project, instance)

    assert "2024-01-06" in requested(result)
    reason = next(r for r in result if r.partition_key == "2024-01-06").tags["dataplat/reason"]
    before, after = project.rows["2024-01-06"], project.rows["2024-01-06"] + 1
    assert reason.startswith("2024-01-06: ")
    assert f"has {after} rows" in reason and f"was built from {before}" in reason
    assert reason in logged
    assert requested(result) == ["2024-01-06"]  # the other windows are unchanged
