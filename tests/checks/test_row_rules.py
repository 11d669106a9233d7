"""Row rules on staging.orders, each passing and failing, judged on one window.

Covers not_null, unique (one and several columns), accepted_values, range (inclusive and
exclusive bounds, numbers, timestamps and dates), regex, referential (to another declared
table) and expression (with min_ratio): the verdict and its metadata (failing_rows,
failing_ratio, rows, sample values, threshold). Rows are only flagged here (on_fail: warn);
what drop, quarantine and fail do is in test_row_actions.py. Custom and Great Expectations
rules are in test_custom_and_ge.py.
"""

import dagster as dg
import pytest

from tests.checks.helpers import DAY1, evaluation, make_shop, meta, orders, shop_yaml

P = pytest.param
ONE_THIRD = 0.333333
CLEAN = {"failing_rows": 0, "failing_ratio": 0.0, "rows": 3, "sample": []}


def bad(sample: list[dict], failing: int = 1) -> dict:
    return {
        "failing_rows": failing,
        "failing_ratio": round(failing / 3, 6),
        "rows": 3,
        "sample": sample,
        "threshold": "no failing rows",
    }


NOT_NULL = {"not_null": "code"}
UNIQUE = {"unique": ["order_id"]}
UNIQUE_2 = {"unique": ["customer_id", "status"]}
ACCEPTED = {"accepted_values": {"column": "status", "values": ["paid", "shipped"]}}
QTY = {"column": "quantity", "min": 1, "max": 5}
SHIPPED = {"column": "shipped_on", "min": "2024-01-02", "max": "2024-01-03"}
ORDERED = {"column": "ordered_at", "min": "2024-01-02T09:00:00", "max": "2024-01-02T12:00:00"}
REGEX = {"regex": {"column": "code", "pattern": r"^AB-\d{3}$"}}
REFERENTIAL = {"referential": {"column": "customer_id", "to": "staging.customers"}}
POSITIVE = {"name": "positive_total", "sql": "quantity * price > 0"}


