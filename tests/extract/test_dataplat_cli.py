"""An extracted source through `dataplat run`, in a subprocess, as a user runs it.

A SQLite database stands in for the source database (the same code path as PostgreSQL and
MariaDB, which tests/extract/test_extracted_dataflow.py covers in process): a good window is
extracted and read by raw; a query error fails the command with exit code 30, the source and
window named, and nothing published.
"""

import json
import os
import sqlite3
from pathlib import Path

from tests.conftest import dataplat_command as dataplat
from tests.conftest import run_command as run
from tests.conftest import write_project

DATAFLOW = """\
dataflow: shop_db
partitioning: {{granularity: daily, timezone: UTC, start: "2024-03-08", end: "2024-03-13"}}
landing:
  orders:
    path: "db/orders_{{date:%Y%m%d}}.jsonl"
    format: jsonl
    schema: {{order_id: int64, amount: float64, ts: timestamp_ntz}}
    sql: {{database: shop, table: {table}, window_column: ts}}
raw:
  orders: {{from: landing.orders, retry: {{max_retries: 0}}}}
"""
REPORTING = '      reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n'


def project(tmp_path: Path, table: str) -> tuple[Path, dict[str, str]]:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "create table if not exists orders (order_id int, amount real, ts timestamp)"
        )
        connection.execute("delete from orders")
        connection.executemany(
            "insert into orders values (?, ?, ?)",
            [
                (1, 1.5, "2024-03-09 23:59:59"),
                (2, 2.5, "2024-03-10 00:00:00"),
                (3, 3.5, "2024-03-10 18:00:00"),
            ],
        )
    root = write_project(tmp_path / "project", {"shop_db": DATAFLOW.format(table=table)})
    profile = root / "resources" / "local.yaml"
    profile.write_text(
        profile.read_text().replace(
            REPORTING, f'{REPORTING}      shop: {{url: "sqlite:///{database}"}}\n'
        )
    )
    (tmp_path / "dagster").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    env |= {
        "DATAPLAT_ENV": "local",
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(tmp_path / "landing"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    return root, env


def test_dataplat_run_extracts_a_window_then_fails_one_naming_source_and_window(
    tmp_path: Path,
) -> None:
    root, env = project(tmp_path, "orders")
    window = ("--from", "2024-03-10", "--to", "2024-03-10", "--json")
    result = run(dataplat("--project-dir", str(root), "run", "shop_db", *window), env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["status"] == "success" and summary["partitions"] == ["2024-03-10"]
    landed = tmp_path / "landing" / "db" / "orders_20240310.jsonl"
    assert [json.loads(line)["order_id"] for line in landed.read_text().splitlines()] == [2, 3]
    assert summary["metrics"]["raw/shop_db/orders"]["rows_out"] == 2

    before = landed.read_text()
    (root / "assets" / "shop_db" / "dataflow.yaml").write_text(
        DATAFLOW.format(table="no_such_orders")
    )
    failed = run(dataplat("--project-dir", str(root), "run", "shop_db", *window), env)
    assert failed.returncode == 30, failed.stderr[-3000:]
    errors = " ".join(json.loads(failed.stdout)["errors"])
    assert "shop_db.landing.orders window 2024-03-10" in errors
    assert "no such table: no_such_orders" in errors
    assert landed.read_text() == before  # nothing published
