"""A `contract:` in a dataflow: what it declares, and the load-time errors it can cause.

Nothing here connects to a database or runs Dagster: the declarations are loaded and planned.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.columns import LINEAGE_COLUMNS
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from dataplat_dagster.contracts.collect import contract_tables
from dataplat_dagster.contracts.declaration import contract_columns
from dataplat_dagster.types import declared_type
from tests.config.declarations import BASE, FILE, failure, line_at, variant
from tests.conftest import write_project
from tests.contracts.models import RawShopOrders

RAW = "  orders: {from: landing.orders}\n"
RAW_WITH_CONTRACT = (
    "  orders: {from: landing.orders, contract: tests.contracts.models.RawShopOrders}\n"
)
OUTPUT = """
output:
  totals_table:
    from: business.totals
    format: sql
    database: reporting
    table: contract_totals
    contract: tests.contracts.models.ShopTotals
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


def _plan(tmp_path: Path, text: str):
    return build_plan(load_project(write_project(tmp_path, {"shop": text}), "local").dataflows)


def test_the_mixin_adds_the_lineage_columns_raw_adds() -> None:
    columns = contract_columns(RawShopOrders)
    lineage = {name: declared_type(kind) for name, kind in LINEAGE_COLUMNS.items()}
    assert {name: kind for name, (kind, _) in list(columns.items())[:7]} == lineage
    assert all(nullable for _, nullable in list(columns.values())[:7])
    assert columns["order_id"] == ("int64", False)
    assert columns["ordered_at"] == ("timestamp", True)


def test_a_contract_on_a_checked_table_becomes_its_schema_rule(tmp_path: Path) -> None:
    plan = _plan(tmp_path, variant(RAW, RAW_WITH_CONTRACT))
    (orders,) = [p for p in plan if str(p.id) == "shop.raw.orders"]
    (rule,) = [r for r in orders.spec.rules if r.kind == "schema"]
    assert rule.params.columns == {n: k for n, (k, _) in contract_columns(RawShopOrders).items()}
    assert [c.table.name for c in contract_tables(plan)] == ["contract_raw_orders"]


def test_a_contract_on_a_sql_output_declares_its_columns(tmp_path: Path) -> None:
    plan = _plan(tmp_path, BASE + OUTPUT)
    (output,) = [p for p in plan if p.layer == "output"]
    assert {n: (c.type, c.nullable) for n, c in output.spec.columns.items()} == {
        "n": ("int64", False)
    }
    (entry,) = contract_tables(plan)
    # a partitioned output keeps its window key in the table it writes
    assert [c.name for c in entry.table.columns] == ["n", "_partition"]
    assert entry.declared_by == ["shop.output.totals_table"]


@pytest.mark.parametrize(
    ("dotted", "reason"),
    [
        ("tests.contracts.nowhere.Orders", "cannot import module tests.contracts.nowhere"),
        (
            "tests.contracts.models.Missing",
            "module tests.contracts.models has no class Missing (its SQLModel tables: RawShopOrders, ShopTotals)",
        ),
        (
            "tests.contracts.models.NotATable",
            "is a SQLModel but not a table: declare it with table=True",
        ),
        ("tests.contracts.models.NOT_A_CLASS", "is not a SQLModel class: it is 42"),
        (
            "tests.contracts.models.datetime",
            "is not a SQLModel class: it is <class 'datetime.datetime'>",
        ),
    ],
)
def test_a_contract_that_is_not_a_sqlmodel_table_fails_at_load(
    tmp_path: Path, dotted: str, reason: str
) -> None:
    text = variant(RAW, f"  orders: {{from: landing.orders, contract: {dotted}}}\n")
    message = failure(tmp_path, text)
    assert (
        f"{FILE}, line {line_at(text, 'orders: {from: landing.orders, contract')}: raw.orders.contract: "
        in message
    ), message
    assert reason in message, message


def test_an_output_contract_must_name_the_output_table(tmp_path: Path) -> None:
    text = BASE + OUTPUT.replace("table: contract_totals", "table: totals")
    message = failure(tmp_path, text)
    assert (
        "output.totals_table.contract: the contract's table is contract_totals, the output writes totals"
        in message
    )


def test_a_contract_and_a_schema_rule_do_not_mix(tmp_path: Path) -> None:
    text = variant(
        RAW,
        "  orders:\n    from: landing.orders\n    contract: tests.contracts.models.RawShopOrders\n"
        "    rules: [{schema: {columns: {order_id: int64}}}]\n",
    )
    assert "give a schema rule or a contract, not both" in failure(tmp_path, text)
