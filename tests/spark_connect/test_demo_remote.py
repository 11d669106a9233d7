"""The retail demo with every table on the Spark engine through Spark Connect, against Pandas.

Both runs build three windows in one range run from the same landing files (2024-01-05,
whose ERROR gate closes, and two with quarantined rows); the staging, common and business
tables, the quarantine, the CSV outputs and the check results must be the same. The Spark run's tables are written by the
Connect server's executors (the client only publishes manifests and the catalogue).
"""

import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.storage import TableStorage
from tests.conftest import PROJECT_ROOT, run_demo
from tests.spark_connect.server import ConnectServer

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TABLES = [
    ("staging", "orders"),
    ("staging", "customers"),
    ("common", "orders_enriched"),
    ("business", "daily_revenue"),
    ("business", "customer_value"),
    ("raw", "orders__quarantine"),
]
WINDOWS = ["2024-01-05", "2024-01-06", "2024-01-07"]


def _project(root: Path, profile_lines: str) -> Path:
    """The demo unchanged; its pandas-annotated custom rule and transform stay on Pandas."""
    shutil.copytree(PROJECT_ROOT / "assets", root / "assets")
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    with (root / "resources" / "local.yaml").open("a") as profile:
        profile.write(profile_lines)
    return root


def _run(root: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Run the demo's range on `root`; each business table's rows and each CSV export."""
    monkeypatch.setenv("DATAPLAT_HOME", str(state))
    with dg.instance_for_test() as instance:
        result = run_demo(build_definitions(root), instance, WINDOWS, raise_on_error=False)
    checks = {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
    }
    storage = TableStorage(
        pa_fs.LocalFileSystem(), str(state / "warehouse"), "file://", atomic_rename=True
    )
    failures = {
        event.step_key: event.step_failure_data.error.message
        if event.step_failure_data.error
        else ""
        for event in result.all_events
        if event.is_step_failure
    }
    found: dict[str, object] = {"checks": checks, "failures": failures}
    for layer, table in TABLES:
        rows, _ = storage.read([layer, "retail", table], WINDOWS, missing_ok=True)
        found[table] = _sorted_rows(rows)
    exports = sorted((state / "exports").rglob("*.csv"))
    found["exports"] = {path.name: path.read_text() for path in exports}
    return found


def _sorted_rows(table: pa.Table) -> list[tuple]:
    columns = [name for name in table.column_names if not name.startswith("_")]
    rows = [tuple(row[name] for name in columns) for row in table.select(columns).to_pylist()]
    return sorted(rows, key=repr)  # repr: None sorts beside values


def test_the_demo_on_spark_connect_equals_the_pandas_run(
    connect_server: ConnectServer,
    remote_engine: object,  # the session the run shares, stopped before the server
    local_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spark_profile = (
        f"\nengine: spark\nspark:\n  remote: {connect_server.url}\n"
        "  conf: {spark.sql.session.timeZone: UTC}\n"
    )
    spark_project = _project(tmp_path / "spark", spark_profile)
    on_spark = _run(spark_project, tmp_path / "s", monkeypatch)
    on_pandas = _run(_project(tmp_path / "pandas", "\n"), tmp_path / "p", monkeypatch)

    assert len(on_pandas["daily_revenue"]) >= 2  # every window but the one its gate refused
    assert on_pandas["orders__quarantine"]  # bad landing rows of 2024-01-06
    # the steps that failed (none: the closed gate skips what is below it), with their errors
    assert on_spark["failures"] == on_pandas["failures"] == {}
    for _, table in TABLES:
        assert on_spark[table] == on_pandas[table], table
    assert on_spark["exports"] and on_spark["exports"] == on_pandas["exports"]
    assert False in on_pandas["checks"].values()  # 2024-01-05's ERROR gate closes
    assert on_spark["checks"] == on_pandas["checks"]
