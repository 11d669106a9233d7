"""Dedupe on Spark without duplicates (engines/spark_steps.py `_dedupe`): nothing re-sorted.

The frame is persisted for the step's later jobs (counts, checks, writes) and freed by the
next step, as when rows repeat (tests/engines/test_spark_engine.py covers that case).
"""

import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines import spark_steps

pytestmark = pytest.mark.spark


def test_no_duplicates_keeps_the_frame_cached_until_the_next_step(spark_engine) -> None:
    table = pa.table({"id": [3, 1, 2], "v": ["c", "a", None], "_partition": ["d"] * 3})
    outcome = spark_engine.apply_steps(
        spark_engine.from_arrow(table),
        TypeAdapter(list[Step]).validate_python(["dedupe"]),
        label="t",
    )
    persisted = [stored for _, stored in spark_steps._CACHED]
    assert persisted and all(frame.is_cached for frame in persisted)
    assert spark_engine.to_arrow(outcome.frame).to_pylist() == table.to_pylist()
    assert outcome.dropped == {"t.steps[0] (dedupe)": 0} and outcome.removed_by_window == {}

    spark_engine.apply_steps(outcome.frame, [], label="next")

    assert not spark_steps._CACHED and not any(frame.is_cached for frame in persisted)
