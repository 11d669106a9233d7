"""Operating the dataflows: range backfills, one writer per window, retries.

Backfills run through the command lines users type; the concurrency test runs two real
processes against one Dagster instance (PostgreSQL, the project's dagster.aws.yaml with its
pools).
"""

import itertools
import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from tests.conftest import (
    PROJECT_ROOT,
    dagster_command,
    dataplat_command,
    postgres_dagster_home,
    run_command,
    write_project,
)


def test_a_range_backfill_with_dagster_asset_materialize(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    command = dagster_command(
        "asset",
        "materialize",
        "-f",
        "definitions.py",
        "--select",
        "tag:dataflow=retail",
        "--partition-range",
        "2024-01-01...2024-01-04",
    )
    result = run_command(command, cli_env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        assert run.tags["dagster/asset_partition_range_start"] == "2024-01-01"
        assert run.tags["dagster/asset_partition_range_end"] == "2024-01-04"
    exports = sorted(p.name for p in (tmp_path / "state" / "exports" / "retail").glob("*.csv"))
    assert exports == [f"daily_revenue_2024010{d}.csv" for d in (1, 2, 3, 4)]


def test_dataplat_runs_a_range_in_chunks(cli_env: dict[str, str]) -> None:
    args = [
        "run",
        "retail",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-04",
        "--windows-per-run",
        "2",
        "--json",
    ]
    result = run_command(dataplat_command(*args), cli_env, timeout=600)
    summary = json.loads(result.stdout)
    assert result.returncode == 10, result.stderr[-2000:]
    assert len(summary["run_ids"]) == 2 and summary["partitions"] == [
        f"2024-01-0{d}" for d in (1, 2, 3, 4)
    ]


@pytest.mark.integration
def test_two_runs_of_one_window_never_write_at_the_same_time(
    cli_env: dict[str, str], postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster's state in PostgreSQL (dagster.aws.yaml): its pool slots are claimed with row
    # locks; SQLite has none, and two steps starting in the same instant can both claim a slot.
    postgres = postgres_dagster_home(tmp_path / "dagster_pg", postgres_database)
    env = {**cli_env, **postgres}
    command = dataplat_command("run", "retail", "--partition", "2024-01-03", "--json")
    processes = [
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [p.returncode for p in processes] == [10, 10], [err[-2000:] for _, err in outputs]
    run_ids = [json.loads(out)["run_ids"][0] for out, _ in outputs]
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        intervals, blocked = [], []
        for run_id in run_ids:
            started: dict[str, float] = {}
            for record in instance.all_logs(run_id):
                event = record.dagster_event
                if "blocked by limit for pool dataplat_retail" in (record.user_message or ""):
                    blocked.append(run_id)
                if event is None or not event.step_key:
                    continue
                if event.event_type_value == "STEP_START":
                    started[event.step_key] = record.timestamp
                elif event.event_type_value == "STEP_SUCCESS":
                    intervals.append(
                        (started[event.step_key], record.timestamp, run_id, event.step_key)
                    )
    intervals.sort()
    assert len(intervals) == 2 * 12  # every step of both runs succeeded
    overlaps = [(a, b) for a, b in itertools.pairwise(intervals) if b[0] < a[1]]
    assert overlaps == []  # the dataflow's pool let one step write at a time
    assert blocked  # and one run waited for the other


FLAKY = """\
dataflow: flaky
partitioning: {{granularity: daily, start: "2024-01-01", end: "2024-01-03"}}
landing:
  orders: {{path: "flaky/orders_{{date:%Y%m%d}}.csv", schema: {{id: int64}}}}
raw:
  orders: {{from: landing.orders}}
staging:
  orders:
    from: raw.orders
    python: {function}
    {params}
    retry: {{max_retries: 2, delay: 0, backoff: none, jitter: none}}
"""


def _flaky_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, params: str
) -> dg.Definitions:
    root = write_project(
        tmp_path / "project", {"flaky": FLAKY.format(function=function, params=params)}
    )
    landing = tmp_path / "landing" / "flaky"
    landing.mkdir(parents=True)
    (landing / "orders_20240101.csv").write_text("id\n1\n2\n")
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    return build_definitions(root)


def test_a_transient_failure_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    marker = tmp_path / "failed-once"
    definitions = _flaky_project(
        tmp_path, monkeypatch, "tests.ops_transforms.fails_once", f"params: {{marker: '{marker}'}}"
    )
    result = definitions.resolve_job_def("flaky_job").execute_in_process(
        instance=instance, partition_key="2024-01-01"
    )
    assert result.success
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == ["staging__flaky__orders"]
    assert marker.exists()


def test_a_permanent_failure_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    definitions = _flaky_project(tmp_path, monkeypatch, "tests.ops_transforms.always_broken", "")
    result = definitions.resolve_job_def("flaky_job").execute_in_process(
        instance=instance, partition_key="2024-01-01", raise_on_error=False
    )
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "flaky.staging.orders" in message and "unexpected type (simulated bug)" in message


def test_retry_policies_and_pools_come_from_the_declarations(demo_defs: dg.Definitions) -> None:
    staging = demo_defs.resolve_assets_def(dg.AssetKey(["staging", "retail", "orders"]))
    (node,) = [staging.node_def]
    policy = staging.op.retry_policy if hasattr(staging, "op") else node.retry_policy
    assert (
        policy is not None and policy.max_retries == 2 and policy.backoff == dg.Backoff.EXPONENTIAL
    )
    assert staging.op.pool == "dataplat_retail"
    job = demo_defs.resolve_job_def("retail_job")
    assert job.tags["dagster/max_runtime"] == "7200"
