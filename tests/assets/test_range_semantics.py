"""One run over a range gives what one run per window gives, row for row, and keeps windows apart.

A dataflow in New York time over 12 daily windows that cross the change to daylight saving,
with dirty rows in many windows (duplicates, null keys, out-of-range values, unknown products)
and one window that fails an ERROR rule, is built twice through `dataplat run`: once as one
range run (the default) and once with `--run-per-window`. Every table, quarantine, check
result, export file, SQL output row and catalogue entry must be the same; the failing
window must be left out below its gate in both, and every other window built.
"""

import csv
import io
import json
import os
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from tests.conftest import PROJECT_ROOT, dataplat_command, run_command

pytestmark = pytest.mark.slow

FIRST = date(2024, 3, 1)
WINDOWS = 12  # to 2024-03-12, across 2024-03-10 (clocks go forward in New York)
FAILING = "2024-03-11"  # outside the accepted values: an ERROR rule fails; one window after it

SHOP = """\
dataflow: shop
partitioning: {{granularity: daily, timezone: America/New_York, start: "{first}", end: "{end}"}}

landing:
  orders:
    path: "shop/orders_{{date:%Y%m%d}}.csv"
    schema: {{order_id: int64, customer: string, product: string, quantity: int32, unit_price: float64, status: string, ordered_at: timestamp}}
  products:
    path: shop/products.csv
    schema: {{product: string, category: string}}

raw:
  orders: {{from: landing.orders}}
  products: {{from: landing.products}}

staging:
  products: {{from: raw.products, steps: [trim, {{dedupe: [product]}}]}}
  orders:
    from: raw.orders
    steps:
      - trim
      - {{dedupe: {{keys: [order_id], keep: first, order_by: [_source_row]}}}}
      - {{derive: {{amount: "quantity * unit_price"}}}}
    rules:
      - {{not_null: [order_id, customer], on_fail: quarantine}}
      - {{range: {{column: quantity, min: 1, max: 100}}, on_fail: drop}}
      - {{referential: {{column: product, to: staging.products}}, severity: warn}}
      - {{accepted_values: {{column: status, values: [paid, refunded]}}}}
      - {{unique: [order_id]}}
      - {{row_count: {{min: 1}}}}

common:
  orders_enriched:
    sql: |
      select o.order_id, o.customer, o.product, p.category, o.quantity, o.amount, o.status, o.ordered_at
      from {{{{ staging.orders }}}} o left join {{{{ staging.products }}}} p using (product)

business:
  daily_sales:
    sql: |
      select category, count(*) as orders, sum(amount) as revenue,
             rank() over (order by sum(amount) desc, category) as rank_in_day
      from {{{{ common.orders_enriched }}}}
      where status = 'paid'
      group by category
  top_customers:
    from: common.orders_enriched
    python: shop_transforms.top_customers

output:
  daily_sales_csv: {{from: business.daily_sales, format: csv, path: "shop/daily_sales_{{date:%Y%m%d}}.csv"}}
  daily_sales_table: {{from: business.daily_sales, format: sql, database: reporting, table: daily_sales}}
"""

TRANSFORMS = '''\
"""The shop's Python business table: the two best customers of each day."""

import pandas as pd


def top_customers(orders_enriched: pd.DataFrame) -> pd.DataFrame:
    spent = orders_enriched.groupby("customer", as_index=False)["amount"].sum()
    return spent.sort_values(["amount", "customer"], ascending=[False, True]).head(2)
'''

TABLES = [
    "raw/shop/orders",
    "raw/shop/orders__quarantine",
    "staging/shop/orders",
    "staging/shop/orders__quarantine",
    "common/shop/orders_enriched",
    "business/shop/daily_sales",
    "business/shop/top_customers",
]
BELOW_THE_GATE = TABLES[4:]
RUN_DEPENDENT = {"_load_ts", "_run_id"}  # lineage that names the run or its time


