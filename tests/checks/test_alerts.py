"""Failed checks reach people: a check_failure notice in the outbox and a check_failures metric.

Covers the local profile's outbox (`state/outbox/*.eml`, header X-Dataplat-Kind) and metrics
(`state/metrics.db`, table `metrics`): a failed ERROR check sends one notice naming the
table, the check and the window and records a metric dimensioned by check and severity; a
failed WARN check records a metric but sends no notice; a clean run does neither. Step
failure notices for other errors are covered in tests/assets.
"""

from tests.checks.helpers import DAY1, DAY2, DAY3, make_shop, orders, shop_yaml

DIMENSIONS = {"dataflow": "shop", "layer": "staging", "table": "orders"}


def test_failed_error_check_sends_a_notice_and_records_a_metric(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    result = shop.run(instance, [DAY1])
    (notice,) = shop.outbox("check_failure")
    assert "shop.staging.orders" in notice["Subject"] and DAY1 in notice["Subject"]
    assert notice["To"]
    body = notice.get_content()
    assert f"not_null_code [{DAY1}]" in body
    assert "failing_rows=1" in body and result.run_id in body
    assert shop.outbox("failure") == []  # the gate's own notice replaces the step failure one
    assert shop.metrics("check_failures") == [
        (1.0, {**DIMENSIONS, "check": "not_null_code", "severity": "error"})
    ]


def test_failed_warn_check_records_a_metric_without_a_notice(
    tmp_path, monkeypatch, instance
) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code", "severity": "warn"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    assert shop.run(instance, [DAY1]).success
    assert shop.outbox("check_failure") == []
    assert shop.metrics("check_failures") == [
        (1.0, {**DIMENSIONS, "check": "not_null_code", "severity": "warn"})
    ]


def test_clean_run_sends_nothing(tmp_path, monkeypatch, instance) -> None:
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}]))
    shop.land(DAY1, orders(DAY1))
    assert shop.run(instance, [DAY1]).success
    assert shop.outbox("check_failure") == []
    assert shop.metrics("check_failures") == []
    assert shop.metrics("rows_out")  # metrics were recorded, just no failures


def test_notice_of_a_range_run_names_only_the_failed_window(
    tmp_path, monkeypatch, instance
) -> None:
    rules = [{"not_null": "code"}, {"range": {"column": "quantity", "max": 5}}]
    shop = make_shop(tmp_path, monkeypatch, shop_yaml(rules))
    shop.land(DAY1, orders(DAY1))
    shop.land(DAY2, orders(DAY2, row2={"code": None, "quantity": 9}))
    shop.land(DAY3, orders(DAY3))
    shop.run(instance, [DAY1, DAY2, DAY3])
    (notice,) = shop.outbox("check_failure")  # one notice per table and run
    body = notice.get_content()
    assert f"not_null_code [{DAY2}]" in body and f"range_quantity [{DAY2}]" in body
    assert DAY1 not in notice["Subject"] + body and DAY3 not in notice["Subject"] + body
    checks = sorted(dims["check"] for _, dims in shop.metrics("check_failures"))
    assert checks == ["not_null_code", "range_quantity"]
