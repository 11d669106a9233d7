"""Checks are judged window by window: a range run reports one evaluation per check and window.

Covers a one-run range over three daily windows where only the middle window is bad: every
check (row rules, row_count, count_audit, Great Expectations, custom table verdicts) gives
three evaluations with their partition set, and only the middle one fails; only the middle
window's manifest records failed_checks; a single-window run gives one evaluation carrying
its partition. What the failures block is in test_blocking.py.
"""

import dagster as dg
import pytest

from tests.checks.helpers import DAY1, DAY2, DAY3, evaluations, make_shop, meta, orders, shop_yaml

WINDOWS = [DAY1, DAY2, DAY3]
P = pytest.param


def by_window(result: dg.ExecuteInProcessResult, check: str) -> dict[str, object]:
    found = evaluations(result, check)
    assert len(found) == len(WINDOWS), [e.partition for e in found]
    return {e.partition: e for e in found}


def run_range(tmp_path, monkeypatch, instance, rules, middle_changes, middle_count=3):
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY1, orders(DAY1))
    shop.land(DAY2, orders(DAY2, middle_count, **middle_changes))
    shop.land(DAY3, orders(DAY3))
    return shop, shop.run(instance, WINDOWS)


def test_range_run_reports_each_window_and_only_the_bad_one_fails(
    tmp_path, monkeypatch, instance
) -> None:
    rules = [{"not_null": "code"}, {"range": {"column": "quantity", "max": 5}, "severity": "warn"}]
    changes = {"row2": {"code": None, "quantity": 9}}
    shop, result = run_range(tmp_path, monkeypatch, instance, rules, changes)
    assert len(instance.get_runs()) == 1
    for check in ("not_null_code", "range_quantity"):
        verdicts = by_window(result, check)
        assert sorted(verdicts) == WINDOWS
        assert [verdicts[w].passed for w in WINDOWS] == [True, False, True], check
        assert [meta(verdicts[w])["failing_rows"] for w in WINDOWS] == [0, 1, 0]
        assert [meta(verdicts[w])["rows"] for w in WINDOWS] == [3, 3, 3]
    assert meta(by_window(result, "range_quantity")[DAY2])["sample"] == [
        {"quantity": 9, "_source_file": "shop/orders_20240103.csv", "_source_row": 3}
    ]
    assert by_window(result, "range_quantity")[DAY2].severity == dg.AssetCheckSeverity.WARN
    assert [shop.failed_checks("staging", "orders", w) for w in WINDOWS] == [
        (),
        ("not_null_code",),
        (),
    ]


@pytest.mark.parametrize(
    ("rule", "check", "changes", "count", "field", "values"),
    [
        P({"row_count": {"min": 3}}, "row_count", {}, 2, "rows", [3, 2, 3], id="row_count"),
        P({"count_audit": {"tolerance_pct": 0}}, "count_audit", {}, 2, "source_count", [3, 2, 3],
          id="count_audit_passes_everywhere"),
        P({"great_expectations": {"expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code"}}]}},
          "ge_column_values_to_not_be_null_code", {"row2": {"code": None}}, 3,
          "unexpected_count", [0, 1, 0], id="great_expectations"),
        P({"custom": {"function": "tests.checks.custom_rules.total_quantity",
                      "params": {"limit": 10}}},
          "custom_total_quantity", {"row2": {"quantity": 20}}, 3, "total_quantity", [6, 24, 6],
          id="custom_table_verdict"),
    ],
)  # fmt: skip
def test_table_level_checks_are_judged_per_window(
    tmp_path, monkeypatch, instance, rule, check, changes, count, field, values
) -> None:
    """A window's verdict must not depend on which other windows share the run."""
    _, result = run_range(tmp_path, monkeypatch, instance, [rule], changes, count)
    verdicts = by_window(result, check)
    assert [meta(verdicts[w])[field] for w in WINDOWS] == values
    expected = [True, True, True] if check == "count_audit" else [True, False, True]
    assert [verdicts[w].passed for w in WINDOWS] == expected


def test_single_window_run_reports_one_evaluation_with_its_partition(
    tmp_path, monkeypatch, instance
) -> None:
    rules = [{"not_null": "code"}, {"row_count": {"min": 1}}]
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY2, orders(DAY2, row1={"code": None}))
    result = shop.run(instance, [DAY2])
    found = result.get_asset_check_evaluations()
    assert sorted((e.check_name, e.partition, e.passed) for e in found) == [
        ("not_null_code", DAY2, False),
        ("row_count", DAY2, True),
    ]
    assert shop.failed_checks("staging", "orders", DAY2) == ("not_null_code",)