def orders_file(index: int, day: date, failing: set[str]) -> str:
    """Five orders of a day, with the dirty rows some days have."""
    rows = []
    for k in range(5):
        order_id = index * 10 + k
        customer = f"c{(index + k) % 4}"
        product = f"p{k % 3}"
        quantity = k + 1
        status = "refunded" if k == 4 else "paid"
        hour = 1 + 4 * k  # 02:00 to 03:00 does not exist on 2024-03-10: none falls there
        rows.append([order_id, customer, product, quantity, 2.5 * (k + 1), status, hour])
    if index % 5 == 0:
        rows.append(list(rows[0]))  # a duplicate: deduped
    if index % 6 == 0:
        rows[1][1] = ""  # no customer: quarantined
    if index % 4 == 0:
        rows[2][3] = 0  # out of range: dropped
    if index % 9 == 0:
        rows[3][2] = "p9"  # an unknown product: a warning
    if day.isoformat() in failing:
        rows[0][5] = "bogus"  # not an accepted status: the window's gate closes
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(
        ["order_id", "customer", "product", "quantity", "unit_price", "status", "ordered_at"]
    )
    for order_id, customer, product, quantity, price, status, hour in rows:
        stamp = f"{day.isoformat()} {hour:02d}:15:00"
        writer.writerow([order_id, customer, product, quantity, price, status, stamp])
    return text.getvalue()


def write_landing(root: Path, first: date, windows: int, failing: set[str]) -> None:
    shop = root / "shop"
    shop.mkdir(parents=True)
    (shop / "products.csv").write_text("product,category\np0, food\np1,toys\np2,books\n")
    for index in range(windows):
        day = first + timedelta(days=index)
        (shop / f"orders_{day:%Y%m%d}.csv").write_text(orders_file(index, day, failing))


def write_shop_project(root: Path, first: date, windows: int) -> Path:
    root.mkdir(parents=True)
    for name in ("definitions.py", "workspace.yaml", "dagster.yaml"):
        shutil.copyfile(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "resources", root / "resources")
    (root / "assets" / "shop").mkdir(parents=True)
    end = first + timedelta(days=windows)
    (root / "assets" / "shop" / "dataflow.yaml").write_text(SHOP.format(first=first, end=end))
    (root / "shop_transforms.py").write_text(TRANSFORMS)
    return root


def build(
    tmp_path: Path, name: str, landing: Path, project: Path, *options: str
) -> tuple[dict, str]:
    """`dataplat run shop --all [options]` with its own state: the result JSON and the log."""
    (tmp_path / name / "dagster").mkdir(parents=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))},
        "DATAPLAT_HOME": str(tmp_path / name / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing),
        "DAGSTER_HOME": str(tmp_path / name / "dagster"),
    }
    command = dataplat_command("--project-dir", str(project), "run", "shop", "--all", "--json")
    result = run_command([*command, *options], env, timeout=900)
    assert result.returncode == 30, result.stderr[-3000:]  # the failing window: exit 30
    return json.loads(result.stdout), result.stderr


def published(state: Path, table: str) -> dict[str, list[dict]]:
    """Window -> its published rows (sorted, run-dependent lineage left out)."""
    windows = {}
    for folder in sorted((state / "warehouse" / table).glob("dt=*")):
        manifest = json.loads((folder / "_manifest.json").read_text())
        rows = []
        for name in manifest["files"]:  # relative to the window's folder
            rows += pq.read_table(folder / name).to_pylist()
        rows = [{k: v for k, v in row.items() if k not in RUN_DEPENDENT} for row in rows]
        key = folder.name.removeprefix("dt=")
        windows[key] = {
            "rows": sorted(rows, key=lambda row: json.dumps(row, default=str, sort_keys=True)),
            "failed_checks": manifest.get("failed_checks", []),
        }
    return windows


def catalogue(state: Path) -> list[tuple]:
    with sqlite3.connect(state / "catalog.db") as db:
        rows = db.execute("select database, name, value, withheld from catalog_partitions")
        return sorted(rows.fetchall(), key=str)


def sql_output(state: Path) -> list[tuple]:
    with sqlite3.connect(state / "reporting.db") as db:
        columns = [c[1] for c in db.execute("pragma table_info(daily_sales)")]
        kept = [c for c in columns if c not in RUN_DEPENDENT and not c.startswith("_")]
        return sorted(db.execute(f"select {', '.join(kept)} from daily_sales").fetchall(), key=str)


def exports(state: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((state / "exports").rglob("*.csv"))}


def failed_checks(summary: dict) -> set[tuple]:
    return {
        (c["asset"], c["check"], c["severity"], c["window"])
        for c in summary["checks"]["failed"]
        if c["window"] is not None  # a long range also reports one evaluation for the range
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, dict, Path]:
    tmp_path = tmp_path_factory.mktemp("range")
    landing = tmp_path / "landing"
    write_landing(landing, FIRST, WINDOWS, {FAILING})
    project = write_shop_project(tmp_path / "project", FIRST, WINDOWS)
    ranged, _ = build(tmp_path, "range", landing, project)
    per_window, _ = build(tmp_path, "per_window", landing, project, "--run-per-window")
    return ranged, tmp_path / "range" / "state", per_window, tmp_path / "per_window" / "state"


