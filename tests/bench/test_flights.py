"""The flights benchmark on a few days: the platform and the hand-written script agree.

Runs bench/flights.py's own cases (one window in its own process, and the days as one range
run) without a warm-up, and its verification (staging rows, quarantined rows, daily_delays
row for row). Timings are the benchmark's business, never asserted here.
"""

from pathlib import Path

import pytest

from bench import flights
from bench.flights_data import DIRTY

pytestmark = pytest.mark.slow
DAYS = 13  # day 12 holds a flight without a carrier: one quarantined row


def test_platform_and_hand_written_agree_on_a_window_and_a_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flights, "DATA", tmp_path / "data")
    results = flights.benchmark(DAYS, 1, ["window", "year"], warm_up=False)

    (year,) = results["year"]["platform"]
    (by_hand,) = results["year"]["handwritten"]
    # verify() passed inside benchmark(); the figures it compared are the expected ones
    assert (12, 40) in DIRTY and year["quarantined"] == by_hand["quarantined"] == 1
    assert year["staging_rows"] == by_hand["staging_rows"] > 10_000
    assert sorted(year["daily_delays"]["day"].unique()) == [
        f"2023-01-{d:02d}" for d in range(1, DAYS + 1)
    ]
    (window,) = results["window"]["platform"]
    assert list(window["daily_delays"]["day"].unique()) == [f"2023-01-{DAYS:02d}"]
    assert 0 < window["staging_rows"] < year["staging_rows"]


def test_verification_catches_a_different_row(tmp_path: Path) -> None:
    import pandas as pd

    delays = pd.DataFrame(
        {
            "day": ["2023-01-01"],
            "origin": ["EWR"],
            "carrier": ["AA"],
            "flights": [3],
            "cancelled": [0],
            "avg_dep_delay": [1.0],
            "avg_arr_delay": [2.0],
            "on_time_share": [1.0],
        }
    )
    same = {"staging_rows": 3, "quarantined": 0, "daily_delays": delays}
    flights.verify("case", same, dict(same))
    other = {**same, "daily_delays": delays.assign(avg_arr_delay=[2.5])}
    with pytest.raises(AssertionError):
        flights.verify("case", same, other)
    with pytest.raises(AssertionError, match="quarantined"):
        flights.verify("case", same, {**same, "quarantined": 1})


def test_the_hundred_dataflow_project_declares_valid_distinct_dataflows(tmp_path: Path) -> None:
    """`--cases validate_100` loads copies of the retail demo: they must stay a valid project."""
    from dataplat_dagster.definitions_builder import build_definitions

    project = flights.retail_copies(tmp_path, 3)
    definitions = build_definitions(project)
    repository = definitions.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {"retail_000_job", "retail_001_job", "retail_002_job"} <= jobs
    tables = {
        key.to_user_string()
        for key in repository.asset_graph.get_all_asset_keys()
        if key.path[0] == "output"
    }
    assert "output/retail_002/daily_revenue_table" in tables
    assert len(tables) == 6  # a CSV and a SQL output per copy


def test_the_plain_dagster_side_holds_the_same_dagster_objects(tmp_path: Path) -> None:
    """`validate_100`'s hand-written side: the platform's objects, one for one, in plain Dagster."""
    from bench import dagster_shape
    from dataplat_dagster.definitions_builder import build_definitions

    repositories = {}
    project = flights.retail_copies(tmp_path, 2)
    definitions = build_definitions(project)
    shape = dagster_shape.shape_of(definitions, "retail_000")
    platform = definitions.get_repository_def()
    plain = dagster_shape.build_defs(shape, 2).get_repository_def()
    for name, repository in (("platform", platform), ("plain", plain)):
        graph = repository.asset_graph
        repositories[name] = {
            "keys": set(graph.get_all_asset_keys()),
            "observable": set(graph.observable_asset_keys),
            "checks": {(c.asset_key, c.name) for c in graph.asset_check_keys},
            "blocking": {
                (spec.asset_key, spec.name)
                for assets_def in graph.assets_defs
                for spec in assets_def.check_specs
                if spec.blocking
            },
            "jobs": {j.name for j in repository.get_all_jobs()},
            "schedules": len(repository.schedule_defs),
            "sensors": {s.name for s in repository.sensor_defs if "file_arrival" in s.name},
        }
    assert repositories["plain"] == repositories["platform"]
    assert len(repositories["plain"]["checks"]) == 2 * 21
