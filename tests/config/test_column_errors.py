"""Column references checked when the declarations load, before any data is read.

Each case changes one thing in the valid BASE dataflow (tests/config/declarations.py): a
rule of every kind, a key, a step of every kind, a derive/filter/expression and a SQL body
naming a column (or table) that will not exist. build_plan must raise DeclarationError whose
str() holds `assets/shop/dataflow.yaml, line <N>: <field>: <reason>` and the columns that do
exist there. Also: what is not an error (lineage and window columns, columns below a Python
transform without a schema rule) and the columns derived for the demo and TPC-H dataflows.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from dataplat_dagster.config.sql_schema import _query_schema
from tests.config.declarations import BASE, FILE, TOTALS_SQL, check_case, failure, line_at, variant
from tests.conftest import PROJECT_ROOT, write_project


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPLAT_HOME", str(tmp_path / "state"))


P = pytest.param
DERIVE = "      - {derive: {currency: \"'${globals.currency}'\"}}\n"
STAGING_HAS = "staging.orders has: order_id (int64), amount (float64), ordered_at (timestamp)"
BEFORE_STEP = "staging.orders has before this step: order_id (int64), amount"
RAW = "  orders: {from: landing.orders}"


def rule(text: str) -> tuple[str, str]:
    """(old, new) adding `text` as the only rule of staging.orders."""
    return DERIVE, f"{DERIVE}    rules:\n      - {text}\n"


def step(text: str) -> tuple[str, str]:
    """(old, new) adding `text` as the last step of staging.orders (steps[3])."""
    return DERIVE, f"{DERIVE}      - {text}\n"


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "reasons"),
    [
        P(*rule("{not_null: amout}"), "staging.orders.rules[0].not_null", "{not_null: amout}",
          ["column amout does not exist (did you mean amount?)", STAGING_HAS, "_source_row",
           "currency (string)"], id="not_null"),
        P(*rule("{not_null: [order_id, carier]}"), "staging.orders.rules[0].not_null[1]",
          "{not_null: [", ["column carier does not exist", STAGING_HAS], id="not_null_list"),
        P(*rule("{unique: [order_id, ordr]}"), "staging.orders.rules[0].unique[1]", "{unique:",
          ["column ordr does not exist (did you mean order_id?)"], id="unique"),
        P(*rule("{accepted_values: {column: state, values: [a]}}"),
          "staging.orders.rules[0].accepted_values.column", "{accepted_values:",
          ["column state does not exist", STAGING_HAS], id="accepted_values"),
        P(*rule("{range: {column: amout, min: 0}}"), "staging.orders.rules[0].range.column",
          "{range:", ["column amout does not exist"], id="range"),
        P(*rule("{regex: {column: mail, pattern: x}}"), "staging.orders.rules[0].regex.column",
          "{regex:", ["column mail does not exist"], id="regex"),
        P(*rule("{referential: {column: customer, to: raw.orders, to_column: order_id}}"),
          "staging.orders.rules[0].referential.column", "{referential:",
          ["column customer does not exist"], id="referential_column"),
        P(*rule("{referential: {column: order_id, to: raw.orders, to_column: id}}"),
          "staging.orders.rules[0].referential.to_column", "{referential:",
          ["column id does not exist", "raw.orders has: order_id (int64), amount (string)"],
          id="referential_to_column"),
        P(*rule("{expression: {name: positive, sql: amout > 0}}"),
          "staging.orders.rules[0].expression.sql", "{expression:",
          ["cannot evaluate 'amout > 0'", 'Referenced column "amout" not found', STAGING_HAS],
          id="expression"),
        P(*rule("{schema: {columns: {amout: float64}}}"),
          "staging.orders.rules[0].schema.columns.amout", "{schema:",
          ["column amout does not exist"], id="schema"),
        P(*rule("{freshness: {column: orderd_at, max_age: 1d}}"),
          "staging.orders.rules[0].freshness.column", "{freshness:",
          ["column orderd_at does not exist (did you mean ordered_at?)"], id="freshness"),
        P(*rule("{great_expectations: {expectations: [{type: expect_column_values_to_not_be_null, "
                "kwargs: {column: amout}}]}}"),
          "staging.orders.rules[0].great_expectations.expectations[0].kwargs.column",
          "{great_expectations:", ["column amout does not exist"], id="great_expectations"),
        P(RAW, "  orders: {from: landing.orders, rules: [{not_null: carier}]}",
          "raw.orders.rules[0].not_null", "rules: [{not_null",
          ["column carier does not exist", "raw.orders has: order_id (int64), amount (string), "
           "ordered_at (timestamp), _source_row (int64), _load_ts (timestamp)"], id="raw_rule"),
        P(DERIVE, DERIVE + "    key: [order_idd]\n", "staging.orders.key[0]", "    key:",
          ["column order_idd does not exist (did you mean order_id?)"], id="key"),
        P("{cast: {amount: float64}}", "{cast: {amout: float64}}",
          "staging.orders.steps[1].cast.amout", "{cast:",
          ["column amout does not exist", "staging.orders has before this step: order_id (int64), "
           "amount (string)"], id="step_cast"),
        P(*step("{rename: {amout: total}}"), "staging.orders.steps[3].rename.amout", "{rename:",
          ["column amout does not exist", BEFORE_STEP, "currency (string)"], id="step_rename"),
        P(*step("{dedupe: [order_idd]}"), "staging.orders.steps[3].dedupe.keys[0]", "{dedupe:",
          ["column order_idd does not exist", BEFORE_STEP], id="step_dedupe_keys"),
        P(*step("{dedupe: {keys: [order_id], order_by: [loaded]}}"),
          "staging.orders.steps[3].dedupe.order_by[0]", "{dedupe:",
          ["column loaded does not exist"], id="step_dedupe_order_by"),
        P(*step("{parse_dates: [orderd_at]}"), "staging.orders.steps[3].parse_dates.columns.orderd_at",
          "{parse_dates:", ["column orderd_at does not exist"], id="step_parse_dates"),
        P(*step("{filter: \"amout > 0\"}"), "staging.orders.steps[3].filter", "{filter:",
          ["cannot evaluate 'amout > 0'", 'Referenced column "amout" not found', BEFORE_STEP],
          id="step_filter"),
        P(*step("{derive: {net: \"amount - fee\"}}"), "staging.orders.steps[3].derive.net",
          "{derive: {net", ["cannot evaluate 'amount - fee'", '"fee" not found'],
          id="step_derive"),
        P(*step("{derive: {loud: \"upper(amount)\"}}"), "staging.orders.steps[3].derive.loud",
          "{derive: {loud", ["cannot evaluate 'upper(amount)'", "upper(DOUBLE)"],
          id="step_derive_wrong_type"),
        P(*step("{select: [order_id, amout]}"), "staging.orders.steps[3].select[1]", "{select:",
          ["column amout does not exist", BEFORE_STEP], id="step_select"),
        P(*step("{drop_columns: [amout]}"), "staging.orders.steps[3].drop_columns[0]",
          "{drop_columns:", ["column amout does not exist"], id="step_drop_columns"),
        P(*step("{drop_null: [amout]}"), "staging.orders.steps[3].drop_null[0]", "{drop_null:",
          ["column amout does not exist"], id="step_drop_null"),
        P(*step("{fill_null: {amout: 0}}"), "staging.orders.steps[3].fill_null.amout",
          "{fill_null:", ["column amout does not exist"], id="step_fill_null"),
        P("      - trim\n", "      - {cast: {amount: float64}}\n      - {trim: [amount]}\n",
          "staging.orders.steps[1].trim.columns", "{trim:",
          ["trim works on text; amount is float64"], id="step_trim_not_text"),
        P(*step("{rename: {amount: total}}\n    rules: [{not_null: amount}]"),
          "staging.orders.rules[0].not_null", "rules: [", ["column amount does not exist",
           "total (float64)"], id="rule_after_rename"),
        P(*step("{select: [order_id]}\n    rules: [{range: {column: amount, min: 0}}]"),
          "staging.orders.rules[0].range.column", "rules: [",
          ["column amount does not exist; staging.orders has: order_id (int64)"],
          id="rule_after_select"),
        P("{{ common.orders }}", "{{ common.orders }} where amout > 0", "business.totals.sql",
          "    sql:", ["DuckDB refuses the SQL", 'Referenced column "amout" not found',
                      "common.orders has: order_id (int64), amount (float64)"],
          id="sql_unknown_column"),
        P("{{ common.orders }}", "{{ common.orders }} join customers using (order_id)",
          "business.totals.sql", "    sql:", ["Table with name customers does not exist"],
          id="sql_unknown_table"),
        P("select count(*)", "selec count(*)", "business.totals.sql", "    sql:",
          ["syntax error"], id="sql_syntax"),
        P(TOTALS_SQL, TOTALS_SQL + "\n    rules: [{not_null: total}]",
          "business.totals.rules[0].not_null", "rules: [",
          ["column total does not exist; business.totals has: n (int64)"], id="rule_on_sql_result"),
        P("%Y%m%d", "YYYYMMDD", "landing.orders.path", "    path:",
          ["date format 'YYYYMMDD' holds no strftime directive"], id="date_without_directive"),
    ],
)  # fmt: skip
def test_unknown_column_names_file_field_line_and_what_exists(
    tmp_path: Path, old: str, new: str, field: str, needle: str, reasons: list[str]
) -> None:
    check_case(tmp_path, old, new, field, needle, reasons)


def test_rule_after_an_expanded_not_null_list_points_at_its_own_line(tmp_path: Path) -> None:
    """`{not_null: [a, b]}` is two rules: the rule after it is still rules[1] in the file."""
    text = variant(
        DERIVE, DERIVE + "    rules:\n      - {not_null: [order_id, amount]}\n"
        "      - {range: {column: amout, min: 0}}\n"
    )  # fmt: skip
    message = failure(tmp_path, text)
    field = "staging.orders.rules[1].range.column"
    assert f"{FILE}, line {line_at(text, '{range:')}: {field}: column amout" in message, message


def test_expectation_of_a_suite_file_names_the_suite_and_the_expectation(tmp_path: Path) -> None:
    suite = '{"expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},'
    suite += ' {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amout"}}]}'
    text = variant(*rule("{great_expectations: {suite: orders.json}}"))
    message = failure(tmp_path, text, files={"assets/shop/orders.json": suite})
    field = "staging.orders.rules[0].great_expectations.suite"
    assert f"{FILE}, line {line_at(text, '{great_expectations:')}: {field}: " in message, message
    assert "expectation 1 (expect_column_values_to_not_be_null) of orders.json: " in message
    assert "column amout does not exist" in message


def test_output_path_without_directive_is_refused(tmp_path: Path) -> None:
    text = (
        BASE
        + 'output:\n  totals_csv: {from: business.totals, path: "totals_{date:YYYYMMDD}.csv"}\n'
    )
    message = failure(tmp_path, text)
    assert f"{FILE}, line {line_at(text, '  totals_csv:')}: output.totals_csv.path: " in message
    assert "holds no strftime directive" in message


def plan_of(tmp_path: Path, text: str):
    return build_plan(load_project(write_project(tmp_path, {"shop": text}), "local").dataflows)


def test_lineage_and_window_columns_may_be_named(tmp_path: Path) -> None:
    """Raw's lineage columns and a partitioned table's `_partition` are there to be used."""
    text = variant(
        *step("{filter: \"_partition >= '2024-01-01' and _source_row > 0\"}\n"
              "    rules: [{not_null: _source_file}, {unique: [order_id, _load_ts]}]")
    )  # fmt: skip
    columns = plan_of(tmp_path, text)[TableId("shop", "staging", "orders")].columns
    assert columns is not None and "_source_file" in columns.types
    assert "_partition" not in columns.types  # the window column is not written


def test_columns_below_a_python_transform_are_not_checked_without_a_schema_rule(
    tmp_path: Path,
) -> None:
    python = "from: common.orders\n    python: dataplat_dagster.transforms.retail.customer_value"
    text = variant(TOTALS_SQL, python + "\n    rules: [{not_null: anything}]")
    totals = plan_of(tmp_path, text)[TableId("shop", "business", "totals")]
    assert totals.columns is not None and not totals.columns.complete


def test_a_schema_rule_declares_the_columns_of_a_python_transform(tmp_path: Path) -> None:
    python = "from: common.orders\n    python: dataplat_dagster.transforms.retail.customer_value"
    rules = (
        "\n    rules: [{schema: {columns: {customer_id: int64, spend: float64}}}, {not_null: spnd}]"
    )
    text = variant(TOTALS_SQL, python + rules)
    message = failure(tmp_path, text)
    assert (
        "business.totals.rules[1].not_null: column spnd does not exist (did you mean spend?)"
        in (message)
    )
    assert "business.totals has: customer_id (int64), spend (float64)" in message


def test_sql_descriptions_are_cached_across_loads(tmp_path: Path) -> None:
    """Every run worker loads the declarations: the same SQL over the same inputs runs once."""
    plan_of(tmp_path / "first", BASE)
    hits = _query_schema.cache_info().hits
    plan_of(tmp_path / "second", BASE)
    assert _query_schema.cache_info().hits > hits


@pytest.mark.parametrize("project", ["demo", "tpch"])
def test_shipped_dataflows_derive_complete_columns(project: str, tmp_path: Path) -> None:
    root = PROJECT_ROOT if project == "demo" else write_project(tmp_path, {})
    if project == "tpch":
        tpch = (PROJECT_ROOT / "bench" / "dataflows" / "tpch" / "dataflow.yaml").read_text()
        write_project(tmp_path, {"tpch": tpch})
    plan = build_plan(load_project(root, "local").dataflows)
    unknown = [str(t.id) for t in plan if t.columns is None or not t.columns.complete]
    python_tables = [str(t.id) for t in plan if getattr(t.spec, "python", None)]
    assert unknown == python_tables


def test_a_schema_rule_that_only_reports_a_missing_column_loads(tmp_path: Path) -> None:
    """`missing_column: warn` (or ignore) asks for a report, not for the column to exist."""
    text = variant(*rule("{schema: {columns: {discount: float64}, missing_column: warn}}"))
    staging = plan_of(tmp_path, text)[TableId("shop", "staging", "orders")]
    assert staging.columns is not None and "discount" not in staging.columns.types


def test_sql_file_problem_names_the_file(tmp_path: Path) -> None:
    text = variant(TOTALS_SQL, "sql_file: totals.sql")
    sql = "select count(amout) as n from {{ common.orders }}"
    message = failure(tmp_path, text, files={"assets/shop/totals.sql": sql})
    assert f"{FILE}, line {line_at(text, 'sql_file:')}: business.totals.sql_file: " in message
    assert "DuckDB refuses the SQL in totals.sql: Binder Error" in message
