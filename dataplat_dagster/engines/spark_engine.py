"""The Spark engine: frames are pyspark DataFrames (classic or Spark Connect).

Only the public DataFrame and functions API is used (no RDDs, no JVM handles), so the same
code runs on `local[*]`, on a cluster and through a Spark Connect endpoint. Data stays in
Spark: rule masks are boolean Column expressions over the frame, and only counts, samples
and previews come back to the driver.
"""

import functools
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines import pandas_rules, spark_range, spark_rules, spark_steps, spark_text
from dataplat_dagster.engines.base import PARTITION, Engine, StepOutcome, TransformError
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.engines.spark_frames import (
    arrow_schema,
    arrow_to_spark,
    normalise_numbers,
    spark_to_arrow,
)
from dataplat_dagster.engines.spark_io import known_rows, unmarked
from dataplat_dagster.engines.spark_masks import WindowCodes, quarantine_rows
from dataplat_dagster.engines.spark_masks import check_windows as _check_windows
from dataplat_dagster.engines.spark_sql import duckdb_schema, like_duckdb, run_spark_sql
from dataplat_dagster.engines.spark_text import column
from dataplat_dagster.engines.spark_times import set_session_zone

_lock = threading.Lock()  # two steps of a run asking for the session at once get the same one
_sessions: dict[tuple[Any, ...], Any] = {}
_PANDAS = PandasEngine()  # small results (samples, previews) shown as the Pandas engine shows them
_ARROW_SPLITTER = _PANDAS
_SAMPLE = "__dataplat_sample"  # which request a sampled row answers
CONSOLE_PROGRESS = "spark.ui.showConsoleProgress"  # off unless a profile turns it on
# Whole-stage code generation compiles a stage's expressions into one Java method. Raw's
# parse by the landing rules (several expressions per declared column) makes that method
# thousands of lines long, and HotSpot interprets any method over 8,000 bytes of bytecode
# (`DontCompileHugeMethods`). The JVMs this process launches compile large methods: TPC-H
# lineitem's parse at scale 1 took 134 s before, 78 s after (local[2], one cold run each,
# twice). Spark's own advice for HotSpot, a limit of 8,000 on the generated method (such a
# stage then runs operator by operator, in methods small enough to compile), is the
# fallback where a profile's JVM options keep HotSpot's default: beside compiled huge
# methods it cost a third more (the parse alone, a `noop` write: 20.4 s against 15.2 s,
# second of two passes). A profile's `conf` overrides either; a remote session keeps its
# server's settings.
HUGE_METHOD_LIMIT = "spark.sql.codegen.hugeMethodLimit"
# The platform caches frames read several times (a dedupe's input, then the gate's counts
# and the write): building Spark's compressed column cache cost more than reading it saved
# (staging at TPC-H scale factor 1: 69.6 s compressed, 57.7 s not, one run each; the heap
# holds more of it, and what does not fit goes to disk as before).
CACHE_COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"
COMPILE_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