@pytest.mark.parametrize(
    ("rule", "changes", "check", "passed", "expected"),
    [
        P(NOT_NULL, {}, "not_null_code", True, CLEAN, id="not_null-pass"),
        P(NOT_NULL, {"row2": {"code": None}}, "not_null_code", False, bad([{"code": None}]),
          id="not_null-fail"),
        P(UNIQUE, {}, "unique_order_id", True, CLEAN, id="unique-pass"),
        P(UNIQUE, {"row3": {"order_id": 201}}, "unique_order_id", False,
          bad([{"order_id": 201}]), id="unique-fail"),
        P(UNIQUE_2, {"row2": {"status": "shipped"}, "row3": {"customer_id": 2}},
          "unique_customer_id_status", True, CLEAN, id="unique_columns-pass"),
        P(UNIQUE_2, {"row2": {"status": "shipped"}}, "unique_customer_id_status", False,
          bad([{"customer_id": 1, "status": "paid"}]), id="unique_columns-fail"),
        P(ACCEPTED, {"row2": {"status": "shipped"}}, "accepted_values_status", True, CLEAN,
          id="accepted_values-pass"),
        P(ACCEPTED, {"row2": {"status": "lost"}}, "accepted_values_status", False,
          bad([{"status": "lost"}]), id="accepted_values-fail"),
        P({"range": QTY}, {"row2": {"quantity": 5}, "row3": {"quantity": 1}}, "range_quantity",
          True, CLEAN, id="range_inclusive-bounds_pass"),
        P({"range": QTY}, {"row2": {"quantity": 6}}, "range_quantity", False,
          bad([{"quantity": 6}]), id="range_inclusive-above_fails"),
        P({"range": {**QTY, "inclusive": False}}, {"row2": {"quantity": 5}}, "range_quantity",
          False, bad([{"quantity": 5}]), id="range_exclusive-bound_fails"),
        P({"range": {"column": "price", "min": 0, "inclusive": False}}, {}, "range_price", True,
          CLEAN, id="range_exclusive_min_only-pass"),
        P({"range": SHIPPED}, {"row2": {"shipped_on": "2024-01-03"}}, "range_shipped_on", True,
          CLEAN, id="range_date-pass"),
        P({"range": SHIPPED}, {"row2": {"shipped_on": "2024-01-05"}}, "range_shipped_on", False,
          bad([{"shipped_on": "2024-01-05"}]), id="range_date-fail"),
        P({"range": {**SHIPPED, "inclusive": False}}, {}, "range_shipped_on", False,
          bad([{"shipped_on": "2024-01-02"}] * 3, failing=3), id="range_date_exclusive-fail"),
        P({"range": ORDERED}, {"row2": {"ordered_at": "2024-01-02T12:00:00"}},
          "range_ordered_at", True, CLEAN, id="range_timestamp-pass"),
        P({"range": {**ORDERED, "inclusive": False}},
          {"row2": {"ordered_at": "2024-01-02T12:00:00"}}, "range_ordered_at", False,
          bad([{"ordered_at": "2024-01-02 12:00:00+00:00"}]), id="range_timestamp_exclusive-fail"),
        P(REGEX, {}, "regex_code", True, CLEAN, id="regex-pass"),
        P(REGEX, {"row2": {"code": "XY-9"}}, "regex_code", False, bad([{"code": "XY-9"}]),
          id="regex-fail"),
        P(REFERENTIAL, {"row2": {"customer_id": 2}}, "referential_customer_id", True, CLEAN,
          id="referential-pass"),
        P(REFERENTIAL, {"row2": {"customer_id": 7}}, "referential_customer_id", False,
          bad([{"customer_id": 7}]), id="referential-fail"),
        P({"expression": POSITIVE}, {}, "expression_positive_total", True, CLEAN,
          id="expression-pass"),
        P({"expression": POSITIVE}, {"row2": {"quantity": 0}}, "expression_positive_total",
          False, {"failing_rows": 1, "failing_ratio": ONE_THIRD, "rows": 3}, id="expression-fail"),
        P({"expression": {**POSITIVE, "min_ratio": 0.6}}, {"row2": {"quantity": 0}},
          "expression_positive_total", True,
          {"failing_rows": 1, "failing_ratio": ONE_THIRD, "threshold": "pass ratio >= 0.6"},
          id="expression_min_ratio-pass"),
        P({"expression": {**POSITIVE, "min_ratio": 0.9}}, {"row2": {"quantity": 0}},
          "expression_positive_total", False,
          {"failing_rows": 1, "failing_ratio": ONE_THIRD, "threshold": "pass ratio >= 0.9"},
          id="expression_min_ratio-fail"),
    ],
)  # fmt: skip
def test_row_rule_verdict_and_metadata(
    tmp_path, monkeypatch, instance, rule, changes, check, passed, expected
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1, **changes))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, check)
    assert found.passed is passed
    assert found.partition == DAY1
    assert found.severity == dg.AssetCheckSeverity.ERROR  # on_fail: warn defaults to error
    got = meta(found)
    # samples also name the row's lineage (file, line); compared apart below
    got["sample"] = [
        {k: v for k, v in row.items() if not k.startswith("_")} for row in got["sample"]
    ]
    assert {key: got[key] for key in expected} == expected
    blocked = f"blocked: window {DAY1} is not served to the layers below (ERROR)"
    assert got["action"] == ("none" if passed else blocked)
    assert result.success is passed  # a failed ERROR check fails the step


def test_a_failing_sample_finds_the_row_by_key_file_and_line(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}], key=["order_id"]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    (row,) = meta(evaluation(shop.run(instance, [DAY1]), "not_null_code"))["sample"]
    assert row == {
        "order_id": 202,
        "code": None,
        "_source_file": f"shop/orders_{DAY1.replace('-', '')}.csv",
        "_source_row": 3,  # the header is line 1
    }
    assert next(iter(row)) == "order_id"  # the key first


def test_not_null_on_several_columns_makes_one_check_per_column(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": ["code", "status"]}]))
    shop.land(DAY1, orders(DAY1, row1={"status": None}))
    result = shop.run(instance, [DAY1])
    assert evaluation(result, "not_null_code").passed
    failed = evaluation(result, "not_null_status")
    assert not failed.passed
    assert [{"status": row["status"]} for row in meta(failed)["sample"]] == [{"status": None}]


def test_expression_sample_shows_the_failing_rows_values(tmp_path, monkeypatch, instance) -> None:
    """A sample names what failed: for an expression, the failing row's values must be in it."""
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"expression": POSITIVE}]))
    shop.land(DAY1, orders(DAY1, row2={"quantity": 0}))
    sample = meta(evaluation(shop.run(instance, [DAY1]), "expression_positive_total"))["sample"]
    assert len(sample) == 1
    assert sample[0], "the sample entry of the failing row holds no values"
    assert sample[0].get("quantity") == 0 or sample[0].get("order_id") == 202
