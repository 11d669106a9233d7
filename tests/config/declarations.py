"""Shared by the declaration-error test modules: a small valid dataflow and helpers.

BASE loads and plans cleanly (checked in test_loader_errors.py); each error test changes
one thing in it and expects the rendered problem `<file>, line <N>: <field>: <reason>`.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from tests.conftest import write_project

FILE = "assets/shop/dataflow.yaml"

BASE = """\
dataflow: shop
owners: [team:shop]
partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01"}
globals:
  currency: EUR

landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    format: csv
    schema:
      order_id: int64
      amount: string
      ordered_at: timestamp

raw:
  orders: {from: landing.orders}

staging:
  orders:
    from: raw.orders
    steps:
      - trim
      - {cast: {amount: float64}}
      - {derive: {currency: "'${globals.currency}'"}}

common:
  orders:
    from: staging.orders

business:
  totals:
    sql: "select count(*) as n from {{ common.orders }}"
"""

TOTALS_SQL = 'sql: "select count(*) as n from {{ common.orders }}"'


def variant(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the text"
    return text.replace(old, new)


def line_at(text: str, needle: str) -> int:
    """1-based line where `needle` (possibly spanning lines) starts."""
    assert text.count(needle) == 1, f"{needle!r} must occur once in the text"
    return text[: text.index(needle)].count("\n") + 1


def load_and_plan(root: Path) -> list[str]:
    plan = build_plan(load_project(root, "local").dataflows)
    return sorted(str(table_id) for table_id in plan.tables)


def failure(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> str:
    """str() of the DeclarationError raised by loading and planning `text` as assets/shop."""
    root = write_project(tmp_path, {"shop": text}, files=files)
    with pytest.raises(DeclarationError) as caught:
        load_and_plan(root)
    return str(caught.value)


def check_case(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reasons: list[str]
) -> None:
    """The variant fails with `field` at the line of `needle` and every reason fragment."""
    text = variant(old, new)
    message = failure(tmp_path, text)
    assert f"{FILE}, line {line_at(text, needle)}: {field}: " in message, message
    for reason in reasons:
        assert reason in message, message
