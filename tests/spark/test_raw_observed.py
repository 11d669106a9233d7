"""Raw on Spark without checks: counted during the table's write, published as on Pandas.

A raw table with no check takes the fast path (assets/raw_observed.py): no cache of the
parsed lines and no counting job, its rows and rejected rows per window counted by the
table's write job. The same project runs on Pandas and on Spark: the published rows, the
quarantine, each window's manifest (`source_rows`, `source_files`) and the counts in the
materializations must be equal. A raw table with an ERROR check keeps counting first: its
closed gate still keeps the window from being published.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

import dataplat_dagster.assets.raw as raw_module
from dataplat_dagster.assets.support import PREVIEW_ROWS
from tests.checks.helpers import make_shop, materialized, step_failures
from tests.conftest import PROJECT_ROOT
from tests.spark.test_demo_on_spark import SPARK_PROFILE, VOLATILE

pytestmark = pytest.mark.spark

KEYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
SHOP = """\
dataflow: shop
owners: [team:shop]
partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-10"}
landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    schema: {order_id: {type: int64, nullable: false}, quantity: int32, price: float64}
  sales:
    path: shop/sales.csv
    partition_column: day
    schema: {sale_id: int64, day: date, amount: float64}
  customers:
    path: shop/customers.csv
    schema: {customer_id: int64, name: string}
raw:
  orders: {from: landing.orders}
  sales: {from: landing.sales}
  customers: {from: landing.customers}
"""
LANDING = {
    # a value not of its type, a missing key, a short line: rejected on reading
    "orders_20240101.csv": "order_id,quantity,price\n1,2,9.5\n2,x,1.25\n,1,2.0\n3,1,4.25\n",
    "orders_20240102.csv": "order_id,quantity,price\n4,1,1.5\n5,3,2.5\n",
    "orders_20240103.csv": "order_id,quantity,price\n6,1\n7,2,3.0\n",
    # inside the run, of another run's window, before the windows, no date, a bad date
    "sales.csv": (
        "sale_id,day,amount\n1,2024-01-02,10.0\n2,2024-01-03,5.5\n3,2024-01-07,1.0\n"
        "4,2023-12-31,2.0\n5,,3.0\n6,2024-13-01,4.5\n7,2024-01-01,8.0\n8,2024-01-03,x\n"
    ),
    "customers.csv": "customer_id,name\n1,Ann\n2,Bob\n",
}
TABLES = ("orders", "sales", "customers")
COUNTS = ("rows_in", "rows_out", "rows_quarantined", "rows_in_by_input", "files")


def spark_shop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    spark: bool,
    landing: dict[str, str] | None = None,
) -> Any:
    """The shop project on Spark (or Pandas), its landing files written (`LANDING` unless given)."""
    local = (PROJECT_ROOT / "resources" / "local.yaml").read_text()
    files = {"resources/local.yaml": local + SPARK_PROFILE} if spark else None
    shop = make_shop(tmp_path, monkeypatch, text, files)
    for name, content in (LANDING if landing is None else landing).items():
        (shop.landing / "shop" / name).write_text(content)
    return shop


def _rows(shop: Any, table: str, key: str | None) -> list[dict]:
    rows = shop.read("raw", table, [key], missing_ok=True)
    rows = rows.drop_columns([c for c in VOLATILE if c in rows.column_names])
    for index, field in enumerate(rows.schema):
        if pa.types.is_dictionary(field.type):
            rows = rows.set_column(index, field.name, rows[field.name].cast(field.type.value_type))
    return sorted((dict(sorted(r.items())) for r in rows.to_pylist()), key=repr)


def _published(shop: Any, result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """Rows, manifests and counts of every raw table and quarantine, per window."""
    found: dict[str, Any] = {}
    for table in TABLES:
        keys = [None] if table == "customers" else KEYS
        for name in (table, f"{table}__quarantine"):
            for key in keys:
                manifest = shop.storage().manifest(["raw", "shop", name], key)
                found[f"{name} {key} rows"] = _rows(shop, name, key)
                kept = dict(manifest.properties)
                if "source_files" in kept:  # each side wrote its files: versions differ
                    kept["source_files"] = [f.split("@")[0] for f in kept["source_files"]]
                found[f"{name} {key} manifest"] = (manifest.rows, kept)
        for event in materialized(result, "raw", "shop", table):
            shown = {k: getattr(v, "value", v) for k, v in event.metadata.items() if k in COUNTS}
            found[f"{table} {event.partition} counts"] = (
                shown,
                event.metadata["dagster/row_count"].value,
            )
    return found


@pytest.fixture
def observed_loads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The real `load_observed`, recording what it loads by first file (which path raw took)."""
    real, loads = raw_module.load_observed, {}

    def recording(spark: Any, source: Any, files: list, *args: Any, **kwargs: Any) -> Any:
        loads[files[0][0].path] = real(spark, source, files, *args, **kwargs)
        return loads[files[0][0].path]

    monkeypatch.setattr(raw_module, "load_observed", recording)
    return loads


