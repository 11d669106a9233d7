"""The command line as users run it: `dagster ...` and `dataplat ...` in subprocesses.

Each test runs from the repository root with all state in a temporary folder.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, write_project
from tests.conftest import dagster_command as dagster
from tests.conftest import dataplat_command as dataplat
from tests.conftest import run_command as run


@pytest.fixture
def env(tmp_path: Path, landing_copy: Path) -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    (tmp_path / "dagster").mkdir()
    return {
        **variables,
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing_copy),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }


@pytest.mark.parametrize("target", [["-f", "definitions.py"], ["-w", "workspace.yaml"]])
def test_dagster_definitions_validate(env: dict[str, str], target: list[str]) -> None:
    result = run(dagster("definitions", "validate", *target), env)
    assert result.returncode == 0, result.stderr
    assert "Validation successful" in result.stderr + result.stdout


def test_dagster_job_execute_for_one_partition(env: dict[str, str], tmp_path: Path) -> None:
    tags = json.dumps({"dagster/partition": "2024-01-03"})
    result = run(
        dagster("job", "execute", "-f", "definitions.py", "-j", "retail_job", "--tags", tags),
        env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr + result.stdout
    assert (tmp_path / "state" / "exports" / "retail" / "daily_revenue_20240103.csv").exists()
    assert (
        tmp_path
        / "state"
        / "warehouse"
        / "staging"
        / "retail"
        / "orders"
        / "dt=2024-01-03"
        / "_manifest.json"
    ).exists()


def test_dataplat_run_all_windows_prints_result_json(env: dict[str, str], tmp_path: Path) -> None:
    result = run(dataplat("run", "retail", "--all", "--json"), env)
    summary = json.loads(result.stdout)
    # the demo's 2024-01-05 holds an order of an unknown customer: its ERROR gate fails
    assert result.returncode == 30, result.stderr[-3000:]
    assert summary["status"] == "failed"
    assert summary["partitions"] == [f"2024-01-0{d}" for d in range(1, 8)]
    # one run for the range: the failed gate blocks only its own window below
    assert len(summary["run_ids"]) == 1
    assert summary["left_out"]["business/retail/daily_revenue"] == {
        "2024-01-05": "common/retail/orders_enriched failed its quality gate (referential_customer_id)"
    }
    assert summary["metrics"]["raw/retail/orders"]["rows_quarantined"] == 2
    exports = sorted(a.rsplit("/", 1)[-1] for a in summary["artifacts"] if a.endswith(".csv"))
    assert exports == [f"daily_revenue_2024010{d}.csv" for d in (1, 2, 3, 4, 6, 7)]
    failure = "check referential_customer_id on common/retail/orders_enriched failed (ERROR) for 2024-01-05"
    assert failure in summary["errors"]
    assert "raw/retail/orders: 2 row(s) quarantined" in summary["warnings"]
    failed = {(c["check"], c["window"]) for c in summary["checks"]["failed"]}
    assert ("not_null_order_id", "2024-01-02") in failed and (
        "range_quantity",
        "2024-01-04",
    ) in failed
    assert summary["checks"]["passed"] > 50
    assert (
        tmp_path / "dagster" / "storage"
    ).exists()  # runs are recorded in the persistent instance


def test_dataplat_single_run_range_succeeds_without_the_bad_window(env: dict[str, str]) -> None:
    args = ("run", "retail", "--from", "2024-01-01", "--to", "2024-01-03", "--single-run", "--json")
    result = run(dataplat(*args), env)
    summary = json.loads(result.stdout)
    assert result.returncode == 10, result.stderr[-3000:]
    assert len(summary["run_ids"]) == 1 and summary["status"] == "success_with_warnings"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope", "--all"], "no dataflow named 'nope'"),
        (["run", "retail", "--partition", "2023-12-31"], "is not a window of retail"),
        (["run", "retail"], "give --partition KEY, --from/--to or --all"),
        (["run", "retail", "--from", "2024-01-05", "--to", "2024-01-02"], "is after --to"),
        (
            ["run-table", "retail.staging.order", "--partition", "2024-01-03"],
            "dataflow retail has no table staging.order; close names: retail.staging.orders",
        ),
    ],
)
def test_dataplat_rejects_bad_parameters_with_exit_code_20(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(dataplat(*args), env)
    assert result.returncode == 20
    assert message in result.stderr


FIELDS = {"time", "level", "dataflow", "table", "window", "run_id", "step", "event", "message",
          "exception"}  # fmt: skip


def test_dataplat_run_failure_exits_30_and_logs_json_lines(
    env: dict[str, str], landing_copy: Path, tmp_path: Path
) -> None:
    (landing_copy / "retail" / "orders_20240102.csv").unlink()
    # telemetry off: in a DAGSTER_HOME without settings Dagster prints its banner on stderr
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    args = ("run", "retail", "--partition", "2024-01-02", "--json", "--log-format", "json")
    result = run(dataplat(*args), env)
    assert result.returncode == 30
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert any("no file matching" in error for error in summary["errors"])
    assert summary["globals"]["landing_root"] == str(landing_copy)
    # the console's lines and the log file's are JSON objects, one a line
    console = [json.loads(line) for line in result.stderr.splitlines()]
    assert console and all(set(line) == FIELDS for line in console)
    log_file = Path(summary["log_file"])
    assert log_file.parent == tmp_path / "state" / "logs" / "retail"
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    [failure] = [line for line in lines if line["event"] == "STEP_FAILURE"]
    assert failure["level"] == "ERROR" and failure["run_id"] == summary["run_ids"][0]
    assert (failure["dataflow"], failure["table"], failure["window"], failure["step"]) == (
        "retail", "raw/retail/orders", "2024-01-02", "raw__retail__orders"
    )  # fmt: skip
    assert failure["exception"]["type"] == "MissingLandingFiles"
    assert "raw.py" in failure["exception"]["traceback"]  # where it was raised
    assert lines[-1]["message"].startswith("finished: status failed, exit code 30")


def test_dataplat_run_table_builds_one_table_or_with_what_it_reads(env: dict[str, str]) -> None:
    alone = run(dataplat("run-table", "retail.staging.orders", "--partition", "2024-01-04",
                         "--json"), env)  # fmt: skip
    summary = json.loads(alone.stdout)
    assert alone.returncode == 30  # its input, raw, was never built for that window
    assert summary["tables"] == ["staging/retail/orders", "staging/retail/orders__quarantine"]
    assert any("raw/retail/orders has not been materialized" in e for e in summary["errors"])
    upstream = run(dataplat("run-table", "retail.staging.orders", "--partition", "2024-01-04",
                            "--with-upstream", "--json"), env)  # fmt: skip
    summary = json.loads(upstream.stdout)
    assert upstream.returncode in (0, 10), upstream.stderr[-3000:]
    assert set(summary["metrics"]) == {
        "raw/retail/orders", "raw/retail/orders__quarantine",
        "staging/retail/orders", "staging/retail/orders__quarantine",
    }  # fmt: skip
    assert Path(summary["log_file"]).read_text().count(summary["run_ids"][0]) > 1


def test_dataplat_validate_reports_the_bad_declaration(env: dict[str, str], tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project",
        {
            "shop": "dataflow: shop\nlanding:\n  orders: {path: a.csv, formt: csv, schema: {a: int64}}\n"
        },
    )
    result = run(dataplat("--project-dir", str(project), "validate"), env)
    assert result.returncode == 20
    assert "assets/shop/dataflow.yaml, line 3: landing.orders.formt: unknown field" in result.stderr
    good = run(dataplat("validate"), env)
    assert good.returncode == 0 and "valid: 1 dataflow(s): retail" in good.stdout
