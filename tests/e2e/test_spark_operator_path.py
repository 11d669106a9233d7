"""The operator's path on the Spark engine: a run launched over GraphQL, in Dagster's run worker.

`dataplat ui` over a project whose retail dataflow declares `engine: spark` and nothing else
changed (its two business tables, whose Python code is annotated with pandas types, run on
Pandas). The run worker starts its own Spark session (one for the whole run: Spark jobs run
their steps in one process) and Spark reads and writes the warehouse. The window's business
table must hold the rows `dataplat run` gives on the Pandas engine, the manifests, catalogue
and checks must be as on Pandas, and the server must leave no process behind.
"""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient

from tests.conftest import DEMO_LANDING, PROJECT_ROOT, dataplat_command, free_port
from tests.e2e.conftest import LOCATION, REPOSITORY, Operator, serving

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]

WINDOW = "2024-01-03"
BUSINESS = "business/retail/daily_revenue"


def _project(root: Path, engine: str) -> Path:
    root.mkdir(parents=True)
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml"):
        shutil.copyfile(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    shutil.copytree(PROJECT_ROOT / "assets" / "retail", root / "assets" / "retail")
    declaration = root / "assets" / "retail" / "dataflow.yaml"
    flow = yaml.safe_load(declaration.read_text())
    flow["engine"] = engine
    for source in flow["landing"].values():  # the test launches its run itself
        source["sensor"] = {"enabled": False}
    declaration.write_text(yaml.safe_dump(flow, sort_keys=False))
    return root


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    return env | {
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(base / "state"),
        "DATAPLAT_LANDING_ROOT": str(base / "landing"),
    }


@pytest.fixture(scope="module")
def spark_operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    base = tmp_path_factory.mktemp("operator-spark")
    project = _project(base / "project", "spark")
    shutil.copytree(DEMO_LANDING, base / "landing")
    env = _env(base)
    operator = Operator(
        "sqlite", project, base / "state", base / "landing", free_port(), env, base / "ui.log"
    )
    with serving(operator):
        yield operator


def _rows(state: Path, key: str, window: str) -> list[dict]:
    """A window's published rows, read as an outside reader does: manifest, then its files."""
    folder = state / "warehouse" / key / f"dt={window}"
    manifest = json.loads((folder / "_manifest.json").read_text())
    rows = [row for name in manifest["files"] for row in pq.read_table(folder / name).to_pylist()]
    assert len(rows) == manifest["rows"]
    return sorted(rows, key=lambda row: sorted((k, str(v)) for k, v in row.items()))


def test_a_spark_run_launched_over_graphql(spark_operator: Operator, tmp_path: Path) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=spark_operator.port)
    run_id = client.submit_job_execution(
        "retail_job",
        repository_location_name=LOCATION,
        repository_name=REPOSITORY,
        tags={"dagster/partition": WINDOW},
    )
    run = spark_operator.wait_for_run(run_id, timeout=600)
    assert run["status"] == "SUCCESS", spark_operator.tail()
    for key in (BUSINESS, "staging/retail/orders", "common/retail/orders_enriched"):
        manifest = spark_operator.manifest(key, WINDOW)
        assert manifest is not None and manifest["write_id"].startswith(run_id[:8]), key
        assert manifest["failed_checks"] == []
    assert WINDOW in spark_operator.catalog_partitions("staging/retail/orders")
    executions = spark_operator.check_executions(
        "common/retail/orders_enriched", "referential_customer_id", WINDOW
    )
    assert [e["evaluation"]["success"] for e in executions if e["runId"] == run_id] == [True]
    shown = spark_operator.materialization_metadata(BUSINESS, WINDOW)
    assert int(shown["dagster/row_count"]) > 0

    # the same window on the Pandas engine, built as an operator would with `dataplat run`
    base = tmp_path / "pandas"
    project = _project(base / "project", "pandas")
    shutil.copytree(DEMO_LANDING, base / "landing")
    built = subprocess.run(
        dataplat_command("--project-dir", str(project), "run", "retail", "--partition", WINDOW),
        env=_env(base), cwd=project, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode in (0, 10), built.stderr[-3000:]  # 10: rows quarantined
    for key in (BUSINESS, "common/retail/orders_enriched", "staging/retail/orders__quarantine"):
        assert _rows(spark_operator.state, key, WINDOW) == _rows(base / "state", key, WINDOW), key
    export = Path("exports") / "retail" / f"daily_revenue_{WINDOW.replace('-', '')}.csv"
    assert (spark_operator.state / export).read_text() == (base / "state" / export).read_text()
