"""Spark tables in the warehouse through real Dagster runs (resources/spark_io_managers.py).

Small hand-written assets on tmp_path: a Spark table read by a Pandas table and the other
way round, a range written by one Spark job and registered in the catalogue, and a failing
Spark write that leaves the published version (and the catalogue) as they were. The asset
factories and the SparkEngine's compute are covered elsewhere (tests/parity, e2e below).
"""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources.catalog import LocalCatalog
from dataplat_dagster.resources.io_managers import (
    WINDOWED_READ,
    LocalParquetIOManager,
    WindowedFrame,
)
from dataplat_dagster.resources.spark_io_managers import LocalSparkParquetIOManager
from dataplat_dagster.resources.storage import TableStorage

pytestmark = pytest.mark.spark

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")
SINGLE = dg.BackfillPolicy.single_run()
ON_SPARK = ["staging", "shop", "orders"]
ON_PANDAS = ["raw", "shop", "orders"]
SEEN: dict[str, pd.DataFrame] = {}
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-01",
    "dagster/asset_partition_range_end": "2024-01-03",
}
FAIL: dict[str, bool] = {"write": False}


@dg.asset(key=ON_PANDAS, partitions_def=DAILY, backfill_policy=SINGLE)
def pandas_orders(context: dg.AssetExecutionContext) -> pd.DataFrame:
    keys = context.partition_keys
    return pd.DataFrame(
        {
            "order_id": [i for i, _ in enumerate(keys) for _ in range(2)],
            "ordered_at": pd.to_datetime([f"{k}T10:00:00Z" for k in keys for _ in range(2)]),
            "_partition": [k for k in keys for _ in range(2)],
        }
    )


@dg.asset(
    key=ON_SPARK,
    partitions_def=DAILY,
    backfill_policy=SINGLE,
    io_manager_key="spark_io_manager",
    required_resource_keys={"spark_engine"},
    ins={
        "orders": dg.AssetIn(
            key=ON_PANDAS, metadata={WINDOWED_READ: True}, input_manager_key="spark_io_manager"
        )
    },
)
def spark_orders(context: dg.AssetExecutionContext, orders) -> WindowedFrame:
    from pyspark.sql import functions as F

    frame = orders.withColumn("amount", F.col("order_id") * 10)
    if FAIL["write"]:  # fails inside the write job, after the step's code returned
        frame = frame.withColumn("amount", F.raise_error(F.lit("disk said no")))
    return WindowedFrame(frame)


@dg.asset(
    key=["business", "shop", "totals"],
    # the reader's engine reads: the factories set each input's manager so (assets/support.py)
    ins={
        "orders": dg.AssetIn(
            key=ON_SPARK, metadata={WINDOWED_READ: False}, input_manager_key="io_manager"
        )
    },
)
def pandas_totals(orders: pd.DataFrame) -> pd.DataFrame:
    SEEN["totals"] = orders.copy()
    return pd.DataFrame({"rows": [len(orders)]})


def _resources(root: Path, spark_engine) -> dict:
    catalog = LocalCatalog(path=str(root / "catalog.db"))
    warehouse = str(root / "warehouse")
    return {
        "io_manager": LocalParquetIOManager(root=warehouse, engine=PandasEngine(), catalog=catalog),
        "spark_io_manager": LocalSparkParquetIOManager(
            root=warehouse, engine=spark_engine, catalog=catalog
        ),
        "spark_engine": spark_engine,
    }


def _storage(root: Path) -> TableStorage:
    import pyarrow.fs as pa_fs

    return TableStorage(
        pa_fs.LocalFileSystem(), str(root / "warehouse"), "file://", atomic_rename=True
    )


def test_pandas_to_spark_to_pandas_over_a_range(tmp_path: Path, spark_engine) -> None:
    resources = _resources(tmp_path, spark_engine)
    dg.materialize(
        [pandas_orders],
        resources=resources,
        tags=RANGE,
    )

    result = dg.materialize(
        [pandas_orders, spark_orders, pandas_totals],
        resources=resources,
        selection=[dg.AssetKey(ON_SPARK)],
        tags=RANGE,
    )

    assert result.success
    written = [
        m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(ON_SPARK)
    ]
    assert sorted(m.partition for m in written) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    storage = _storage(tmp_path)
    assert [storage.manifest(ON_SPARK, k).rows for k in ("2024-01-01", "2024-01-02")] == [2, 2]
    catalog = resources["spark_io_manager"].catalog
    locations = catalog.partition_locations(key_path=ON_SPARK)
    assert sorted(locations) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    manifest = storage.manifest(ON_SPARK, "2024-01-02")
    assert locations["2024-01-02"].endswith(f"dt=2024-01-02/{manifest.version_folder}")

    dg.materialize(
        [pandas_orders, spark_orders, pandas_totals],
        resources=resources,
        selection=[dg.AssetKey(["business", "shop", "totals"])],
    )
    read = SEEN["totals"].sort_values("order_id")
    assert read["amount"].tolist() == [0, 0, 10, 10, 20, 20]
    assert str(read["ordered_at"].dt.tz) == "UTC"  # Spark wrote TIMESTAMP_MICROS, UTC


def test_a_failing_spark_write_keeps_the_published_version(tmp_path: Path, spark_engine) -> None:
    resources = _resources(tmp_path, spark_engine)
    assets = [pandas_orders, spark_orders]
    dg.materialize(assets, resources=resources, partition_key="2024-01-01")
    storage = _storage(tmp_path)
    before = storage.manifest(ON_SPARK, "2024-01-01")
    located = resources["spark_io_manager"].catalog.partition_locations(key_path=ON_SPARK)

    FAIL["write"] = True
    try:
        result = dg.materialize(
            assets,
            resources=resources,
            selection=[dg.AssetKey(ON_SPARK)],
            partition_key="2024-01-01",
            raise_on_error=False,
        )
    finally:
        FAIL["write"] = False

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "Nothing of this write was published" in failure.message
    assert storage.manifest(ON_SPARK, "2024-01-01") == before
    table, _ = storage.read(ON_SPARK, ["2024-01-01"])
    assert table.num_rows == 2
    assert resources["spark_io_manager"].catalog.partition_locations(key_path=ON_SPARK) == located
