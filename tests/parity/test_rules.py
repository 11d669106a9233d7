"""Parity of the quality gate: every rule type and row action on both engines.

The gate of a declared table (loaded and planned from YAML, no Dagster run) evaluates the
same generated rows on Pandas and on Spark; the published rows, the quarantine (as text,
with `_dq_rule`/`_dq_reason`), the dropped counts and every check verdict per window must
be identical. The dataflow's zone is Europe/Berlin, so naive bounds are Berlin times.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from dataplat_dagster.checks.gate import GateInputs, QualityGate, RuleFailure
from dataplat_dagster.config.loader import load_project
from dataplat_dagster.config.plan import TableId, build_plan
from dataplat_dagster.engines.base import Engine
from tests.conftest import write_project
from tests.parity.helpers import DAYS, PANDAS, canonical, customers, typed_orders

SCHEMA = {
    "order_id": "int64",
    "customer_id": "int64",
    "status": "string",
    "quantity": "int32",
    "price": "float64",
    "code": "string",
    "paid": "bool",
    "ordered_at": "timestamp",
    "local_at": "timestamp_ntz",
    "shipped_on": "date",
}
RULES: list[dict[str, Any]] = [
    {"not_null": "order_id", "on_fail": "quarantine"},
    {"unique": ["order_id", "customer_id"], "on_fail": "drop"},
    {"accepted_values": {"column": "status", "values": ["paid", "shipped"]}, "severity": "warn"},
    {"range": {"column": "quantity", "min": 1, "max": 20}, "on_fail": "quarantine"},
    {"range": {"column": "price", "min": 0, "inclusive": False}, "on_fail": "drop"},
    {
        "range": {"column": "ordered_at", "min": "2024-01-01 10:00:00"},
        "name": "range_ordered_at_berlin",
        "severity": "warn",
    },
    {"range": {"column": "local_at", "max": "2024-01-02 00:00:00"}, "severity": "warn"},
    {"range": {"column": "shipped_on", "max": "2024-01-03"}, "severity": "warn"},
    {"regex": {"column": "code", "pattern": "^AB-\\d+$"}, "on_fail": "quarantine"},
    {"referential": {"column": "customer_id", "to": "staging.customers"}, "on_fail": "quarantine"},
    {"expression": {"name": "paid_price", "sql": "paid or price < 10", "min_ratio": 0.5}},
    {"custom": {"function": "tests.parity.rule_functions.code_has_prefix"}, "severity": "warn"},
    {"custom": {"function": "tests.parity.rule_functions.has_rows", "params": {"minimum": 2}}},
    {"row_count": {"min": 3, "max": 3}, "severity": "warn"},
    {"schema": {"columns": {"order_id": "int64", "price": "float64"}}},
    {"freshness": {"column": "ordered_at", "max_age": "2h"}, "severity": "warn"},
    {"count_audit": {"source": "raw.orders", "tolerance_pct": 0}},
]


def flow(rules: list[dict[str, Any]]) -> str:
    return f"""\
dataflow: shop
owners: [team:shop]
partitioning: {{granularity: daily, timezone: Europe/Berlin, start: "2024-01-01"}}
landing:
  orders: {{path: "shop/orders_{{date:%Y%m%d}}.csv", format: csv, schema: {json.dumps(SCHEMA)}}}
  customers: {{path: shop/customers.csv, schema: {{customer_id: int64, name: string}}}}
raw:
  orders: {{from: landing.orders}}
  customers: {{from: landing.customers}}
staging:
  customers: {{from: raw.customers}}
  orders:
    from: raw.orders
    rules: {json.dumps(rules)}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("parity_rules"), {"shop": flow(RULES)})


def gate_of(root: Path) -> QualityGate:
    plan = build_plan(load_project(root, "local").dataflows)
    return plan.tables[TableId("shop", "staging", "orders")]


def evaluate(engine: Engine, root: Path) -> dict[str, Any]:
    table = gate_of(root)
    frame = engine.from_arrow(typed_orders())
    raw = engine.from_arrow(typed_orders())
    inputs = GateInputs(
        keys=list(DAYS),
        references={
            TableId("shop", "staging", "customers"): engine.from_arrow(customers()),
            TableId("shop", "raw", "orders"): raw,
        },
    )
    result = QualityGate(table, engine).evaluate(frame, inputs)
    verdicts = {
        (outcome.check.name, verdict.window): (
            verdict.passed,
            verdict.severity,
            {k: _plain(v) for k, v in verdict.metadata.items() if k != "sample"},
            sorted(map(repr, _plain(verdict.metadata.get("sample", [])))),
        )
        for outcome in result.outcomes
        for verdict in outcome.verdicts
    }
    return {
        "frame": canonical(engine, result.frame),
        "quarantined": [canonical(engine, q) for q in result.quarantined],
        "dropped": result.dropped,
        "quarantined_rows": result.quarantined_rows,
        "verdicts": verdicts,
    }


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def test_every_rule_and_action_gives_the_same_result(engine: Engine, project: Path) -> None:
    got, expected = evaluate(engine, project), evaluate(PANDAS, project)
    assert sorted(got["verdicts"]) == sorted(expected["verdicts"])
    for key, verdict in expected["verdicts"].items():
        assert (key, got["verdicts"][key]) == (key, verdict)
    assert got["frame"] == expected["frame"]
    assert got["quarantined"] == expected["quarantined"]
    assert (got["dropped"], got["quarantined_rows"]) == (
        expected["dropped"],
        expected["quarantined_rows"],
    )


def test_the_gate_acts_as_declared(engine: Engine, project: Path) -> None:
    got = evaluate(engine, project)
    # ids: 1 ok, 2 ok, 2 duplicate (dropped), 3 quantity 0 (quarantined first by range),
    # 4 quantity 30, 5 code ab-5, None id, 6 no customer (kept: nulls are not_null's)
    kept = sorted(row[0] for row in got["frame"][1])
    assert kept == [1, 2, 6]
    assert got["dropped"] == {"unique_order_id_customer_id": 1, "range_price": 0}
    assert got["quarantined_rows"] == {
        "not_null_order_id": 1,
        "range_quantity": 2,
        "regex_code": 1,
        "referential_customer_id": 0,
    }
    reasons = sorted(row[-1] for q in got["quarantined"] for row in q[1])
    assert "not_null_order_id: order_id is null" in reasons
    assert "range_quantity: quantity=0 is outside [1, 20]" in reasons
    assert "regex_code: code=ab-5 does not match ^AB-\\d+$" in reasons
    verdicts = got["verdicts"]
    # 10:00 in Berlin is 09:00 UTC: the order of 09:00 UTC passes, the one of 31 December fails
    berlin = [verdicts[("range_ordered_at_berlin", day)][2]["failing_rows"] for day in DAYS]
    assert berlin == [0, 1]
    assert verdicts[("expression_paid_price", DAYS[1])][0] is True  # 3 of 4 pass >= 0.5


def test_on_fail_fail_stops_the_gate(engine: Engine, tmp_path: Path) -> None:
    root = write_project(tmp_path, {"shop": flow([{"not_null": "code", "on_fail": "fail"}])})
    with pytest.raises(RuleFailure, match="not_null_code .*1 failing row"):
        evaluate(engine, root)
