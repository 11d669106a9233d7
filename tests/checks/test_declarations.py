"""Invalid rule declarations are refused before anything runs, with file, field and reason.

Covers mistakes in `rules:` found by loading (pydantic models) or planning (references,
imports, suite files): each case changes one rule of the `shop` dataflow and expects a
DeclarationError from load_project + build_plan naming assets/shop/dataflow.yaml, the field
path (for example `staging.orders.rules[0].range`) and the reason. Nothing is materialized;
the general declaration errors (tables, steps, partitioning) are in tests/config.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import build_plan
from tests.checks.helpers import shop_yaml
from tests.conftest import write_project

FILE = "assets/shop/dataflow.yaml"
P = pytest.param
JOINED = """\
  joined:
    sql: "select o.* from {{ raw.orders }} o join {{ raw.customers }} c using (customer_id)"
    rules: [{"count_audit": null}]
"""


def plan(tmp_path: Path, text: str):
    root = write_project(tmp_path / "project", {"shop": text})
    return build_plan(load_project(root, "local").dataflows)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DATAPLAT_ENV", "local")


def ge(*expectations: dict) -> dict:
    return {"great_expectations": {"expectations": list(expectations)}}


@pytest.mark.parametrize(
    ("text", "field", "reasons"),
    [
        P(shop_yaml([{"not_empty": "code"}]), "staging.orders.rules[0]",
          ["unknown rule", "not_null", "great_expectations"], id="unknown_rule_kind"),
        P(shop_yaml([{"row_count": {"min": 1}, "on_fail": "drop"}]),
          "staging.orders.rules[0].row_count",
          ["judges the whole table", "warn or fail", "not drop"], id="drop_on_table_rule"),
        P(shop_yaml([{"range": {"column": "quantity"}}]), "staging.orders.rules[0].range",
          ["give min, max or both"], id="range_without_bounds"),
        P(shop_yaml([{"regex": {"column": "code", "pattern": "([A-Z"}}]),
          "staging.orders.rules[0].regex.pattern", ["not a valid regular expression", "([A-Z"],
          id="invalid_regex"),
        P(shop_yaml([{"referential": {"column": "customer_id", "to": "staging.clients"}}]),
          "staging.orders.rules[0].referential.to",
          ["unknown table staging.clients", "staging.customers"], id="referential_unknown_table"),
        P(shop_yaml(staging_extra=JOINED), "staging.joined.rules[0].count_audit",
          ["several inputs", "source"], id="count_audit_without_source_on_two_inputs"),
        P(shop_yaml([{"not_null": "code"}, {"not_null": "code", "severity": "warn"}]),
          "staging.orders", ["two rules make the check 'not_null_code'", "give one a `name`"],
          id="duplicate_check_names"),
        P(shop_yaml([ge({"type": "expect_column_to_be_nice", "kwargs": {"column": "code"}})]),
          "staging.orders.rules[0].great_expectations",
          ["expect_column_to_be_nice is not a Great Expectations core expectation"],
          id="unknown_expectation"),
        P(shop_yaml([{"great_expectations": {"suite": "expectations/missing.json"}}]),
          "staging.orders.rules[0].great_expectations.suite",
          ["suite file expectations/missing.json not found"], id="suite_file_missing"),
        P(shop_yaml([{"custom": {"function": "tests.checks.no_such_module.check"}}]),
          "staging.orders.rules[0].custom.function",
          ["cannot import module tests.checks.no_such_module"], id="custom_module_missing"),
        P(shop_yaml([{"custom": {"function": "tests.checks.custom_rules.no_such_function"}}]),
          "staging.orders.rules[0].custom.function",
          ["module tests.checks.custom_rules has no function no_such_function"],
          id="custom_function_missing"),
        P(shop_yaml([{"expression": {"name": "x", "sql": "quantity > 0", "min_ratio": 1.5}}]),
          "staging.orders.rules[0].expression.min_ratio", ["less than or equal to 1", "1.5"],
          id="expression_min_ratio_above_one"),
    ],
)  # fmt: skip
def test_invalid_rule_names_file_field_and_reason(
    tmp_path: Path, text: str, field: str, reasons: list[str]
) -> None:
    with pytest.raises(DeclarationError) as caught:
        plan(tmp_path, text)
    error = caught.value
    assert str(error.file) == FILE
    (problem,) = error.problems
    assert problem.field == field
    for reason in reasons:
        assert reason in problem.reason
    assert f"{FILE}, line " in str(error) and f"{field}: " in str(error)


BLOCK_RULES = """\
    rules:
      - not_null: code
      - range: {column: quantity, min: 1}
        %s
"""


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        P("severity: fatal", "severity", "'warn' or 'error' (got 'fatal')", id="severity"),
        P("on_fail: explode", "on_fail", "'warn', 'drop', 'quarantine' or 'fail'", id="on_fail"),
        P("name: Bad-Name", "name", "a check name is lower_snake_case", id="name"),
    ],
)
def test_bad_common_field_of_a_rule_names_that_field_and_its_line(
    tmp_path: Path, line: str, field: str, reason: str
) -> None:
    """`severity`, `on_fail` and `name` sit beside the rule kind: rules[1].severity, not under it."""
    text = shop_yaml([{"not_null": "code"}]).replace(
        '    rules: [{"not_null": "code"}]\n', BLOCK_RULES % line
    )
    with pytest.raises(DeclarationError) as caught:
        plan(tmp_path, text)
    (problem,) = caught.value.problems
    assert reason in problem.reason
    expected_line = text.splitlines().index(f"        {line}") + 1
    assert (problem.field, problem.line) == (f"staging.orders.rules[1].{field}", expected_line)


def test_the_valid_counterparts_load(tmp_path: Path) -> None:
    """The same declarations, corrected, plan cleanly (so the errors above are about the mistake)."""
    rules = [
        {"not_null": "code"},
        {"not_null": "code", "severity": "warn", "name": "code_present"},
        {"row_count": {"min": 1}, "on_fail": "fail"},
        {"range": {"column": "quantity", "min": 1}},
        {"regex": {"column": "code", "pattern": "^[A-Z]+"}},
        {"referential": {"column": "customer_id", "to": "staging.customers"}},
        {"expression": {"name": "x", "sql": "quantity > 0", "min_ratio": 1}},
        {"custom": {"function": "tests.checks.custom_rules.has_rows"}},
        ge({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code"}}),
    ]
    joined = JOINED.replace('{"count_audit": null}', '{"count_audit": {"source": "raw.orders"}}')
    tables = plan(tmp_path, shop_yaml(rules, staging_extra=joined))
    orders = next(t for t in tables if t.id.layer == "staging" and t.id.name == "orders")
    assert [rule.check_name for rule in orders.spec.rules] == [
        "not_null_code",
        "code_present",
        "row_count",
        "range_quantity",
        "regex_code",
        "referential_customer_id",
        "expression_x",
        "custom_has_rows",
        "great_expectations",
    ]
    assert orders.expectations[8][0]["type"] == "expect_column_values_to_not_be_null"
