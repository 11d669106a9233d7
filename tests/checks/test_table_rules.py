"""Table rules on one window: row_count, schema drift, freshness by a column, count audits.

Covers each rule passing and failing with its metadata (rows/min/max; new, missing and
changed columns with the drift's severity; newest/bound/max_age; source_count,
target_count, difference and tolerance_pct), including an audit that catches a SQL body
duplicating rows through a join. Row rules, actions and blocking are in other modules;
freshness without a column (judged against the wall clock) is not touched.
"""

import json

import dagster as dg
import pytest

from tests.checks.helpers import (
    CUSTOMERS,
    DAY1,
    STAGING_TYPES,
    evaluation,
    make_shop,
    meta,
    orders,
    shop_yaml,
)

P = pytest.param
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
WITHOUT_CODE = {k: v for k, v in STAGING_TYPES.items() if k != "code"}
JOINED = """\
  joined:
    sql: "select o.* from {{ raw.orders }} o join {{ raw.customers }} c using (customer_id)"
    rules: [{"count_audit": {"source": "raw.orders", "tolerance_pct": %s}}]
"""


@pytest.mark.parametrize(
    ("rule", "check", "passed", "expected"),
    [
        P({"row_count": {"min": 1, "max": 3}}, "row_count", True,
          {"rows": 3, "min": 1, "max": 3}, id="row_count-pass"),
        P({"row_count": {"min": 4}}, "row_count", False, {"rows": 3, "min": 4, "max": None},
          id="row_count-below_min"),
        P({"row_count": {"max": 2}}, "row_count", False, {"rows": 3, "min": None, "max": 2},
          id="row_count-above_max"),
        P({"freshness": {"column": "ordered_at", "max_age": "1d"}}, "freshness_ordered_at", True,
          {"newest": "2024-01-02 10:00:00+00:00", "bound": "2024-01-02 00:00:00+00:00",
           "max_age": "1 day, 0:00:00"}, id="freshness-pass"),
        P({"freshness": {"column": "ordered_at", "max_age": "6h"}}, "freshness_ordered_at", False,
          {"newest": "2024-01-02 10:00:00+00:00", "bound": "2024-01-02 18:00:00+00:00",
           "max_age": "6:00:00"}, id="freshness-stale"),
    ],
)  # fmt: skip
def test_table_rule_verdict_and_metadata(
    tmp_path, monkeypatch, instance, rule, check, passed, expected
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, check)
    assert (found.passed, found.severity, found.partition) == (passed, ERROR, DAY1)
    got = meta(found)
    assert {key: got[key] for key in expected} == expected
    assert result.success is passed


@pytest.mark.parametrize(
    ("columns", "passed", "severity", "expected"),
    [
        P(STAGING_TYPES, True, ERROR,
          {"new_columns": [], "missing_columns": [], "changed_types": []}, id="exact"),
        P(WITHOUT_CODE, False, WARN,
          {"new_columns": ["code"], "missing_columns": [], "changed_types": []}, id="new_column"),
        P({**STAGING_TYPES, "quantity": "int64"}, False, ERROR,
          {"new_columns": [], "missing_columns": [], "changed_types": ["quantity: int64 -> int32"]},
          id="changed_type"),
    ],
)  # fmt: skip
def test_schema_drift_is_judged_by_policy(
    tmp_path, monkeypatch, instance, columns, passed, severity, expected
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"schema": {"columns": columns}}]))
    shop.land(DAY1, orders(DAY1))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, "schema")
    assert (found.passed, found.severity) == (passed, severity)
    action = meta(found).pop("action")
    assert meta(found) == {**expected, "action": action}
    if passed:
        assert action == "none"
    else:  # what was done, as it applied: a WARN drift is reported, an ERROR drift blocks
        assert action == (
            "reported only (WARN)"
            if severity == WARN
            else f"blocked: window {DAY1} is not served to the layers below (ERROR)"
        )
    # only an ERROR drift fails the step; a new column warns and the table is published
    assert result.success is (severity == WARN or passed)


DRIFTING = """\
  drifting:
    from: staging.orders
    python: tests.ops_transforms.as_given
    rules: [%s]
"""


def test_a_missing_column_below_a_python_transform_is_drift(
    tmp_path, monkeypatch, instance
) -> None:
    """Where only the run knows the columns (a Python transform), a missing one is drift.

    Where the declarations make the columns, a schema rule naming one they never make is
    refused when they load (tests/config/test_column_errors.py).
    """
    rule = {"schema": {"columns": {**STAGING_TYPES, "discount": "float64"}}}
    yaml = shop_yaml(business_extra=DRIFTING % json.dumps(rule))
    shop = make_shop(tmp_path, monkeypatch, yaml)
    shop.land(DAY1, orders(DAY1))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, "schema", table="drifting")
    assert (found.passed, found.severity) == (False, ERROR)
    expected = {"new_columns": [], "missing_columns": ["discount"], "changed_types": []}
    assert {key: meta(found)[key] for key in expected} == expected
    assert result.success is False  # an ERROR drift fails the step


def test_schema_drift_policy_ignore_passes(tmp_path, monkeypatch, instance) -> None:
    rule = {"schema": {"columns": WITHOUT_CODE, "new_column": "ignore"}}
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([rule]))
    shop.land(DAY1, orders(DAY1))
    found = evaluation(shop.run(instance, [DAY1]), "schema")
    assert found.passed
    assert meta(found)["new_columns"] == ["code"]


def test_count_audit_passes_when_rows_are_kept(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"count_audit": None}]))
    shop.land(DAY1, orders(DAY1))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, "count_audit")
    assert found.passed and result.success
    got = meta(found)
    assert got["source"] == "shop.raw.orders"
    assert (got["source_count"], got["target_count"], got["difference"]) == (3, 3, 0)
    assert got["tolerance_pct"] == 0.0


@pytest.mark.parametrize(
    ("tolerance", "passed"),
    [P(0, False, id="exact"), P(10, False, id="10pct"), P(34, True, id="34pct")],
)
def test_count_audit_catches_a_join_that_duplicates_rows(
    tmp_path, monkeypatch, instance, tolerance, passed
) -> None:
    """Customer 2 appears twice in the dimension: joining to it doubles that customer's order."""
    text = shop_yaml(staging_extra=JOINED % tolerance)
    shop = make_shop(tmp_path, monkeypatch, text)
    shop.land_customers([*CUSTOMERS, {"customer_id": 2, "name": "Bob again"}])
    shop.land(DAY1, orders(DAY1, row2={"customer_id": 2}))
    result = shop.run(instance, [DAY1])
    found = evaluation(result, "count_audit", table="joined")
    assert found.passed is passed
    got = meta(found)
    assert (got["source"], got["source_count"], got["target_count"]) == ("shop.raw.orders", 3, 4)
    assert (got["difference"], got["difference_pct"]) == (1, 33.3333)
    assert got["tolerance_pct"] == float(tolerance)
    assert shop.read("staging", "joined", [DAY1]).num_rows == 4
