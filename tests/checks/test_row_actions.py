"""What a failing row rule does to the rows: warn, drop, quarantine, fail; the quarantine ratio.

Covers, on one window of staging.orders: a warned row is kept; a dropped row is gone and
counted in rows_dropped; a quarantined row moves to `orders__quarantine` as text with
`_dq_rule` and `_dq_reason`; `on_fail: fail` fails the step with the rule and count and
publishes nothing (the window stays missing or keeps its previous version); the
`quarantine_ratio` check bounds the quarantined share. Blocking of the layers below is in
test_blocking.py; quarantine of unreadable landing rows (raw) is not touched.
"""

import dagster as dg
import pyarrow as pa
import pytest

from dataplat_dagster.resources.storage import MissingPartitionError
from tests.checks.helpers import (
    DAY1,
    ORDER_COLUMNS,
    evaluation,
    make_shop,
    materialized,
    meta,
    orders,
    shop_yaml,
    step_failures,
)

WARN = dg.AssetCheckSeverity.WARN
STATUS = {"accepted_values": {"column": "status", "values": ["paid", "shipped"]}}
QUANTITY = {"range": {"column": "quantity", "min": 1, "max": 20}}


def ids(table: pa.Table) -> list[int]:
    return sorted(table["order_id"].to_pylist())


def test_warn_keeps_the_row_and_fails_the_check(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{**STATUS, "severity": "warn"}]))
    shop.land(DAY1, orders(DAY1, row2={"status": "lost"}))
    result = shop.run(instance, [DAY1])
    assert result.success
    found = evaluation(result, "accepted_values_status")
    assert (found.passed, found.severity) == (False, WARN)
    assert meta(found)["action"] == "reported only (WARN)"
    assert ids(shop.read("staging", "orders", [DAY1])) == [201, 202, 203]


def test_drop_removes_the_row_and_counts_it(tmp_path, monkeypatch, instance) -> None:
    rules = [{"not_null": "code", "on_fail": "drop"}, {"count_audit": None}]
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    result = shop.run(instance, [DAY1])
    assert result.success
    assert ids(shop.read("staging", "orders", [DAY1])) == [201, 203]
    found = evaluation(result, "not_null_code")
    assert (found.passed, found.severity) == (False, WARN)  # drop defaults to warn
    assert meta(found)["failing_rows"] == 1
    (materialization,) = materialized(result, "staging", "shop", "orders")
    metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    assert (metadata["rows_in"], metadata["rows_out"], metadata["rows_dropped"]) == (3, 2, 1)
    assert metadata["rows_dropped_by_step"] == {"rule not_null_code": 1}
    audit = meta(evaluation(result, "count_audit"))  # dropped rows are expected to be missing
    assert (audit["removed"], audit["expected_count"], audit["target_count"]) == (1, 2, 2)
    assert evaluation(result, "count_audit").passed


def test_row_count_judges_the_rows_left_after_drops(tmp_path, monkeypatch, instance) -> None:
    rules = [{"not_null": "code", "on_fail": "drop"}, {"row_count": {"min": 3}}]
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    found = evaluation(shop.run(instance, [DAY1]), "row_count")
    assert not found.passed
    assert meta(found)["rows"] == 2


def test_quarantine_moves_the_row_as_text_with_rule_and_reason(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{**STATUS, "on_fail": "quarantine"}]))
    shop.land(DAY1, orders(DAY1, row2={"status": "lost"}))
    result = shop.run(instance, [DAY1])
    assert result.success
    assert ids(shop.read("staging", "orders", [DAY1])) == [201, 203]
    quarantine = shop.read("staging", "orders__quarantine", [DAY1])
    (row,) = quarantine.to_pylist()
    assert row["_dq_rule"] == "accepted_values_status"
    assert "status" in row["_dq_reason"] and "lost" in row["_dq_reason"]
    assert row["_dq_reason"].startswith("accepted_values_status:")
    assert (row["order_id"], row["quantity"], row["price"]) == ("202", "2", "9.5")
    assert row["ordered_at"].startswith("2024-01-02") and row["shipped_on"] == "2024-01-02"
    for name in ORDER_COLUMNS:
        kind = quarantine.schema.field(name).type
        assert pa.types.is_string(kind) or pa.types.is_large_string(kind), name
    (materialization,) = materialized(result, "staging", "shop", "orders")
    assert materialization.metadata["rows_quarantined"].value == 1
    assert len(materialized(result, "staging", "shop", "orders__quarantine")) == 1


def test_a_row_failing_two_quarantine_rules_is_quarantined_once(
    tmp_path, monkeypatch, instance
) -> None:
    rules = [
        {"not_null": "code", "on_fail": "quarantine"},
        {**QUANTITY, "on_fail": "quarantine"},
    ]
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY1, orders(DAY1, row2={"quantity": 50}, row3={"code": None, "quantity": 50}))
    result = shop.run(instance, [DAY1])
    assert ids(shop.read("staging", "orders", [DAY1])) == [201]
    rows = sorted(shop.read("staging", "orders__quarantine", [DAY1]).to_pylist(), key=str)
    by_id = {row["order_id"]: row for row in rows}
    assert len(rows) == 2 and set(by_id) == {"202", "203"}
    assert by_id["203"]["_dq_rule"] == "not_null_code"  # the first declared rule claims it
    assert "code" in by_id["203"]["_dq_reason"]
    assert by_id["202"]["_dq_rule"] == "range_quantity"
    assert "quantity=50" in by_id["202"]["_dq_reason"]
    assert meta(evaluation(result, "range_quantity"))["failing_rows"] == 2


