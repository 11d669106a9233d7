import pytest
from tests.checks.helpers import *
def dump(r):
    print("SUCCESS", r.success, step_failures(r))
    for e in r.get_asset_check_evaluations():
        print("EVAL", e.asset_key.path, e.check_name, e.passed, e.severity, e.partition, meta(e))
    print("BUSINESS", [(m.partition) for m in materialized(r, "business","shop","totals")])
    print("STAGING", [(m.partition) for m in materialized(r, "staging","shop","orders")])

def test_range(tmp_path, monkeypatch, instance):
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code"}, {"range": {"column": "quantity", "max": 5}, "severity": "warn"}]))
    shop.land(DAY1, orders(DAY1)); shop.land(DAY2, orders(DAY2, row2={"code": None, "quantity": 8})); shop.land(DAY3, orders(DAY3))
    r = shop.run(instance, [DAY1, DAY2, DAY3])
    dump(r)
    st = shop.storage()
    for d in (DAY1, DAY2, DAY3):
        print("MAN", d, st.manifest(["staging","shop","orders"], d).failed_checks)
    r2 = shop.run(instance, [DAY1, DAY2, DAY3], only=["business.shop.totals"])
    dump(r2)
    f = [e for e in r2.all_events if e.is_step_failure][0].step_failure_data.error
    print("ERR", repr(f.message), "CAUSE", repr(f.cause.cls_name if f.cause else None), repr(f.cause.message if f.cause else None), repr(f.to_string()[:3000]))
    r3 = shop.run(instance, [DAY1], only=["business.shop.totals"])
    dump(r3)
    print(shop.outbox("check_failure")[0].get_content())
    assert 0

def test_warn(tmp_path, monkeypatch, instance):
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"not_null": "code", "severity": "warn"}]))
    shop.land(DAY1, orders(DAY1, row2={"code": None}))
    r = shop.run(instance, [DAY1])
    dump(r)
    assert 0

def test_audit(tmp_path, monkeypatch, instance):
    extra = '  joined:\n    sql: "select o.* from {{ raw.orders }} o join {{ raw.customers }} c using (customer_id)"\n    rules: [{"count_audit": {"source": "raw.orders", "tolerance_pct": 10}}]\n'
    shop = make_shop(tmp_path, monkeypatch, shop_yaml([{"count_audit": None}], staging_extra=extra))
    write_csv(shop.landing / "shop" / "customers.csv", CUSTOMERS + [{"customer_id": 2, "name": "Bob again"}])
    shop.land(DAY1, orders(DAY1, row2={"customer_id": 2}))
    r = shop.run(instance, [DAY1])
    dump(r)
    assert 0