class SparkEngine(Engine):
    """pyspark DataFrames for steps, rules and Python transforms; Spark SQL for SQL bodies.

    One SparkSession per process, shared by every step of a run (and by the tests).
    """

    name: ClassVar[str] = "spark"

    master: str = Field("local[*]", description="Spark master URL; ignored when remote is set")
    remote: str | None = Field(None, description="a Spark Connect endpoint, sc://host:port")
    conf: dict[str, str] = Field(
        default_factory=dict, description="Spark settings passed through to the session"
    )
    app_name: str = Field("dataplat", description="the application name the Spark UI shows")

    def session(self) -> Any:
        """The process's one SparkSession for these settings (created on first use)."""
        key = (self.master, self.remote, tuple(sorted(self.conf.items())), self.app_name)
        with _lock:
            session = _sessions.get(key)
            if session is None:
                session = _sessions[key] = _build_session(self)
        return session

    # -- crossing the Arrow boundary --------------------------------------------------------
    def from_arrow(self, table: pa.Table) -> Any:
        return arrow_to_spark(self.session(), table)

    def to_arrow(self, frame: Any) -> pa.Table:
        if isinstance(frame, pa.Table):
            return frame
        return spark_to_arrow(frame)

    def as_frame(self, data: Any) -> Any:
        return self.from_arrow(data) if isinstance(data, pa.Table) else data

    # -- facts about a frame ----------------------------------------------------------------
    def row_count(self, frame: Any) -> int:
        if isinstance(frame, pa.Table):
            return frame.num_rows
        known = known_rows(frame)  # an input read from the warehouse: no Spark job
        return sum(known.values()) if known is not None else frame.count()

    def mask_length(self, frame: Any) -> int:
        return 0  # masks are Column expressions: no length, and no Spark job to count rows

    def column_names(self, frame: Any) -> list[str]:
        return list(frame.column_names) if isinstance(frame, pa.Table) else list(frame.columns)

    def head(self, frame: Any, rows: int) -> pa.Table:
        if isinstance(frame, pa.Table):
            return frame.slice(0, rows)
        return spark_to_arrow(frame.limit(rows))

    # -- partitions ---------------------------------------------------------------------------
    def split(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
        # Arrow per window is what the Pandas writer takes; Spark writes its windows itself
        # (engines/spark_io.py), so this serves small frames (outputs, previews, tests).
        yield from _ARROW_SPLITTER.split(self.to_arrow(frame), keys)

    def slices(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
        if PARTITION not in frame.columns:
            for key in keys:
                yield key, frame
            return
        _check_windows(frame, keys, label="rows")
        for key in keys:
            yield key, frame.where(F.col(PARTITION) == key)

    def with_partition(self, frame: Any, key: str) -> Any:
        return frame.withColumn(PARTITION, F.lit(key))

    def concat(self, frames: Sequence[Any]) -> Any:
        frames = [f for f in frames if f is not None]
        if not frames:
            return (
                self.session().createDataFrame([], "dataplat_empty string").drop("dataplat_empty")
            )
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame, allowMissingColumns=True)
        return unmarked(result) if len(frames) > 1 else result

    def by_window(self, frame: Any, keys: Sequence[str], *, label: str) -> Any:
        if PARTITION not in frame.columns:
            raise TransformError(f"{label}: the result has no {PARTITION} column (its window)")
        frame = frame.withColumn(PARTITION, F.col(PARTITION).cast("string"))
        _check_windows(frame, keys, label=label)
        return frame.select(*[c for c in frame.columns if c != PARTITION], PARTITION)

    def drop_columns(self, frame: Any, names: Sequence[str]) -> Any:
        present = [name for name in names if name in frame.columns]
        return frame.drop(*present) if present else frame

    def no_rows(self, frame: Any, text_columns: Sequence[str] = ()) -> Any:
        empty = frame.limit(0)
        if not text_columns:  # Spark Connect's client refuses withColumns of nothing
            return empty
        return empty.withColumns({name: F.lit(None).cast("string") for name in text_columns})

    # -- work -------------------------------------------------------------------------------
    def apply_steps(
        self, frame: Any, steps: Sequence[Step], *, label: str, timezone: str = "UTC"
    ) -> StepOutcome:
        # one step at a time per process: the previous step's persisted frames are written
        spark_steps.release_cached(keep=frame)
        set_session_zone(self.session(), timezone)
        return spark_steps.apply_steps(self.as_frame(frame), list(steps), label, timezone)

    def run_sql(
        self, sql: str, tables: dict[str, Any], *, label: str = "SQL", timezone: str = "UTC"
    ) -> Any:
        session = self.session()
        set_session_zone(session, timezone)
        frames = {ref: self.as_frame(frame) for ref, frame in tables.items()}
        result = normalise_numbers(run_spark_sql(session, sql, frames, label=label))
        schemas = {ref: arrow_schema(frame) for ref, frame in frames.items()}
        # persisted: its preview, its counts, its checks and its write then run the query
        # once (a join and an aggregate each time otherwise)
        result = unmarked(like_duckdb(result, duckdb_schema(sql, schemas, timezone)))
        return spark_steps.persisted(result)

    def run_sql_windows(
        self,
        query: Any,
        sql: str,
        tables: dict[str, Any],
        windowed: Sequence[str],
        keys: Sequence[str],
        *,
        label: str = "SQL",
        timezone: str = "UTC",
    ) -> Any:
        return unmarked(
            spark_range.run_range(self, query, sql, tables, windowed, keys, timezone, label)
        )

    # -- quality rules: masks are boolean Columns over the frame -------------------------------
    def rule_failures(
        self, frame: Any, rule: Any, reference: Any, function: Any, *, timezone: str = "UTC"
    ) -> Any:
        set_session_zone(self.session(), timezone)
        return spark_rules.failing_rows(
            frame,
            rule,
            self.as_frame(reference) if reference is not None else None,
            function,
            timezone,
        )

    def window_codes(self, frame: Any, keys: Sequence[str | None]) -> Any:
        return WindowCodes(self.as_frame(frame), list(keys))

    def count_by_window(self, codes: Any, mask: Any | None, windows: int) -> list[int]:
        return codes.count(mask, windows)

    def count_masks(
        self, codes: Any, masks: dict[str, Any | None], windows: int
    ) -> dict[str, list[int]]:
        return codes.count_all(masks, windows)

    def combine(self, masks: Sequence[Any], rows: int, *, exclude: Any | None = None) -> Any:
        combined = F.lit(False)
        for mask in masks:
            combined = combined | F.coalesce(mask, F.lit(False))
        if exclude is not None:
            combined = combined & ~F.coalesce(exclude, F.lit(False))
        return combined

    def sample_rows(
        self, frame: Any, mask: Any, columns: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        wanted = [c for c in columns if c in frame.columns]
        rows = spark_rules.flag(frame, mask).where(F.col(spark_rules.FLAG))
        sample = spark_to_arrow(rows.select(*[column(c) for c in wanted]).limit(limit))
        shown = _PANDAS.from_arrow(sample)
        return pandas_rules.sample(shown, np.ones(len(shown), dtype=bool), wanted, limit)

    def sample_masks(
        self, frame: Any, requests: dict[str, tuple[Any, Sequence[str]]], limit: int
    ) -> dict[str, list[dict[str, Any]]]:
        if not requests:
            return {}
        # one job for every sample: the limited branches unioned, split again on the driver
        branches = []
        for index, (mask, columns) in enumerate(requests.values()):
            wanted = [column(c) for c in columns if c in frame.columns]
            rows = spark_rules.flag(frame, mask).where(F.col(spark_rules.FLAG))
            branches.append(rows.select(*wanted, F.lit(index).alias(_SAMPLE)).limit(limit))
        table = spark_to_arrow(
            functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), branches)
        )
        shown = _PANDAS.from_arrow(table)
        samples = {}
        for index, (name, (_, columns)) in enumerate(requests.items()):
            rows = shown[shown[_SAMPLE] == index]
            wanted = [c for c in columns if c in frame.columns]
            samples[name] = pandas_rules.sample(rows, np.ones(len(rows), bool), wanted, limit)
        return samples

    def keep_rows(self, frame: Any, remove: Any) -> Any:
        flagged = spark_rules.flag(frame, remove)
        return flagged.where(~F.col(spark_rules.FLAG)).drop(spark_rules.FLAG)

    def quarantine(
        self,
        frame: Any,
        mask: Any,
        rule: str,
        prefix: str,
        column: str | list[str] | None,
        suffix: str,
    ) -> Any:
        rows = spark_rules.flag(frame, mask).where(F.col(spark_rules.FLAG))
        rows = rows.drop(spark_rules.FLAG)
        return quarantine_rows(rows, rule, prefix, column, suffix)

    def as_text(self, frame: Any) -> Any:
        return spark_text.as_text(self.as_frame(frame))

    def column_types(self, frame: Any) -> dict[str, str]:
        return spark_text.column_types(self.as_frame(frame))

    def newest_by_window(self, frame: Any, column: str, codes: Any, windows: int) -> list[Any]:
        return codes.newest(column, windows)

    def to_pandas(self, frame: Any) -> Any:
        """A pandas copy of the frame: small frames only (GE runs on Spark frames directly)."""
        return _PANDAS.from_arrow(self.to_arrow(frame))

    def call_python(self, function: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Any:
        result = super().call_python(function, inputs, params)
        if isinstance(result, pa.Table):
            return self.from_arrow(result)
        if not isinstance(result, DataFrame):
            name = f"{function.__module__}.{function.__qualname__}"
            raise TransformError(
                f"python transform {name} returned {type(result).__name__}, not a Spark "
                "DataFrame (on the Spark engine a transform receives and returns Spark DataFrames)"
            )
        return unmarked(result)

    # -- warehouse IO: methods below this line belong to engines/spark_io.py --


def _build_session(engine: SparkEngine) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(engine.app_name)
    builder = builder.remote(engine.remote) if engine.remote else builder.master(engine.master)
    for key, value in session_conf(engine).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def session_conf(engine: SparkEngine) -> dict[str, str]:
    """The settings a session is built with: the profile's, and the platform's defaults."""
    conf = dict(engine.conf)
    if engine.remote:
        return conf
    # the console progress bar redraws one line with carriage returns: in a run's compute
    # log and in `dataplat run` output it is noise (the Spark UI shows progress)
    conf.setdefault(CONSOLE_PROGRESS, "false")
    conf.setdefault(CACHE_COMPRESSED, "false")
    for option in JAVA_OPTIONS:  # added to a profile's own options, unless they decide
        given = conf.get(option, "")
        if "DontCompileHugeMethods" not in given:
            conf[option] = f"{given} {COMPILE_HUGE_METHODS}".strip()
    if not all(COMPILE_HUGE_METHODS in conf[option] for option in JAVA_OPTIONS):
        conf.setdefault(HUGE_METHOD_LIMIT, "8000")  # huge methods interpreted: keep them small
    return conf