P = pytest.param
REFERENTIAL = {"referential": {"column": "customer_id", "to": "staging.customers"}}


@pytest.mark.parametrize(
    ("rule", "changes", "check", "needles", "untrue"),
    [
        P({"not_null": "code"}, {"row2": {"code": None}}, "not_null_code", ["code is null"], [],
          id="not_null"),
        P(QUANTITY, {"row2": {"quantity": 50}}, "range_quantity",
          ["quantity=50", "outside [1, 20]"], [], id="range"),
        P({"range": {**QUANTITY["range"], "max": 5, "inclusive": False}},
          {"row2": {"quantity": 5}}, "range_quantity", ["quantity=5"], ["outside [1, 5]"],
          id="range_exclusive"),
        P({"regex": {"column": "code", "pattern": "^AB-"}}, {"row2": {"code": "XY-9"}},
          "regex_code", ["code=XY-9", "does not match ^AB-"], [], id="regex"),
        P(REFERENTIAL, {"row2": {"customer_id": 7}}, "referential_customer_id",
          ["customer_id=7", "staging.customers"], [], id="referential"),
        P({"unique": ["customer_id", "status"]}, {"row3": {"status": "shipped"}},
          "unique_customer_id_status", ["(customer_id, status)", "paid"], [],
          id="unique_two_columns"),
    ],
)  # fmt: skip
def test_quarantine_reason_names_the_column_and_value(
    tmp_path, monkeypatch, instance, rule, changes, check, needles, untrue
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{**rule, "on_fail": "quarantine"}]))
    shop.land(DAY1, orders(DAY1, **changes))
    assert shop.run(instance, [DAY1]).success
    (row,) = shop.read("staging", "orders__quarantine", [DAY1]).to_pylist()
    assert row["order_id"] == "202" and row["_dq_rule"] == check
    reason = row["_dq_reason"]
    assert reason.startswith(f"{check}: ")
    assert [n for n in needles if n not in reason] == [], reason
    assert [u for u in untrue if u in reason] == [], reason


@pytest.mark.parametrize(("max_ratio", "passed"), [(0.5, True), (0.2, False)])
def test_quarantine_ratio_check_bounds_the_share(
    tmp_path, monkeypatch, instance, max_ratio, passed
) -> None:
    rule = {**STATUS, "on_fail": "quarantine"}
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule], quarantine={"max_ratio": max_ratio}))
    shop.land(DAY1, orders(DAY1, row2={"status": "lost"}))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, "quarantine_ratio")
    assert (found.passed, found.severity) == (passed, dg.AssetCheckSeverity.ERROR)
    assert meta(found) == {
        "quarantined_rows": 1,
        "rows_in": 3,
        "ratio": 0.333333,
        "max_ratio": max_ratio,
        "action": "none"
        if passed
        else f"blocked: window {DAY1} is not served to the layers below (ERROR)",
    }
    assert result.success is passed
    assert shop.failed_checks("staging", "orders", DAY1) == (
        () if passed else ("quarantine_ratio",)
    )


def test_fail_stops_the_step_and_publishes_nothing(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{**QUANTITY, "on_fail": "fail"}]))
    shop.land(DAY1, orders(DAY1, row2={"quantity": 50}, row3={"quantity": 0}))
    result = shop.run(instance, [DAY1])
    assert not result.success
    message = step_failures(result)["staging__shop__orders"]
    assert "RuleFailure" in message
    assert "range_quantity" in message and "2 failing row(s)" in message and DAY1 in message
    assert not materialized(result, "staging", "shop", "orders")
    with pytest.raises(MissingPartitionError):
        shop.read("staging", "orders", [DAY1])


def test_fail_on_a_table_rule_reports_what_the_rule_found(tmp_path, monkeypatch, instance) -> None:
    """A failed row_count has no failing rows; its message must not claim it found none."""
    shop = make_shop(
        tmp_path, monkeypatch, shop_yaml([{"row_count": {"min": 4}, "on_fail": "fail"}])
    )
    shop.land(DAY1, orders(DAY1))
    result = shop.run(instance, [DAY1])
    message = step_failures(result)["staging__shop__orders"]
    assert "rule row_count (on_fail: fail)" in message and DAY1 in message
    with pytest.raises(MissingPartitionError):
        shop.read("staging", "orders", [DAY1])
    assert "found 0 failing row(s)" not in message


def test_fail_keeps_the_previous_version_of_the_window(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{**QUANTITY, "on_fail": "fail"}]))
    shop.land(DAY1, orders(DAY1))
    assert shop.run(instance, [DAY1]).success
    before = shop.storage().manifest(["staging", "shop", "orders"], DAY1)
    shop.land(DAY1, orders(DAY1, count=4, row4={"quantity": 50}))
    result = shop.run(instance, [DAY1])
    assert not result.success
    assert "range_quantity" in step_failures(result)["staging__shop__orders"]
    assert ids(shop.read("staging", "orders", [DAY1])) == [201, 202, 203]
    assert shop.storage().manifest(["staging", "shop", "orders"], DAY1) == before
    assert ids(shop.read("raw", "orders", [DAY1])) == [201, 202, 203, 204]  # raw has no rule
