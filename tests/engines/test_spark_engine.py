"""The Spark engine's frame plumbing: windows, Arrow round trips, transforms, the session.

Covers split/slices/by_window/concat_windows/no_rows against the Pandas engine, Arrow types
both ways (instants, wall-clock times, dates, narrow integers), Python transforms on Spark
DataFrames, and the session's reuse. Steps, rules and SQL are in tests/parity.
"""

import datetime as dt

import pyarrow as pa
import pytest

from dataplat_dagster.engines.base import PARTITION, TransformError
from dataplat_dagster.engines.spark_engine import (
    CACHE_COMPRESSED,
    COMPILE_HUGE_METHODS,
    CONSOLE_PROGRESS,
    HUGE_METHOD_LIMIT,
    SparkEngine,
    session_conf,
)
from tests.parity.helpers import DAYS, PANDAS, canonical, typed_orders

pytestmark = pytest.mark.spark


def test_arrow_round_trip_keeps_every_type(spark_engine: SparkEngine) -> None:
    table = typed_orders()
    back = spark_engine.to_arrow(spark_engine.from_arrow(table))
    assert back.schema == table.schema
    assert back.to_pylist() == table.to_pylist()
    assert spark_engine.column_types(spark_engine.from_arrow(table)) == PANDAS.column_types(
        PANDAS.from_arrow(table)
    )


def test_windows_split_slice_and_reassemble(spark_engine: SparkEngine) -> None:
    frame = spark_engine.from_arrow(typed_orders())
    keys = [*DAYS, "2024-01-03"]
    split = {key: rows.num_rows for key, rows in spark_engine.split(frame, keys)}
    assert split == {DAYS[0]: 4, DAYS[1]: 4, "2024-01-03": 0}
    slices = dict(spark_engine.window_slices(frame, keys))
    assert PARTITION not in spark_engine.column_names(slices[DAYS[0]])
    whole = spark_engine.concat_windows(list(slices.items()))
    assert canonical(spark_engine, whole) == canonical(
        PANDAS,
        PANDAS.concat_windows(list(PANDAS.window_slices(PANDAS.from_arrow(typed_orders()), keys))),
    )
    assert spark_engine.row_count(spark_engine.by_window(whole, keys, label="t")) == 8


def test_rows_of_other_windows_are_refused(spark_engine: SparkEngine) -> None:
    frame = spark_engine.from_arrow(typed_orders())
    with pytest.raises(TransformError, match=r"2024-01-02.*the run covers 2024-01-01"):
        spark_engine.by_window(frame, [DAYS[0]], label="business.t")
    with pytest.raises(TransformError, match="no _partition column"):
        spark_engine.by_window(frame.drop(PARTITION), DAYS, label="business.t")


def test_no_rows_adds_text_columns(spark_engine: SparkEngine) -> None:
    empty = spark_engine.no_rows(spark_engine.from_arrow(typed_orders()), ["_dq_rule"])
    assert spark_engine.row_count(empty) == 0
    assert spark_engine.column_types(empty)["_dq_rule"] == "string"


def add_total(orders, rate: float = 2.0):  # a Spark transform: DataFrames in and out
    from pyspark.sql import functions as F

    return orders.withColumn("total", F.col("price") * F.lit(rate))


def not_a_frame(orders) -> int:
    return 1


def test_python_transforms_receive_and_return_spark_frames(spark_engine: SparkEngine) -> None:
    frame = spark_engine.from_arrow(typed_orders())
    result = spark_engine.call_python(add_total, {"orders": frame}, {"rate": 3.0})
    totals = spark_engine.to_arrow(result)["total"].to_pylist()
    assert totals[0] == pytest.approx(28.5)
    with pytest.raises(TransformError, match="returned int, not a Spark DataFrame"):
        spark_engine.call_python(not_a_frame, {"orders": frame}, {})


def test_one_session_per_settings(spark_engine: SparkEngine) -> None:
    again = SparkEngine(**spark_engine.model_dump())  # the same settings: the same session
    assert again.session() is spark_engine.session()
    assert spark_engine.session().conf.get("spark.sql.shuffle.partitions") == "2"


def test_no_console_progress_bar_unless_the_profile_asks(spark_engine: SparkEngine) -> None:
    """Spark's progress bar would redraw itself through every run's log and CLI output."""
    session = spark_engine.session()
    if spark_engine.remote:  # a Spark Connect server keeps its own settings
        assert CONSOLE_PROGRESS not in spark_engine.conf
        return
    assert session.sparkContext.getConf().get(CONSOLE_PROGRESS) == "false"


def test_large_generated_methods_are_compiled(spark_engine: SparkEngine) -> None:
    """Raw's parse generates methods HotSpot would interpret (spark_engine.py says why)."""
    session = spark_engine.session()
    if spark_engine.remote:  # a Spark Connect server keeps its own settings
        assert HUGE_METHOD_LIMIT not in spark_engine.conf
        return
    # compiled, the whole stage stays one method: Spark's own limit, not the fallback's
    assert session.conf.get(HUGE_METHOD_LIMIT) == "65535"
    runtime = session.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert COMPILE_HUGE_METHODS in list(runtime.getInputArguments())  # the driver's JVM


