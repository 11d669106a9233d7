"""A user's own project from the command line: `dataplat` and `dagster` in subprocesses.

Over the flights project (tests/projects.py), with its Python transform module next to
definitions.py and two partitionings plus a dimension: `dataplat run --all` started from
another folder imports the transform and builds every table once; `dataplat env` gives
Dagster's own commands (started from another folder) the project's instance; `dataplat
dagster asset materialize --select 'tag:job=...'` runs one partitioning's tables and records
the run there too; `dataplat validate` refuses a rule on a column that does not exist. The
operator's `dagster dev` over the same project is in tests/e2e.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import dagster_command as dagster
from tests.conftest import dataplat_command as dataplat
from tests.conftest import run_command as run
from tests.projects import write_flights_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_flights_project(tmp_path / "project")


@pytest.fixture
def env(tmp_path: Path, project: Path) -> dict[str, str]:
    """No DAGSTER_HOME: where Dagster's commands record runs is what is tested."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    return {
        **variables,
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(project / "landing"),
    }


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder that is not the project's: nothing there is importable."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def runs_in(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def test_dataplat_run_imports_user_code_and_builds_each_table_once(
    project: Path, env: dict[str, str], elsewhere: Path, tmp_path: Path
) -> None:
    result = run(dataplat("--project-dir", str(project), "run", "flights", "--all", "--json"),
                 env, cwd=elsewhere)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    # one run of the dimensions, one per partitioning (its range), one of the aggregates
    assert len(summary["run_ids"]) == 1 + 1 + 1 + 1
    metrics = summary["metrics"]
    assert metrics["raw/flights/carriers"]["rows_out"] == 2  # built once, not once per job
    assert metrics["staging/flights/carriers"]["rows_out"] == 2
    assert metrics["business/flights/delays"]["rows_out"] == 6  # the project's own transform
    assert metrics["business/flights/positions_per_flight"]["rows_out"] == 3
    recorded = runs_in(tmp_path / "state" / "dagster")
    assert sorted(r.job_name for r in recorded).count("flights_dimensions_job") == 1


def test_dataplat_env_points_dagster_commands_at_the_project_instance(
    project: Path, env: dict[str, str], elsewhere: Path, tmp_path: Path
) -> None:
    exported = run(dataplat("--project-dir", str(project), "env"), env, cwd=elsewhere)
    assert exported.returncode == 0, exported.stderr
    home = tmp_path / "state" / "dagster"
    assert exported.stdout.strip() == f"export DAGSTER_HOME={home}"
    assert (home / "dagster.yaml").read_text() == (project / "dagster.yaml").read_text()
    # `eval "$(dataplat env)"`, then Dagster's own command from another folder
    job = ("job", "execute", "-f", str(project / "definitions.py"), "-j", "flights_dimensions_job")
    result = run(dagster(*job), {**env, "DAGSTER_HOME": str(home)}, cwd=elsewhere)
    assert result.returncode == 0, result.stderr[-3000:]
    [recorded] = runs_in(home)
    assert recorded.job_name == "flights_dimensions_job"
    assert recorded.status == dg.DagsterRunStatus.SUCCESS


def test_dataplat_dagster_materializes_one_partitioning_in_the_project_instance(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    args = ("asset", "materialize", "-f", "definitions.py", "--select",
            "tag:job=flights_positions_job", "--partition", "2024-03-01-01:00")  # fmt: skip
    result = run(dataplat("dagster", *args), env, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    [recorded] = runs_in(tmp_path / "state" / "dagster")
    assert recorded.status == dg.DagsterRunStatus.SUCCESS
    assert recorded.tags["dagster/partition"] == "2024-03-01-01:00"
    assert {key.to_user_string() for key in recorded.asset_selection or []} == {
        "raw/flights/positions",
        "raw/flights/positions__quarantine",
        "staging/flights/positions",
    }
    manifest = tmp_path / "state" / "warehouse" / "staging" / "flights" / "positions"
    assert (manifest / "dt=2024-03-01-01%3A00" / "_manifest.json").exists()  # quoted colon


def test_dataplat_validate_refuses_a_rule_on_a_column_that_does_not_exist(
    project: Path, env: dict[str, str]
) -> None:
    declaration = project / "assets" / "flights" / "dataflow.yaml"
    text = declaration.read_text()
    declaration.write_text(text.replace("{not_null: carrier_name}", "{not_null: carier_name}"))
    result = run(dataplat("validate"), env, cwd=project)
    assert result.returncode == 20, result.stderr[-3000:]
    line = text[: text.index("{not_null: carrier_name}")].count("\n") + 1
    assert (
        f"assets/flights/dataflow.yaml, line {line}: common.flights.rules[0].not_null: "
        "column carier_name does not exist (did you mean carrier_name?); common.flights has: "
        "flight_id (int64), carrier (string), carrier_name (string), delay_min (int32)"
    ) in result.stderr