def test_raw_without_checks_counts_during_its_write_as_pandas_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark, observed_loads: dict[str, Any]
) -> None:
    from pyspark import StorageLevel

    from dataplat_dagster.engines.base import RULE
    from dataplat_dagster.engines.spark_engine import SparkEngine

    previews_of_tables = []  # a Spark job over a raw table (not its quarantine) for a preview
    real_head = SparkEngine.head

    def head(self: Any, frame: Any, rows: int) -> Any:
        if rows and not isinstance(frame, pa.Table) and RULE not in frame.columns:
            previews_of_tables.append(frame.columns)
        return real_head(self, frame, rows)

    monkeypatch.setattr(SparkEngine, "head", head)
    runs = {}
    for engine in ("pandas", "spark"):
        shop = spark_shop(tmp_path / engine, monkeypatch, SHOP, engine == "spark")
        with dg.instance_for_test() as instance:
            result = shop.run(instance, KEYS)
        assert result.success, step_failures(result)
        runs[engine] = _published(shop, result)
        if engine == "spark":
            _assert_preview_is_the_first_rows_written(shop, result)

    assert sorted(observed_loads) == [
        "shop/customers.csv",
        "shop/orders_20240101.csv",
        "shop/sales.csv",
    ]
    differing = {
        k: (v, runs["pandas"].get(k))
        for k, v in runs["spark"].items()
        if runs["pandas"].get(k) != v
    }
    assert not differing
    assert runs["spark"].keys() == runs["pandas"].keys()
    sales = runs["spark"]["sales 2024-01-01 manifest"][1]
    # its own row, the one dated before the windows, the one without a date (as Pandas puts it)
    assert sales["source_rows"] == 3
    # a range run's counts: the run's (two lines rejected on the 1st, one on the 3rd)
    assert runs["spark"]["orders 2024-01-01 counts"][0]["rows_quarantined"] == 3
    assert len(runs["spark"]["orders__quarantine 2024-01-03 rows"]) == 1
    for loaded in observed_loads.values():  # parsed by the write job, not cached first
        assert loaded.read.read.storageLevel == StorageLevel.NONE
    assert not previews_of_tables  # each preview was read back from the written files


def _assert_preview_is_the_first_rows_written(shop: Any, result: Any) -> None:
    """The preview is read back from the written files, shown on the run's first window."""
    for table, key_column in (("orders", "order_id"), ("sales", "sale_id"), ("customers", None)):
        keys = [None] if key_column is None else KEYS
        shown = [e for e in materialized(result, "raw", "shop", table) if "preview" in e.metadata]
        assert [e.partition for e in shown] == [keys[0]], table
        records = [r.data for r in shown[0].metadata["preview"].value.records]
        written = shop.read("raw", table, keys).to_pylist()
        column = key_column or "customer_id"
        assert records and len(records) == min(PREVIEW_ROWS, len(written))
        assert [r[column] for r in records] == [r[column] for r in written[: len(records)]]


def test_a_raw_error_check_still_keeps_its_window_unpublished_on_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark, observed_loads: dict[str, Any]
) -> None:
    checked = SHOP.replace(
        "  orders: {from: landing.orders}\n",
        "  orders:\n    from: landing.orders\n"
        "    rules: [{row_count: {min: 3}, severity: error}]\n",
    )
    failed, sales = {}, {}
    for engine in ("pandas", "spark"):
        shop = spark_shop(tmp_path / engine, monkeypatch, checked, engine == "spark")
        with dg.instance_for_test() as instance:
            result = shop.run(instance, ["2024-01-02"])
        failures = step_failures(result)
        assert any("quality gate closed" in error for error in failures.values()), failures
        assert not materialized(result, "raw", "shop", "orders")
        failed[engine] = shop.failed_checks("raw", "orders", "2024-01-02")
        # beside it, one window of a table without checks: published, its preview shown
        (table,) = materialized(result, "raw", "shop", "sales")
        manifest = shop.storage().manifest(["raw", "shop", "sales"], "2024-01-02")
        sales[engine] = (_rows(shop, "sales", "2024-01-02"), manifest.properties["source_rows"])
        assert table.metadata["preview"].value.records

    assert failed["spark"] == failed["pandas"] == ("row_count",)
    assert "shop/orders_20240102.csv" not in observed_loads  # counted before the write
    assert "shop/sales.csv" in observed_loads
    assert sales["spark"] == sales["pandas"] and sales["spark"][1] == 1
