"""A transformed table's counts on Spark come from counts already made, as Pandas counts them.

`rows_out` is the gate's rows minus the rows its actions removed, or, without a gate, the
input's rows (from its manifests) minus what the steps removed: no Spark job counts the
published frame. A SQL body's result is still counted, and so is a quarantine that holds
rows. The same project runs on Pandas and
on Spark over a range of three windows (one window's rows dropped and quarantined by rules,
duplicates and null keys removed by steps, a value rejected by a cast); the counts, the
rows written and the quarantines must be equal, and `rows_out` must be the rows written.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.checks.helpers import materialized, step_failures
from tests.spark.test_raw_observed import spark_shop

pytestmark = pytest.mark.spark

KEYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
SHOP = """\
dataflow: shop
owners: [team:shop]
partitioning: {granularity: daily, timezone: Europe/Berlin, start: "2024-01-01", end: "2024-01-10"}
landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    schema: {order_id: int64, quantity: string, status: string}
raw:
  orders: {from: landing.orders}
staging:
  orders:
    from: raw.orders
    steps:
      - cast: {quantity: int32}
      - dedupe: {keys: [order_id]}
      - drop_null: [order_id]
    rules:
      - {accepted_values: {column: status, values: [paid, shipped]}, on_fail: quarantine}
      - {range: {column: quantity, min: 1, max: 20}, on_fail: drop}
      - {count_audit: {tolerance_pct: 0}}
  plain:
    from: raw.orders
    steps:
      - dedupe: {keys: [order_id]}
      - drop_null: [order_id]
common:
  totals:
    from: [staging.orders]
    sql: >
      SELECT status, count(*) AS orders FROM {{ staging.orders }} GROUP BY status
"""
LANDING = {
    # a duplicate, a null key, a quantity out of range, a status not accepted
    "orders_20240101.csv": (
        "order_id,quantity,status\n1,2,paid\n1,2,paid\n,1,paid\n2,40,paid\n3,1,lost\n4,3,shipped\n"
    ),
    # a quantity that is no integer: rejected by the cast
    "orders_20240102.csv": "order_id,quantity,status\n5,1,paid\n6,x,paid\n",
    "orders_20240103.csv": "order_id,quantity,status\n7,2,shipped\n",
}
COUNTS = ("rows_in", "rows_out", "rows_dropped", "rows_quarantined", "rows_dropped_by_step")
TABLES = (("staging", "orders"), ("staging", "plain"), ("common", "totals"))


def _counts(result: dg.ExecuteInProcessResult, layer: str, table: str) -> dict[str, Any]:
    """The run's counts (each window's materialization carries them)."""
    events = [e for e in materialized(result, layer, "shop", table) if "rows_out" in e.metadata]
    assert [e.partition for e in events] == KEYS
    return {k: getattr(v, "value", v) for k, v in events[0].metadata.items() if k in COUNTS}


def _written(shop: Any, layer: str, table: str) -> tuple[int, list[dict]]:
    rows = shop.read(layer, table, KEYS)
    kept = [c for c in rows.column_names if not c.startswith("_") or c == "_dq_reason"]
    return rows.num_rows, sorted(repr(sorted(r.items())) for r in rows.select(kept).to_pylist())


def test_rows_out_comes_from_the_gate_and_the_steps_without_counting_the_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark
) -> None:
    from dataplat_dagster.engines.spark_engine import SparkEngine
    from dataplat_dagster.engines.spark_io import known_rows

    counted = []  # columns of every frame the Spark engine counted with a job
    real = SparkEngine.row_count

    def row_count(self: Any, frame: Any) -> int:
        if not hasattr(frame, "num_rows") and known_rows(frame) is None:
            counted.append(sorted(frame.columns))
        return real(self, frame)

    monkeypatch.setattr(SparkEngine, "row_count", row_count)
    found = {}
    for engine in ("pandas", "spark"):
        shop = spark_shop(tmp_path / engine, monkeypatch, SHOP, engine == "spark", LANDING)
        with dg.instance_for_test() as instance:
            result = shop.run(instance, KEYS)
        assert result.success, step_failures(result)
        found[engine] = {
            f"{layer}.{table}": (_counts(result, layer, table), _written(shop, layer, table))
            for layer, table in TABLES
        } | {"quarantine": _written(shop, "staging", "orders__quarantine")}
        for name, (counts, (written, _)) in found[engine].items():
            if name != "quarantine":
                assert counts["rows_out"] == written, (engine, name)

    assert found["spark"] == found["pandas"]
    staging = found["spark"]["staging.orders"][0]
    # 9 rows in; the duplicate and the null key dropped by the steps, the quantity 40 by a
    # rule; 'x' rejected by the cast and 'lost' by a rule, both quarantined
    assert (staging["rows_in"], staging["rows_out"], staging["rows_dropped"]) == (9, 4, 3)
    assert staging["rows_quarantined"] == 2
    assert found["spark"]["staging.plain"][0]["rows_out"] == 7
    # counted by a job: the quarantine of staging.orders (rows were rejected) and the SQL
    # body's result, never a table's rows after steps and rules
    quarantine, sql_result = counted
    assert "_dq_reason" in quarantine
    assert sql_result == ["_partition", "orders", "status"]
