"""ERROR checks close a window's gate for the layers below; WARN checks do not.

Covers, with staging.orders feeding business.totals (SQL): in one run a failed ERROR check
stops the business step; the window's manifest records `failed_checks`; a later run of the
business table alone fails with FailedGateError naming the window; fixing the data and
re-running reopens the gate; an unpartitioned aggregate skips the closed window instead; a
failed WARN check blocks nothing. Notices and metrics are in test_alerts.py; range runs in
test_partitions.py.
"""

import pytest

from dataplat_dagster.resources.storage import FailedGateError, MissingPartitionError
from tests.checks.helpers import (
    DAY1,
    DAY2,
    make_shop,
    materialized,
    orders,
    shop_yaml,
    step_failures,
    step_started,
)

BUSINESS_STEP = "business__shop__totals"
AGGREGATE = """\
  all_orders:
    partitioned: false
    sql: "select count(*) as n, min(order_id) as first_id from {{ staging.orders }}"
"""


def test_failed_error_check_stops_the_layer_below_in_the_same_run(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    result = shop.run(instance, [DAY1])
    assert not result.success
    failures = step_failures(result)
    assert set(failures) == {"staging__shop__orders"}
    assert "not_null_code" in failures["staging__shop__orders"]
    assert not step_started(result, BUSINESS_STEP)
    assert not materialized(result, "business", "shop", "totals")
    with pytest.raises(MissingPartitionError):
        shop.read("business", "totals", [DAY1])
    # the staging window is written, but marked: it must not feed the layers below
    assert shop.failed_checks("staging", "orders", DAY1) == ("not_null_code",)
    assert shop.read("staging", "orders", [DAY1]).num_rows == 3
    with pytest.raises(FailedGateError, match="window 2024-01-02"):
        shop.read("staging", "orders", [DAY1], failed_gates="refuse")


def test_later_run_of_the_layer_below_refuses_the_window_until_it_is_fixed(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    assert not shop.run(instance, [DAY1]).success

    alone = shop.run(instance, [DAY1], only=["business.shop.totals"])
    assert not alone.success
    message = step_failures(alone)[BUSINESS_STEP]
    assert "FailedGateError" in message
    assert "staging/shop/orders window 2024-01-02" in message and "not_null_code" in message
    assert not materialized(alone, "business", "shop", "totals")

    shop.land(DAY1, orders(DAY1))  # the fixed file
    fixed = shop.run(instance, [DAY1])
    assert fixed.success
    assert shop.failed_checks("staging", "orders", DAY1) == ()
    assert shop.read("business", "totals", [DAY1]).to_pylist() == [{"status": "paid", "n": 3}]


def test_failed_warn_check_does_not_block(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code", "severity": "warn"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    result = shop.run(instance, [DAY1])
    assert result.success
    assert not step_failures(result)
    assert [e.passed for e in result.get_asset_check_evaluations()] == [False]
    assert shop.failed_checks("staging", "orders", DAY1) == ()
    assert len(materialized(result, "business", "shop", "totals")) == 1
    assert shop.read("business", "totals", [DAY1]).to_pylist() == [{"status": "paid", "n": 3}]


def test_unpartitioned_aggregate_skips_the_closed_window(tmp_path, monkeypatch, instance) -> None:
    text = shop_yaml([{"not_null": "code"}], business_extra=AGGREGATE)
    shop = make_shop(tmp_path, monkeypatch, text)
    shop.land(DAY1, orders(DAY1))
    shop.land(DAY2, orders(DAY2, row2={"code": None}))
    assert shop.run(instance, [DAY1]).success
    assert not shop.run(instance, [DAY2]).success
    assert shop.failed_checks("staging", "orders", DAY2) == ("not_null_code",)
    result = shop.run(instance, [DAY2], only=["business.shop.all_orders"])
    assert result.success
    assert shop.read("business", "all_orders", [None]).to_pylist() == [{"n": 3, "first_id": 201}]
