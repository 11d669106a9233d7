"""Choosing the engine: profile default, dataflow, table; what the built assets get from it.

Loads declarations and builds definitions only (no SparkSession is started, no run).
"""

from pathlib import Path

import dagster as dg
import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from dataplat_dagster.definitions_builder import definitions_from
from dataplat_dagster.engines.spark_engine import SparkEngine
from dataplat_dagster.resources.spark_io_managers import LocalSparkParquetIOManager
from tests.config.declarations import BASE, variant
from tests.conftest import write_project


def _project(root: Path, dataflow: str, profile_extra: str = "") -> Path:
    write_project(root, {"shop": dataflow})
    if profile_extra:
        local = root / "resources" / "local.yaml"
        local.write_text(local.read_text() + profile_extra)
    return root


def _engines(root: Path) -> dict[str, str]:
    plan = build_plan(load_project(root, "local").dataflows)
    return {f"{t.layer}.{t.id.name}": t.spec.engine for t in plan if t.layer != "landing"}


def test_tables_follow_the_profile_then_the_dataflow_then_their_own(tmp_path: Path) -> None:
    assert set(_engines(_project(tmp_path / "a", BASE)).values()) == {"pandas"}

    on_spark = _project(tmp_path / "b", BASE, "engine: spark\n")
    assert set(_engines(on_spark).values()) == {"spark"}

    dataflow = variant("owners: [team:shop]\n", "owners: [team:shop]\nengine: spark\n")
    one_back = variant(
        "  orders: {from: landing.orders}",
        "  orders: {from: landing.orders, engine: pandas}",
        dataflow,
    )
    assert _engines(_project(tmp_path / "c", one_back)) == {
        "raw.orders": "pandas",
        "staging.orders": "spark",
        "common.orders": "spark",
        "business.totals": "spark",
    }


def test_a_spark_table_gets_the_spark_resources_kind_and_single_run_backfills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    text = variant(
        "  orders:\n    from: staging.orders",
        "  orders:\n    from: staging.orders\n    engine: spark",
    )
    root = _project(
        tmp_path / "p",
        text,
        "spark:\n  master: local[2]\n  conf: {spark.sql.shuffle.partitions: 4}\n",
    )
    project = load_project(root, "local")
    plan = build_plan(project.dataflows)

    defs = definitions_from(project, plan)

    spark = defs.resources["spark_engine"]
    assert isinstance(spark, SparkEngine)
    assert spark.master == "local[2]" and spark.conf == {"spark.sql.shuffle.partitions": "4"}
    assert isinstance(defs.resources["spark_io_manager"], LocalSparkParquetIOManager)
    assert defs.resources["spark_io_manager"].root == defs.resources["io_manager"].root
    graph = defs.resolve_asset_graph()
    common = graph.get(dg.AssetKey(["common", "shop", "orders"]))
    staging = graph.get(dg.AssetKey(["staging", "shop", "orders"]))
    assert "spark" in common.kinds and "pandas" not in common.kinds
    assert "pandas" in staging.kinds
    assert common.backfill_policy == dg.BackfillPolicy.single_run()
    node = defs.resolve_assets_def(dg.AssetKey(["common", "shop", "orders"]))
    assert {"spark_engine", "spark_io_manager"} <= node.required_resource_keys
    business = defs.resolve_assets_def(dg.AssetKey(["business", "shop", "totals"]))
    assert "spark_engine" not in business.required_resource_keys
    # each table reads its inputs with its own engine's IO manager
    assert {i.name: i.input_manager_key for i in node.op.input_defs} == {
        "orders": "spark_io_manager"
    }
    assert plan[TableId("shop", "business", "totals")].spec.engine == "pandas"


def test_without_spark_tables_no_spark_resource_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    project = load_project(_project(tmp_path / "p", BASE), "local")

    defs = definitions_from(project, build_plan(project.dataflows))

    assert "spark_engine" not in defs.resources and "spark_io_manager" not in defs.resources
