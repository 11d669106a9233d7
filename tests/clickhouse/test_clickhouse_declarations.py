"""Declarations of ClickHouse outputs: valid, and each mistake named with file, line and field.

Nothing here connects to ClickHouse or runs Dagster.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.loader import load_project
from tests.config.declarations import BASE, FILE, failure, line_at, variant
from tests.conftest import write_project

OUTPUT = """
output:
  totals_table:
    from: business.totals
    format: clickhouse
    database: warehouse
    table: totals
    columns: {n: int64}
    order_by: [n]
"""
P = pytest.param


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


def test_a_clickhouse_output_loads(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, {"shop": BASE + OUTPUT}), "local")
    (dataflow,) = project.dataflows
    spec = dataflow.spec.output["totals_table"]
    assert (spec.format, spec.database, spec.table, spec.order_by) == (
        "clickhouse",
        "warehouse",
        "totals",
        ["n"],
    )


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        P("    database: warehouse\n", "", "format clickhouse needs `database`", id="no_database"),
        P("order_by: [n]", "order_by: [m]", "order_by names undeclared columns: m",
          id="order_by_undeclared"),
        P("format: clickhouse\n    database: warehouse\n    table: totals\n"
          "    columns: {n: int64}\n", "format: parquet\n",
          "`order_by` only applies to format clickhouse, not parquet", id="order_by_on_a_file"),
        P("order_by: [n]", "on_schema_change: add_columns",
          "format clickhouse refuses a table unlike the output", id="add_columns"),
    ],
)  # fmt: skip
def test_mistakes_name_file_line_field_and_reason(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    text = variant(old, new, BASE + OUTPUT)
    message = failure(tmp_path, text)
    assert f"{FILE}, line {line_at(text, '  totals_table:')}: output.totals_table: " in message, (
        message
    )
    assert reason in message, message
