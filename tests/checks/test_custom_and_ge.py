"""Custom Python rules and Great Expectations suites on one window of staging.orders.

Covers the three shapes a custom function may return (a bool, a {'passed', 'metadata'} dict,
a boolean row mask; functions in tests/checks/custom_rules.py, referenced by dotted path)
and GE expectations written inline or in a suite JSON file next to dataflow.yaml: one check
per expectation named ge_<type without expect_>_<column>, GE's counts in the metadata, a
`meta.severity` overriding the rule's. Per-window verdicts in a range run are in
test_partitions.py; invalid declarations in test_declarations.py.
"""

import json

import dagster as dg
import pytest

from tests.checks.helpers import DAY1, evaluation, evaluations, make_shop, meta, orders, shop_yaml

P = pytest.param
FUNCTIONS = "tests.checks.custom_rules"


def custom(function: str, **params) -> dict:
    return {"custom": {"function": f"{FUNCTIONS}.{function}", "params": params}}


@pytest.mark.parametrize(
    ("rule", "changes", "check", "passed", "expected"),
    [
        P(custom("has_rows", minimum=3), {}, "custom_has_rows", True, {}, id="bool-pass"),
        P(custom("has_rows", minimum=4), {}, "custom_has_rows", False, {}, id="bool-fail"),
        P(custom("total_quantity", limit=6), {}, "custom_total_quantity", True,
          {"total_quantity": 6, "limit": 6}, id="dict-pass"),
        P(custom("total_quantity", limit=5), {}, "custom_total_quantity", False,
          {"total_quantity": 6, "limit": 5}, id="dict-fail"),
        P(custom("code_has_prefix"), {}, "custom_code_has_prefix", True,
          {"failing_rows": 0, "rows": 3}, id="mask-pass"),
        P(custom("code_has_prefix"), {"row2": {"code": "ZZ-1"}}, "custom_code_has_prefix", False,
          {"failing_rows": 1, "failing_ratio": 0.333333, "rows": 3}, id="mask-fail"),
        P(custom("code_has_prefix", prefix="ZZ"), {"row2": {"code": "ZZ-1"}},
          "custom_code_has_prefix", False, {"failing_rows": 2, "rows": 3}, id="mask-params"),
    ],
)  # fmt: skip
def test_custom_function_result_shapes(
    tmp_path, monkeypatch, instance, rule, changes, check, passed, expected
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1, **changes))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, check)
    assert (found.passed, found.partition) == (passed, DAY1)
    got = meta(found)
    assert {key: got[key] for key in expected} == expected
    assert result.success is passed


def test_custom_mask_with_drop_removes_the_rows_it_marks(tmp_path, monkeypatch, instance) -> None:
    rule = {**custom("code_has_prefix"), "on_fail": "drop"}
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1, row2={"code": "ZZ-1"}))
    result = shop.run(instance, [DAY1])
    assert result.success
    assert shop.read("staging", "orders", [DAY1])["order_id"].to_pylist() == [201, 203]
    assert evaluation(result, "custom_code_has_prefix").severity == dg.AssetCheckSeverity.WARN


INLINE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "quantity", "min_value": 1, "max_value": 5},
    },
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
]


def test_inline_expectations_give_one_check_each(tmp_path, monkeypatch, instance) -> None:
    rule = {"great_expectations": {"expectations": INLINE}}
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1, row2={"quantity": 9}))
    result = shop.run(instance, [DAY1])
    names = [e.check_name for e in result.get_asset_check_evaluations()]
    assert names == [
        "ge_column_values_to_not_be_null_code",
        "ge_column_values_to_be_between_quantity",
        "ge_table_row_count_to_be_between",
    ]
    not_null = evaluation(result, "ge_column_values_to_not_be_null_code")
    assert not_null.passed
    assert meta(not_null)["unexpected_count"] == 0
    between = evaluation(result, "ge_column_values_to_be_between_quantity")
    assert not between.passed and between.severity == dg.AssetCheckSeverity.ERROR
    got = meta(between)
    assert (got["unexpected_count"], got["element_count"]) == (1, 3)
    assert got["expectation"] == "expect_column_values_to_be_between"
    assert [str(v) for v in got["partial_unexpected_list"]] == ["9"]
    row_count = evaluation(result, "ge_table_row_count_to_be_between")
    assert row_count.passed and meta(row_count)["observed_value"] == 3
    assert not result.success  # the failed ERROR expectation fails the step


SUITE = {
    "name": "orders",
    "expectations": [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "status", "value_set": ["paid", "shipped"]},
            "meta": {"severity": "warn"},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
    ],
}


@pytest.mark.parametrize(
    ("changes", "in_set", "unique"),
    [P({}, True, True, id="clean"), P({"row2": {"status": "lost"}}, False, True, id="bad_status")],
)
def test_suite_file_next_to_the_dataflow(
    tmp_path, monkeypatch, instance, changes, in_set, unique
) -> None:
    rule = {"great_expectations": {"suite": "expectations/orders.json"}}
    files = {"assets/shop/expectations/orders.json": json.dumps(SUITE)}
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]), files=files)
    shop.land(DAY1, orders(DAY1, **changes))
    result = shop.run(instance, [DAY1])
    status = evaluation(result, "ge_column_values_to_be_in_set_status")
    assert (status.passed, status.severity) == (in_set, dg.AssetCheckSeverity.WARN)
    assert meta(status)["unexpected_count"] == (0 if in_set else 1)
    if not in_set:
        assert meta(status)["partial_unexpected_list"] == ["lost"]
    ids = evaluation(result, "ge_column_values_to_be_unique_order_id")
    assert (ids.passed, ids.severity) == (unique, dg.AssetCheckSeverity.ERROR)
    assert result.success  # a WARN expectation does not fail the step
    assert len(evaluations(result, "ge_column_values_to_be_in_set_status")) == 1
