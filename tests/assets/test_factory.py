"""The factories' output as data: asset keys, dependencies, groups, partitions, jobs.

Builds the demo's definitions on temporary state; nothing is materialized here.
"""

from pathlib import Path

import dagster as dg
import pytest

from bench.common import bench_project
from dataplat_dagster.definitions_builder import build_definitions

RAW = {"orders", "customers", "products"}
TABLES = {
    "landing": RAW,
    "raw": RAW | {f"{t}__quarantine" for t in RAW},
    "staging": {
        "orders",
        "customers",
        "products",
        "orders__quarantine",
        "customers__quarantine",
        "products__quarantine",
    },
    "common": {"customers", "orders_enriched"},
    "business": {"daily_revenue", "customer_value"},
    "output": {"daily_revenue_csv", "daily_revenue_table"},
}


@pytest.fixture
def specs(demo_defs: dg.Definitions) -> dict[dg.AssetKey, dg.AssetSpec]:
    return {
        spec.key: spec
        for spec in demo_defs.resolve_all_asset_specs()
        if spec.key.path[1] == "retail"
    }


def test_one_asset_per_declared_table_keyed_layer_dataflow_table(specs: dict) -> None:
    expected = {
        dg.AssetKey([layer, "retail", name]) for layer, names in TABLES.items() for name in names
    }
    assert set(specs) == expected


def test_groups_tags_and_kinds_follow_the_layer(specs: dict) -> None:
    for key, spec in specs.items():
        assert spec.group_name == key.path[0]
        assert spec.tags["layer"] == key.path[0]
        assert spec.tags["dataflow"] == "retail"
    assert {"pandas", "parquet"} <= specs[dg.AssetKey(["staging", "retail", "orders"])].kinds
    assert specs[dg.AssetKey(["landing", "retail", "orders"])].kinds == {"file", "csv"}
    assert "csv" in specs[dg.AssetKey(["output", "retail", "daily_revenue_csv"])].kinds


def test_descriptions_and_owners_come_from_the_declarations(specs: dict) -> None:
    orders = specs[dg.AssetKey(["staging", "retail", "orders"])]
    assert orders.description == "Orders cleaned, one row per order, test orders removed."
    assert orders.owners == ["team:retail-analytics"]
    generated = specs[dg.AssetKey(["raw", "retail", "orders"])]
    assert generated.description == "raw table orders of dataflow retail"


@pytest.mark.parametrize(
    ("table", "upstream"),
    [
        (("raw", "orders"), {("landing", "orders")}),
        (("staging", "orders"), {("raw", "orders")}),
        (
            ("common", "orders_enriched"),
            {("staging", "orders"), ("common", "customers"), ("staging", "products")},
        ),
        (("business", "daily_revenue"), {("common", "orders_enriched")}),
        (("business", "customer_value"), {("common", "orders_enriched")}),
        (("output", "daily_revenue_csv"), {("business", "daily_revenue")}),
    ],
)
def test_dependencies_follow_from_sql_python_and_from(
    specs: dict, table: tuple, upstream: set
) -> None:
    spec = specs[dg.AssetKey([table[0], "retail", table[1]])]
    assert {tuple(dep.asset_key.path[0::2]) for dep in spec.deps} == upstream


def test_partitioned_tables_share_the_daily_windows_dimensions_do_not(specs: dict) -> None:
    windows = specs[dg.AssetKey(["raw", "retail", "orders"])].partitions_def
    assert isinstance(windows, dg.TimeWindowPartitionsDefinition)
    assert windows.get_partition_keys() == [f"2024-01-0{d}" for d in range(1, 8)]
    for key, spec in specs.items():
        dimension = key.path[2].startswith(("customers", "products"))
        assert (spec.partitions_def is None) == dimension, key
        if not dimension:
            assert spec.partitions_def == windows, key


def test_one_job_per_dataflow_selects_everything_but_landing(
    demo_defs: dg.Definitions, specs: dict
) -> None:
    job = demo_defs.resolve_job_def("retail_job")
    selected = {
        key
        for key in job.asset_layer.asset_graph.get_all_asset_keys()
        if job.asset_layer.asset_graph.get(key).is_executable
    }
    assert selected == {key for key in specs if key.path[0] != "landing"}


def test_definitions_are_loadable(demo_defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(demo_defs)


def test_a_dataflow_with_two_partitionings_gets_a_job_per_partitioning_then_aggregates(
    local_env: Path, tmp_path: Path
) -> None:
    tpch = build_definitions(bench_project(tmp_path / "bench", "tpch"))
    names = {job.name for job in tpch.resolve_all_job_defs() if job.name.startswith("tpch")}
    assert names == {"tpch_lineitem_job", "tpch_orders_job", "tpch_aggregates_job"}
    lineitem = tpch.resolve_job_def("tpch_lineitem_job").partitions_def
    orders = tpch.resolve_job_def("tpch_orders_job").partitions_def
    assert len(lineitem.get_partition_keys()) == 84 and len(orders.get_partition_keys()) == 80
    aggregates = tpch.resolve_job_def("tpch_aggregates_job")
    assert aggregates.partitions_def is None


def test_benchmark_dataflows_are_not_part_of_the_code_location(demo_defs: dg.Definitions) -> None:
    names = {job.name for job in demo_defs.resolve_all_job_defs()}
    assert not any(name.startswith("tpch") for name in names)
    assert not [s.name for s in demo_defs.sensors or [] if s.name.startswith("tpch")]