def test_one_range_run_against_one_run_per_window(both) -> None:
    ranged, _, per_window, _ = both
    assert len(ranged["run_ids"]) == 1  # every window (and the dimensions) in one run
    assert len(per_window["run_ids"]) == WINDOWS


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_the_same_rows_window_by_window(both, table: str) -> None:
    _, range_state, _, window_state = both
    ranged, per_window = published(range_state, table), published(window_state, table)
    assert ranged == per_window
    if table == "staging/shop/orders":  # the dirty rows did their work
        assert sum(len(w["rows"]) for w in ranged.values()) < 5 * WINDOWS
    if table == "staging/shop/orders__quarantine":
        assert sum(len(w["rows"]) for w in ranged.values()) == len(range(0, WINDOWS, 6))


def test_the_same_checks_fail_for_the_same_windows(both) -> None:
    ranged, _, per_window, _ = both
    assert failed_checks(ranged) == failed_checks(per_window)
    assert ("staging/shop/orders", "accepted_values_status", "ERROR", FAILING) in failed_checks(
        ranged
    )
    warned = {c[3] for c in failed_checks(ranged) if c[1] == "referential_product"}
    assert warned == {(FIRST + timedelta(days=i)).isoformat() for i in range(0, WINDOWS, 9)}


def test_the_failing_window_is_kept_apart_in_both(both) -> None:
    ranged, range_state, per_window, window_state = both
    for state in (range_state, window_state):
        staging = published(state, "staging/shop/orders")
        assert staging[FAILING]["failed_checks"] == ["accepted_values_status"]
        for table in BELOW_THE_GATE:
            windows = published(state, table)
            assert FAILING not in windows, table
            assert len(windows) == WINDOWS - 1, table
    # the range run says which windows it left out, and why
    assert set(ranged["left_out"]) == {f"{t}" for t in BELOW_THE_GATE if "__" not in t} | {
        "output/shop/daily_sales_csv",
        "output/shop/daily_sales_table",
    }
    reason = ranged["left_out"]["common/shop/orders_enriched"][FAILING]
    assert reason == "staging/shop/orders failed its quality gate (accepted_values_status)"
    assert any(FAILING in line for line in per_window["errors"])


def test_exports_sql_rows_and_catalogue_are_the_same(both) -> None:
    _, range_state, _, window_state = both
    assert exports(range_state) == exports(window_state)
    assert len(exports(range_state)) == WINDOWS - 1
    assert sql_output(range_state) == sql_output(window_state)
    assert catalogue(range_state) == catalogue(window_state)
    withheld = [row for row in catalogue(range_state) if row[3]]
    assert [(db, name, window) for db, name, window, _ in withheld] == [
        ("dataplat_staging", "shop__orders", FAILING)
    ]


def test_a_year_of_days_in_one_run_builds_all_but_the_failing_days(tmp_path: Path) -> None:
    first, days = date(2024, 1, 1), 366
    failing = {"2024-02-29", "2024-11-03"}  # a leap day; the day clocks go back
    write_landing(tmp_path / "landing", first, days, failing)
    project = write_shop_project(tmp_path / "project", first, days)
    summary, log = build(tmp_path, "year", tmp_path / "landing", project)
    state = tmp_path / "year" / "state"
    assert len(summary["run_ids"]) == 1 and len(summary["partitions"]) == days
    assert set(summary["left_out"]["business/shop/daily_sales"]) == failing
    assert len(exports(state)) == days - 2
    sales = published(state, "business/shop/daily_sales")
    assert len(sales) == days - 2 and not failing & set(sales)
    assert all(window["rows"] for window in sales.values())
    with dg.DagsterInstance.from_config(str(tmp_path / "year" / "dagster")) as instance:
        raw = instance.get_materialized_partitions(dg.AssetKey(["raw", "shop", "orders"]))
        assert len(raw) == days  # every window recorded, in batches
        below = dg.AssetKey(["business", "shop", "daily_sales"])
        left_out = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=below, asset_partitions=["2024-02-29"]), limit=1
        ).records[0]
        assert "dataplat/left_out" in left_out.asset_materialization.metadata
        # a long range keeps the files it read in the manifests, not one event per file
        landing = dg.AssetKey(["landing", "shop", "orders"])
        assert not instance.fetch_observations(landing, limit=1).records
    # progress people can follow: windows done of the total, per table
    assert "staging/shop/orders: 366 of 366 windows written" in log
    assert "business/shop/daily_sales: 364 of 364 windows written" in log
