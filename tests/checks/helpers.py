"""Shared by the quality-check tests: a tiny daily-partitioned project, its runs and reads.

The dataflow `shop` has one landing CSV of orders per day (`shop/orders_YYYYMMDD.csv`) and a
whole customers file; raw copies them, `staging.orders` carries the rules under test and
`business.totals` (SQL) reads it, so blocking across layers can be observed. Not a test module.
"""

import csv
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from dataplat_dagster.definitions_builder import build_definitions
from dataplat_dagster.resources.storage import TableStorage
from tests.conftest import write_project

DAY1, DAY2, DAY3 = "2024-01-02", "2024-01-03", "2024-01-04"
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "status",
    "quantity",
    "price",
    "code",
    "ordered_at",
    "shipped_on",
)
ORDER_SCHEMA = (
    "{order_id: int64, customer_id: int64, status: string, quantity: int32, "
    "price: float64, code: string, ordered_at: timestamp, shipped_on: date}"
)
STAGING_TYPES = {
    "order_id": "int64",
    "customer_id": "int64",
    "status": "string",
    "quantity": "int32",
    "price": "float64",
    "code": "string",
    "ordered_at": "timestamp",
    "shipped_on": "date",
}
CUSTOMERS = [{"customer_id": 1, "name": "Ann"}, {"customer_id": 2, "name": "Bob"}]


def order(number: int, day: str = DAY1, **values: Any) -> dict[str, Any]:
    """A valid order row of `day`; keyword arguments override columns (None: empty cell)."""
    row = {
        "order_id": number,
        "customer_id": 1,
        "status": "paid",
        "quantity": 2,
        "price": 9.5,
        "code": f"AB-{number:03d}",
        "ordered_at": f"{day}T10:00:00",
        "shipped_on": day,
    }
    return {**row, **values}


