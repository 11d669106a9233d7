"""Jobs of a dataflow with two partitionings and a dimension (`dataplat_dagster.jobs`).

Over the flights project (tests/projects.py: daily files, an hourly source, a carrier
dimension, an aggregate): the job names and their order, every table in exactly one job,
the `job` tag that selects one job's assets (one partitioning, as Dagster needs), the order
`dataplat run` runs them in, and the file-arrival sensors: the dimension's sensor runs the
dimensions job, a window whose dimension was never built waits for a run of it. In process,
on the local profile; the command lines over the same project are in test_user_project.py.
"""

from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.arrivals import Cursor
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.jobs import job_specs
from dataplat_dagster.runner import select_windows
from tests.projects import FLIGHTS_JOBS, write_flights_project

CARRIERS = {
    "raw/flights/carriers",
    "raw/flights/carriers__quarantine",
    "staging/flights/carriers",
}
POSITIONS = {
    "raw/flights/positions",
    "raw/flights/positions__quarantine",
    "staging/flights/positions",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_flights_project(tmp_path / "project")
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(root / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return root


@pytest.fixture
def flights(project: Path) -> dg.Definitions:
    return build_definitions(project)


def keys_of(selection: dg.AssetSelection, definitions: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in selection.resolve(definitions.resolve_asset_graph())}


def test_each_table_is_in_exactly_one_job_run_in_dependency_order(project: Path) -> None:
    plan = build_plan(load_project(project, "local").dataflows)
    specs = job_specs(plan, "flights")
    assert [spec.name for spec in specs] == FLIGHTS_JOBS
    tables = [str(t.id) for spec in specs for t in spec.tables]
    assert len(tables) == len(set(tables)) == 8  # every table but the three landing sources
    assert {str(t.id) for t in specs[0].tables} == {
        "flights.raw.carriers",
        "flights.staging.carriers",
    }
    windows = select_windows(plan, "flights", partition=None, start=None, end=None, every=True)
    assert list(windows) == FLIGHTS_JOBS
    assert windows["flights_dimensions_job"] is None and windows["flights_aggregates_job"] is None
    assert windows["flights_positions_job"] == [f"2024-03-01-0{h}:00" for h in range(3)]


def test_the_job_tag_selects_one_partitioning(flights: dg.Definitions) -> None:
    selected = keys_of(dg.AssetSelection.from_string("tag:job=flights_positions_job"), flights)
    assert selected == POSITIONS
    dimensions = keys_of(dg.AssetSelection.from_string("tag:job=flights_dimensions_job"), flights)
    assert dimensions == CARRIERS
    graph = flights.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] != "landing":
            job = node.tags["job"]
            assert key in flights.resolve_job_def(job).asset_layer.asset_graph.get_all_asset_keys()
    # a job per partitioning: the tagged selection is what Dagster can run together
    for name in FLIGHTS_JOBS:
        job = flights.resolve_job_def(name)
        assert keys_of(dg.AssetSelection.from_string(f"tag:job={name}"), flights) == {
            k.to_user_string() for k in job.asset_layer.executable_asset_keys
        }


def tick(definitions: dg.Definitions, instance, name: str, cursor: str | None = None):
    sensor = definitions.resolve_sensor_def(name)
    with dg.build_sensor_context(
        cursor=cursor, resources=dict(definitions.resources), instance=instance
    ) as context:
        return sensor(context)


def test_the_dimension_sensor_runs_the_dimensions_job(flights: dg.Definitions, instance) -> None:
    sensor = "flights_carriers_file_arrival_sensor"
    assert flights.resolve_sensor_def(sensor).job_name == "flights_dimensions_job"
    [request] = tick(flights, instance, sensor).run_requests
    assert request.job_name == "flights_dimensions_job"
    assert {k.to_user_string() for k in request.asset_selection} == CARRIERS


def test_a_window_waits_for_a_dimension_never_built(flights: dg.Definitions, instance) -> None:
    sensor = "flights_flights_file_arrival_sensor"
    first = tick(flights, instance, sensor)
    [request] = first.run_requests
    assert request.job_name == "flights_dimensions_job"
    assert {k.to_user_string() for k in request.asset_selection} == CARRIERS
    assert "windows 2024-03-01, 2024-03-02 wait" in request.tags["dataplat/reason"]
    waiting = Cursor.from_json(first.cursor).waiting
    assert sorted(waiting) == ["flights/flights_20240301.csv", "flights/flights_20240302.csv"]

    dimensions = flights.resolve_job_def("flights_dimensions_job")
    assert dimensions.execute_in_process(instance=instance).success
    second = tick(flights, instance, sensor, first.cursor)
    requests = second.run_requests
    assert [(r.job_name, r.partition_key) for r in requests] == [
        ("flights_flights_job", "2024-03-01"),
        ("flights_flights_job", "2024-03-02"),
    ]
    assert not any("carriers" in k.to_user_string() for k in requests[0].asset_selection)
    assert not tick(flights, instance, sensor, second.cursor).run_requests


def test_a_job_resolved_on_its_scope_equals_dagster_own_resolution(flights: dg.Definitions) -> None:
    """A job resolved on its scope (jobs.job_scope) is the job Dagster builds from the graph.

    Jobs are resolved against their own tables and inputs only, not the whole asset graph.
    """
    graph = flights.resolve_asset_graph()
    for name in FLIGHTS_JOBS:
        ours = flights.resolve_job_def(name)
        keys = sorted(ours.asset_layer.executable_asset_keys)
        whole = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*keys))
        theirs = whole.resolve(asset_graph=graph, resource_defs=ours.resource_defs)
        for job in (ours, theirs):
            assert job.asset_layer.executable_asset_keys
        assert ours.asset_layer.executable_asset_keys == theirs.asset_layer.executable_asset_keys
        assert (
            ours.asset_layer.asset_graph.get_all_asset_keys()
            == theirs.asset_layer.asset_graph.get_all_asset_keys()
        )
        assert ours.asset_layer.asset_graph.asset_check_keys == (
            theirs.asset_layer.asset_graph.asset_check_keys
        )
        assert ours.partitions_def == theirs.partitions_def
        assert ours.graph.dependencies == theirs.graph.dependencies
        assert {n.name for n in ours.graph.nodes} == {n.name for n in theirs.graph.nodes}