def test_a_profiles_java_options_keep_large_methods_compiled() -> None:
    """The flag joins a profile's own JVM options, unless they decide for themselves.

    Where they keep HotSpot's default, generated methods stay small enough to compile.
    """
    own = SparkEngine(conf={"spark.driver.extraJavaOptions": "-Duser.timezone=UTC"})
    conf = session_conf(own)
    assert conf["spark.driver.extraJavaOptions"] == f"-Duser.timezone=UTC {COMPILE_HUGE_METHODS}"
    assert conf["spark.executor.extraJavaOptions"] == COMPILE_HUGE_METHODS
    assert HUGE_METHOD_LIMIT not in conf
    interpreted = SparkEngine(
        conf={"spark.executor.extraJavaOptions": "-XX:+DontCompileHugeMethods"}
    )
    conf = session_conf(interpreted)
    assert conf["spark.executor.extraJavaOptions"] == "-XX:+DontCompileHugeMethods"
    assert conf[HUGE_METHOD_LIMIT] == "8000"
    assert session_conf(SparkEngine(remote="sc://localhost:15002")) == {}


def test_the_platforms_caches_are_built_uncompressed(spark_engine: SparkEngine) -> None:
    """Compressing the cached columns cost more than it saved (spark_engine.py)."""
    if spark_engine.remote:  # a Spark Connect server keeps its own settings
        assert CACHE_COMPRESSED not in spark_engine.conf
        return
    assert spark_engine.session().conf.get(CACHE_COMPRESSED) == "false"
    assert session_conf(SparkEngine(conf={CACHE_COMPRESSED: "true"}))[CACHE_COMPRESSED] == "true"


def test_samples_come_back_as_pandas_shows_them(spark_engine: SparkEngine) -> None:
    from pyspark.sql import functions as F

    frame = spark_engine.from_arrow(typed_orders())
    sample = spark_engine.sample_rows(frame, F.col("quantity") > 20, ["order_id", "ordered_at"], 5)
    assert sample == [{"order_id": 4, "ordered_at": "2024-01-02 00:15:00.000500+00:00"}]


def test_naive_timestamps_stay_wall_clock_times(spark_engine: SparkEngine) -> None:
    table = pa.table({"at": pa.array([dt.datetime(2024, 3, 31, 2, 30)], pa.timestamp("us"))})
    assert spark_engine.column_types(spark_engine.from_arrow(table)) == {"at": "timestamp_ntz"}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_skipped_and_repeated_hours_match_pandas(spark_engine: SparkEngine, zone: str) -> None:
    from pydantic import TypeAdapter

    from dataplat_dagster.config.steps import Step

    walls = [
        dt.datetime(2024, 3, 31, 2, 30),  # Berlin skips 02:00-03:00
        dt.datetime(2024, 10, 27, 2, 30),  # Berlin repeats 02:00-03:00
        dt.datetime(2024, 3, 10, 2, 15),  # New York skips 02:00-03:00
        dt.datetime(2024, 11, 3, 1, 45),  # New York repeats 01:00-02:00
        dt.datetime(2024, 6, 1, 12, 0),
    ]
    table = pa.table({"at": pa.array(walls, pa.timestamp("us"))})
    steps = TypeAdapter(list[Step]).validate_python([{"cast": {"at": "timestamp"}}])
    results = [
        engine.to_arrow(
            engine.apply_steps(engine.from_arrow(table), steps, label="t", timezone=zone).frame
        )
        for engine in (spark_engine, PANDAS)
    ]
    assert results[0]["at"].to_pylist() == results[1]["at"].to_pylist()


def test_quarantined_floats_read_as_python_writes_them(spark_engine: SparkEngine) -> None:
    """Java writes 1.2345678E7 where the Pandas engine's quarantine holds 12345678.0."""
    import numpy as np
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from dataplat_dagster.engines.spark_text import text_of

    values = [1.5, 12345678.0, -98765432.1, 1e7, 1e-05, 0.00012, 0.0005, 2.5e-07, 123.0]
    values += [0.001, 1e16, -1.2345e20, 9007199254740993.0, 1.7976931348623157e308]
    values += [float("inf"), float("-inf")]
    frame = spark_engine.session().createDataFrame([(v,) for v in values], "x double")
    got = [row[0] for row in frame.select(text_of(F.col("x"), T.DoubleType())).collect()]
    assert got == [str(np.float64(v)) for v in values]


def test_dedupe_shuffles_once_and_the_next_step_frees_it(spark_engine: SparkEngine) -> None:
    """Dedupe's result is persisted for the step's later jobs, and freed by the next step."""
    from pydantic import TypeAdapter

    from dataplat_dagster.config.steps import Step
    from dataplat_dagster.engines import spark_steps

    table = pa.table({"id": [1, 1, 2], "v": ["a", "a", "b"]})
    outcome = spark_engine.apply_steps(
        spark_engine.from_arrow(table),
        TypeAdapter(list[Step]).validate_python(["dedupe"]),
        label="t",
    )
    persisted = [stored for _, stored in spark_steps._CACHED]
    assert outcome.frame.count() == 2 and outcome.dropped == {"t.steps[0] (dedupe)": 1}
    assert persisted and all(frame.is_cached for frame in persisted)

    spark_engine.apply_steps(outcome.frame, [], label="next")

    assert not spark_steps._CACHED and not any(frame.is_cached for frame in persisted)
