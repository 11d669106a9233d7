"""Parity of Great Expectations suites: the same verdicts per window on Pandas and on Spark.

On Spark, GE's Spark datasource validates the Spark DataFrame of each window (no pandas
copy); on Pandas, column-map expectations are evaluated natively and the others by GE.
"""

from typing import Any

from dataplat_dagster.checks import great_expectations as gx_rules
from dataplat_dagster.engines.base import Engine
from tests.parity.helpers import DAYS, PANDAS, typed_orders


def expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {}}


SUITE = [
    expectation("expect_column_values_to_not_be_null", column="order_id"),
    expectation(
        "expect_column_values_to_be_in_set", column="status", value_set=["paid", "shipped"]
    ),
    expectation("expect_column_values_to_match_regex", column="code", regex="^AB-"),
    expectation("expect_table_row_count_to_be_between", min_value=4, max_value=4),
]


def verdicts(engine: Engine) -> dict[tuple[str | None, int], tuple[Any, ...]]:
    found = gx_rules.validate_suite(engine, engine.from_arrow(typed_orders()), SUITE, list(DAYS))
    return {
        (key, index): (
            verdict.passed,
            verdict.metadata.get("unexpected_count"),
            verdict.metadata.get("element_count"),
            str(verdict.metadata.get("observed_value")),
            sorted(map(str, verdict.metadata.get("partial_unexpected_list") or [])),
        )
        for key, window in found.items()
        for index, verdict in enumerate(window)
    }


def test_a_suite_gives_the_same_verdicts(engine: Engine) -> None:
    got, expected = verdicts(engine), verdicts(PANDAS)
    for key, verdict in expected.items():
        assert (key, got[key]) == (key, verdict)
    assert [got[(DAYS[0], i)][0] for i in range(len(SUITE))] == [True, False, False, True]
