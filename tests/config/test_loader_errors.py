"""Mistakes found while loading a dataflow file: YAML, fields, values, globals, names.

Also the landing options of timestamps and windows: a column `timezone`, `outside_window`.

Each case changes one thing in the valid BASE dataflow (tests/config/declarations.py),
loads and plans it, and expects DeclarationError whose str() holds the rendered problem
`assets/shop/dataflow.yaml, line <N>: <field path>: <reason>`, N computed from the variant
text. Cross-reference mistakes found by build_plan are in test_plan_errors.py; valid
loading is in test_loader.py. Nothing here reads data or runs Dagster.
"""

from pathlib import Path

import pytest

from tests.config.declarations import BASE, FILE, check_case, failure, load_and_plan, variant
from tests.conftest import write_project


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


def test_base_is_valid(tmp_path: Path) -> None:
    assert load_and_plan(write_project(tmp_path, {"shop": BASE})) == [
        "shop.business.totals",
        "shop.common.orders",
        "shop.landing.orders",
        "shop.raw.orders",
        "shop.staging.orders",
    ]


P = pytest.param
OWNED = "  orders: {from: landing.orders, owners: [bob]}"
PARTITION_COLUMN = "    format: csv\n    partition_column: "


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "reasons"),
    [
        P("    schema:\n", "    schem:\n", "landing.orders.schem", "    schem:", ["unknown field"],
          id="unknown_field"),
        P("format: csv", "format: xml", "landing.orders.format", "format: xml", ["'xml'", "'csv'"],
          id="wrong_enum"),
        P("- trim", "- trimm", "staging.orders.steps[0]", "- trimm", ["unknown step", "'trimm'"],
          id="unknown_step"),
        P("amount: float64", "amount: int65", "staging.orders.steps[1].cast.amount", "{cast:",
          ["'int65'", "'float64'"], id="bad_cast_type"),
        P("globals.currency", "globals.nope", "staging.orders.steps[2].derive.currency", "{derive:",
          ["${globals.nope} is not defined", "currency"], id="undefined_global"),
        P("    format: csv\n", "    format: csv: x\n", "<top>", "    format: csv: x",
          ["not valid YAML", "mapping values are not allowed"], id="invalid_yaml"),
        P("timezone: UTC", "timezone: Mars/Olympus", "partitioning.timezone", "partitioning:",
          ["unknown timezone", "IANA name", "'Mars/Olympus'"], id="bad_timezone"),
        P("granularity: daily,", "granularity: daily, cron: '0 0 * * *',", "partitioning",
          "partitioning:", ["exactly one of granularity or cron"], id="granularity_and_cron"),
        P("granularity: daily,", "granularity: fortnightly,", "partitioning.granularity",
          "partitioning:", ["'fortnightly'"], id="bad_granularity"),
        P("    format: csv\n", PARTITION_COLUMN + "nope\n", "landing.orders", "  orders:\n    path",
          ["partition_column 'nope' is not in the schema"], id="partition_column_unknown"),
        P("    format: csv\n", PARTITION_COLUMN + "amount\n", "landing.orders", "  orders:\n    path",
          ["partition_column 'amount'", "date or timestamp", "string"],
          id="partition_column_not_date"),
        P("    format: csv\n", "    format: csv\n    outside_window: route\n", "landing.orders",
          "  orders:\n    path", ["outside_window applies to a source with {date} in its path "
          "and a partition_column"], id="outside_window_without_partition_column"),
        P("    format: csv\n", PARTITION_COLUMN + "ordered_at\n    outside_window: skip\n",
          "landing.orders.outside_window", "    outside_window", ["'skip'", "'quarantine'", "'route'"],
          id="outside_window_unknown_policy"),
        P("      order_id: int64", "      order_id: {type: int64, timezone: UTC}",
          "landing.orders.schema.order_id", "      order_id:",
          ["timezone applies to timestamp and timestamp_ntz, not int64"], id="timezone_on_int"),
        P("      ordered_at: timestamp", "      ordered_at: {type: timestamp, timezone: Mars/Olympus}",
          "landing.orders.schema.ordered_at.timezone", "      ordered_at:",
          ["unknown timezone", "'Mars/Olympus'"], id="column_timezone_unknown"),
        P("  orders: {from: landing.orders}", OWNED, "raw.orders.owners", OWNED,
          ["owner 'bob' must be an email address or team:<name>"], id="invalid_table_owner"),
        P("    from: staging.orders\n", "    from: staging.orders\n    params: {top: 3}\n",
          "common.orders", "  orders:\n    from: staging.orders\n    params",
          ["params are only passed to a python transform"], id="params_without_python"),
        P("  totals:", "  to__tals:", "business.to__tals", "  to__tals:", ["'__' is reserved"],
          id="double_underscore_name"),
        P("  totals:", "  Totals:", "business.Totals", "  Totals:", ["lower_snake_case", "'Totals'"],
          id="upper_case_table_name"),
        P("globals:", "defaults:\n  stagin: {owners: [team:x]}\nglobals:", "defaults.stagin",
          "  stagin:", ["expected `all` or a layer"], id="defaults_unknown_layer"),
        P("globals:", "defaults:\n  raw: {format: csv}\nglobals:", "defaults.raw.format",
          "  raw: {format", ["not a parameter of raw tables"], id="defaults_unknown_parameter"),
    ],
)  # fmt: skip
def test_load_error_names_file_field_line_and_reason(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reasons: list[str]
) -> None:
    check_case(tmp_path, old, new, field, needle, reasons)


def test_invalid_dataflow_owner_points_at_the_dataflow_owners(tmp_path: Path) -> None:
    """A bad dataflow-level `owners` entry is reported at the line where it is written."""
    message = failure(tmp_path, variant("owners: [team:shop]", "owners: [not an owner]"))
    assert f"{FILE}, line 2: owners" in message, message
    assert "owner 'not an owner' must be an email address or team:<name>" in message


def test_several_problems_of_one_file_are_reported_together(tmp_path: Path) -> None:
    text = variant("format: csv", "format: xml", variant("- trim", "- trimm"))
    message = failure(tmp_path, text)
    assert message.startswith(f"invalid declaration in {FILE}:")
    assert "landing.orders.format" in message and "staging.orders.steps[0]" in message
