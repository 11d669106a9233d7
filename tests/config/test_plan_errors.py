"""Mistakes found by build_plan: table references, layer order, cycles, SQL, Python, paths.

Each case changes one thing in the valid BASE dataflow (tests/config/declarations.py);
the file loads, and `build_plan` raises DeclarationError whose str() holds the rendered
problem `assets/shop/dataflow.yaml, line <N>: <field path>: <reason>`. Mistakes found
while loading are in test_loader_errors.py. Nothing here reads data or runs Dagster.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from tests.config.declarations import FILE, TOTALS_SQL, check_case, failure, line_at, variant
from tests.conftest import write_project


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


P = pytest.param
CYCLE = "common:\n  orders:\n    from: common.other\n  other:\n    from: common.orders\n"
NO_PARTITIONING = 'partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01"}\n'


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "reasons"),
    [
        P("from: raw.orders", "from: raw.orderz", "staging.orders.from[0]", "from: raw.orderz",
          ["unknown table raw.orderz", "dataflow shop has: raw.orders"], id="unknown_table"),
        P("from: raw.orders", "from: business.totals", "staging.orders.from[0]",
          "from: business.totals",
          ["a staging table cannot read business.totals", "it may read raw, staging"],
          id="wrong_layer_order"),
        P("from: raw.orders", "from: other.raw.orders", "staging.orders.from[0]",
          "from: other.raw.orders", ["there is no dataflow 'other'"], id="unknown_dataflow"),
        P("common:\n  orders:\n    from: staging.orders\n", CYCLE, "common.orders",
          "  orders:\n    from: common.other",
          ["cycle", "shop.common.orders -> shop.common.other -> shop.common.orders"], id="cycle"),
        P("%Y%m%d", "%Y%m%d%Z", "landing.orders.path", "    path:",
          ["'%Z' is not supported in file names"], id="unsupported_strftime"),
        P("%Y%m%d", "%Y}_{date:%m", "landing.orders.path", "    path:",
          ["more than one {date} field"], id="two_date_fields"),
        P(NO_PARTITIONING, "", "landing.orders.path", "    path:",
          ["split by time", "no `partitioning`"], id="date_path_without_partitioning"),
        P(TOTALS_SQL, "from: common.orders\n    python: not_a_pkg.mod.fn", "business.totals.python",
          "python:", ["cannot import module not_a_pkg.mod"], id="python_not_importable"),
        P(TOTALS_SQL, "from: common.orders\n    python: dataplat_dagster.transforms.retail.nope",
          "business.totals.python", "python:", ["has no function nope"], id="python_no_function"),
        P(TOTALS_SQL, "sql_file: missing.sql", "business.totals.sql_file", "sql_file:",
          ["SQL file missing.sql not found"], id="sql_file_missing"),
        P("{{ common.orders }}", "{{ common.ordrs }}", "business.totals.sql", "    sql:",
          ["unknown table common.ordrs", "common.orders"], id="sql_placeholder_unknown"),
    ],
)  # fmt: skip
def test_plan_error_names_file_field_line_and_reason(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reasons: list[str]
) -> None:
    check_case(tmp_path, old, new, field, needle, reasons)


def test_sql_file_next_to_the_dataflow_is_read(tmp_path: Path) -> None:
    """The positive counterpart of sql_file_missing: the same declaration with the file present."""
    sql = "select * from {{ staging.orders }}"
    text = variant(TOTALS_SQL, "sql_file: totals.sql")
    root = write_project(tmp_path, {"shop": text}, files={"assets/shop/totals.sql": sql})
    plan = build_plan(load_project(root, "local").dataflows)
    totals = next(p for p in plan if p.id.name == "totals")
    assert totals.sql == sql
    assert [str(t) for t in totals.inputs] == ["shop.staging.orders"]


def test_sql_reading_a_later_layer_is_refused(tmp_path: Path) -> None:
    text = variant(TOTALS_SQL, "sql_file: totals.sql")
    text = variant(
        "    from: staging.orders\n", "    sql: select * from {{ business.totals }}\n", text
    )
    message = failure(tmp_path, text, files={"assets/shop/totals.sql": "select 1 as x"})
    assert f"{FILE}, line {line_at(text, '    sql: select')}: common.orders.sql: " in message
    assert "a common table cannot read business.totals" in message
