"""The `unique` rule on Spark (engines/spark_rules.py `_duplicates`): proven or ranked.

A key without repeats in any window is proven by a hash aggregate and the mask is a plain
false (no window function ranks the rows); repeated keys are ranked, and the rows after a
key's first fail. Both answers are the Pandas engine's.
"""

import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.rules import Rule
from dataplat_dagster.engines.pandas_engine import PandasEngine

pytestmark = pytest.mark.spark

UNIQUE = TypeAdapter(Rule).validate_python({"unique": ["id", "part"]})


def _failing(engine, table: pa.Table) -> tuple[list[bool], str]:
    frame = engine.from_arrow(table)
    mask = engine.rule_failures(frame, UNIQUE, None, None)
    if isinstance(engine, PandasEngine):
        return [bool(v) for v in mask], ""
    flagged = frame.select(mask.alias("failing"))
    plan = flagged._jdf.queryExecution().executedPlan().toString()
    return [row.failing for row in flagged.collect()], plan


def test_keys_without_repeats_are_proven_without_ranking_rows(spark_engine) -> None:
    # the same key in two windows, and a key repeated with a null part: none fails
    table = pa.table(
        {
            "id": [1, 1, 2, None, None],
            "part": ["a", "a", "b", "c", "c"],
            "_partition": ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-01", "2024-01-01"],
        }
    )

    failing, plan = _failing(spark_engine, table)

    assert failing == [False] * 5 == _failing(PandasEngine(), table)[0]
    assert "Window" not in plan


def test_repeated_keys_fail_after_their_first_row(spark_engine) -> None:
    table = pa.table(
        {
            "id": [1, 2, 1, None, 1],
            "part": ["a", "b", "a", "a", "a"],
            "_partition": ["2024-01-01"] * 4 + ["2024-01-02"],
        }
    )

    failing, plan = _failing(spark_engine, table)

    assert failing == [False, False, True, False, False] == _failing(PandasEngine(), table)[0]
    assert "Window" in plan