def orders(day: str, count: int = 3, **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """`count` valid orders of `day` with ids day*100+1..; `changes` maps 'row<N>' to overrides."""
    base = int(day[-2:]) * 100
    return [order(base + n, day, **changes.get(f"row{n}", {})) for n in range(1, count + 1)]


def shop_yaml(
    rules: Sequence[dict[str, Any]] = (),
    *,
    quarantine: dict[str, Any] | None = None,
    key: Sequence[str] = (),
    staging_extra: str = "",
    business_extra: str = "",
) -> str:
    """The `shop` dataflow; `rules`, `quarantine` and `key` go on staging.orders (as flow YAML).

    `staging_extra` / `business_extra`: more tables of those layers, as indented YAML text.
    """
    policy_line = f"    quarantine: {json.dumps(quarantine)}\n" if quarantine else ""
    policy_line += f"    key: {json.dumps(list(key))}\n" if key else ""
    return f"""\
dataflow: shop
owners: [team:shop]
partitioning: {{granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-10"}}
landing:
  orders:
    path: "shop/orders_{{date:%Y%m%d}}.csv"
    format: csv
    schema: {ORDER_SCHEMA}
  customers:
    path: shop/customers.csv
    schema: {{customer_id: int64, name: string}}
raw:
  orders: {{from: landing.orders}}
  customers: {{from: landing.customers}}
staging:
  customers: {{from: raw.customers}}
  orders:
    from: raw.orders
    rules: {json.dumps(list(rules))}
{policy_line}{staging_extra}business:
  totals:
    sql: "select status, count(*) as n from {{{{ staging.orders }}}} group by all"
{business_extra}"""


@dataclass
class Shop:
    """A written project with its state and landing folders (environment already set)."""

    root: Path
    state: Path
    landing: Path

    def land(self, day: str, rows: Sequence[dict[str, Any]]) -> Path:
        """Write the landing CSV of `day` (None values become empty cells)."""
        return write_csv(self.landing / "shop" / f"orders_{day.replace('-', '')}.csv", rows)

    def land_customers(self, rows: Sequence[dict[str, Any]]) -> Path:
        return write_csv(self.landing / "shop" / "customers.csv", rows)

    def definitions(self) -> dg.Definitions:
        return build_definitions(self.root)

    def run(
        self,
        instance: dg.DagsterInstance,
        keys: Sequence[str],
        *,
        only: Sequence[str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """One in-process run over one window or a range of windows (never raises).

        `only`: asset keys as `layer.shop.table` to materialize instead of the whole job.
        """
        if len(keys) == 1:
            tags = {"dagster/partition": keys[0]}
        else:
            tags = {
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            }
        selection = [dg.AssetKey(name.split(".")) for name in only or ()]
        return (
            self.definitions()
            .resolve_job_def("shop_job")
            .execute_in_process(
                instance=instance,
                tags=tags,
                raise_on_error=False,
                asset_selection=selection or None,
            )
        )

    def storage(self) -> TableStorage:
        return TableStorage(
            pa_fs.LocalFileSystem(), str(self.state / "warehouse"), "file://", atomic_rename=True
        )

    def read(self, layer: str, table: str, keys: Sequence[str | None], **kwargs: Any) -> pa.Table:
        rows, _ = self.storage().read([layer, "shop", table], list(keys), **kwargs)
        return rows

    def failed_checks(self, layer: str, table: str, key: str) -> tuple[str, ...]:
        """The ERROR checks recorded in a window's manifest."""
        manifest = self.storage().manifest([layer, "shop", table], key)
        assert manifest is not None, f"{layer}.{table} {key} was never published"
        return manifest.failed_checks

    def outbox(self, kind: str) -> list[Any]:
        """Messages of one kind (`X-Dataplat-Kind`) in the outbox."""
        folder = self.state / "outbox"
        messages = [
            message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(folder.glob("*.eml"))
        ]
        return [m for m in messages if m["X-Dataplat-Kind"] == kind]

    def metrics(self, name: str) -> list[tuple[float, dict[str, str]]]:
        with sqlite3.connect(self.state / "metrics.db") as db:
            rows = db.execute("select value, dimensions from metrics where name = ?", (name,))
            found = [(value, json.loads(dims)) for value, dims in rows]
        db.close()
        return found


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ORDER_COLUMNS)
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
    return path


def make_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, files: dict[str, str] | None = None
) -> Shop:
    """Write the project and point the local profile at temporary state and landing folders."""
    root = write_project(tmp_path / "project", {"shop": text}, files=files)
    state, landing = tmp_path / "state", tmp_path / "landing"
    monkeypatch.setenv("DATAPLAT_ENV", "local")
    monkeypatch.setenv("DATAPLAT_HOME", str(state))
    monkeypatch.setenv("DATAPLAT_LANDING_ROOT", str(landing))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    write_csv(landing / "shop" / "customers.csv", CUSTOMERS)
    return Shop(root, state, landing)


def evaluations(result: dg.ExecuteInProcessResult, check: str, table: str = "orders") -> list[Any]:
    """The check's evaluations in this run, on `<layer>/shop/<table>` (any layer)."""
    return [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == check and e.asset_key.path[-1] == table
    ]


def evaluation(result: dg.ExecuteInProcessResult, check: str, table: str = "orders") -> Any:
    """The single evaluation of a one-window run."""
    (found,) = evaluations(result, check, table)
    return found


def meta(found: Any) -> dict[str, Any]:
    """An evaluation's metadata as plain values."""
    return {key: getattr(value, "value", value) for key, value in found.metadata.items()}


def materialized(result: dg.ExecuteInProcessResult, *path: str) -> list[Any]:
    return [
        e.step_materialization_data.materialization
        for e in result.all_events
        if e.is_step_materialization
        and e.step_materialization_data.materialization.asset_key.path == list(path)
    ]


def step_started(result: dg.ExecuteInProcessResult, step_key: str) -> bool:
    return any(e.is_step_start and e.step_key == step_key for e in result.all_events)


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """The error of every failed step (with its causes), by step key."""
    return {
        e.step_key: e.step_failure_data.error.to_string()
        for e in result.all_events
        if e.is_step_failure
    }
