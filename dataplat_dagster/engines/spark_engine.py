"""The Spark engine: frames are pyspark DataFrames (classic or Spark Connect).

Only the public DataFrame and functions API is used (no RDDs, no JVM handles), so the same
code runs on `local[*]`, on a cluster and through a Spark Connect endpoint. Data stays in
Spark: rule masks are boolean Column expressions over the frame, and only counts, samples
and previews come back to the driver.
"""

import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import Engine, StepOutcome
from dataplat_dagster.engines.spark_frames import arrow_to_spark, spark_to_arrow

_lock = threading.Lock()  # two steps of a run asking for the session at once get the same one
_sessions: dict[tuple[Any, ...], Any] = {}


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
        return frame.num_rows if isinstance(frame, pa.Table) else frame.count()

    def column_names(self, frame: Any) -> list[str]:
        return list(frame.column_names) if isinstance(frame, pa.Table) else list(frame.columns)

    def head(self, frame: Any, rows: int) -> pa.Table:
        if isinstance(frame, pa.Table):
            return frame.slice(0, rows)
        return spark_to_arrow(frame.limit(rows))

    # -- partitions ---------------------------------------------------------------------------
    def split(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
        raise NotImplementedError

    def slices(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
        raise NotImplementedError

    def with_partition(self, frame: Any, key: str) -> Any:
        raise NotImplementedError

    def concat(self, frames: Sequence[Any]) -> Any:
        raise NotImplementedError

    def by_window(self, frame: Any, keys: Sequence[str], *, label: str) -> Any:
        raise NotImplementedError

    def drop_columns(self, frame: Any, names: Sequence[str]) -> Any:
        present = [name for name in names if name in frame.columns]
        return frame.drop(*present) if present else frame

    def no_rows(self, frame: Any, text_columns: Sequence[str] = ()) -> Any:
        raise NotImplementedError

    # -- work -------------------------------------------------------------------------------
    def apply_steps(
        self, frame: Any, steps: Sequence[Step], *, label: str, timezone: str = "UTC"
    ) -> StepOutcome:
        raise NotImplementedError

    def run_sql(
        self, sql: str, tables: dict[str, Any], *, label: str = "SQL", timezone: str = "UTC"
    ) -> Any:
        raise NotImplementedError

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
        raise NotImplementedError

    # -- quality rules --------------------------------------------------------------------------
    def rule_failures(
        self, frame: Any, rule: Any, reference: Any, function: Any, *, timezone: str = "UTC"
    ) -> Any:
        raise NotImplementedError

    def window_codes(self, frame: Any, keys: Sequence[str | None]) -> Any:
        raise NotImplementedError

    def count_by_window(self, codes: Any, mask: Any | None, windows: int) -> list[int]:
        raise NotImplementedError

    def combine(self, masks: Sequence[Any], rows: int, *, exclude: Any | None = None) -> Any:
        raise NotImplementedError

    def sample_rows(
        self, frame: Any, mask: Any, columns: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def keep_rows(self, frame: Any, remove: Any) -> Any:
        raise NotImplementedError

    def quarantine(
        self,
        frame: Any,
        mask: Any,
        rule: str,
        prefix: str,
        column: str | list[str] | None,
        suffix: str,
    ) -> Any:
        raise NotImplementedError

    def as_text(self, frame: Any) -> Any:
        raise NotImplementedError

    def column_types(self, frame: Any) -> dict[str, str]:
        raise NotImplementedError

    def newest_by_window(self, frame: Any, column: str, codes: Any, windows: int) -> list[Any]:
        raise NotImplementedError

    def to_pandas(self, frame: Any) -> Any:
        raise NotImplementedError

    # -- warehouse IO: methods below this line belong to engines/spark_io.py --


def _build_session(engine: SparkEngine) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(engine.app_name)
    builder = builder.remote(engine.remote) if engine.remote else builder.master(engine.master)
    for key, value in engine.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
