"""Raw on the Spark engine: landing files read by Spark, lineage columns, counts per window.

Only counts reach the driver (one job counts rows and rejected rows per window); the rows
stay Spark DataFrames until the Spark IO manager writes them. A file of many windows gets
each row's window from its date column in Spark (engines/spark_windows.py); the same job
also finds the dates' range, which places rows without a date as the Arrow path does.
Sources Spark cannot read (engines/landing/spark_reader.py `unsupported`) are read by the
Arrow readers, as on Pandas.
"""

from dataclasses import dataclass
from typing import Any

from dataplat_dagster.engines.base import PARTITION, REASON, RULE
from dataplat_dagster.engines.landing.spark_reader import (
    LandingFile,
    SparkLandingRead,
    read_landing,
)
from dataplat_dagster.engines.spark_windows import RANGE, WHEN, DateWindows
from dataplat_dagster.resources.file_store import FileInfo, FileStore, S3FileStore

# raw's lineage columns after the file's own and `_source_row`, in raw.py's order
LINEAGE = (
    "_load_ts",
    "_source_system",
    "_source_file",
    "_source_host",
    "_extraction_method",
    "_run_id",
)


@dataclass
class SparkLoaded:
    """The files of a run read by Spark, and what the run reports of them."""

    table: Any
    bad: Any
    read_by_window: dict[str | None, int]  # rows and rejected rows: what the count audit sees
    rejected_by_window: dict[str | None, int]
    cached: Any = None  # every line read, parsed once for the counts and both writes

    def release(self) -> None:
        """Free the parsed lines once both frames are written."""
        if self.cached is not None:
            self.cached.unpersist()

    @property
    def rows_in(self) -> int:
        return sum(self.read_by_window.values())


def spark_path(file_store: FileStore, path: str) -> str:
    """Where Spark opens a landing file: `file://` locally, `s3a://` (hadoop-aws) on S3."""
    _, root = file_store.arrow_filesystem()
    scheme = "s3a://" if isinstance(file_store, S3FileStore) else "file://"
    return f"{scheme}{root.rstrip('/')}/{path}"


def load_with_spark(
    spark: Any,
    source: Any,
    files: list[tuple[FileInfo, str | None]],
    keys: list[str | None],
    bronze: dict[str, Any],
    file_store: FileStore,
    zone: str,
    dated: DateWindows | None = None,
) -> SparkLoaded:
    """Read the run's files with Spark; rows get raw's lineage columns.

    `dated`: the rows of a file of many windows find their window by this date column.
    """
    from pyspark.sql import functions as F

    landing = [
        LandingFile(spark_path(file_store, info.path), info.path, key) for info, key in files
    ]
    read = read_landing(spark, source, landing, zone, dated)
    read.read.persist()  # filled by the counting job, read again by the two writes
    rows, rejects = read.rows, read.rejects
    counted = None
    if dated is not None:
        rows, rejects, counted = _windowed(read, dated)
    constants = {
        "_load_ts": F.lit(bronze["_load_ts"]).cast("timestamp"),
        "_source_system": F.lit(bronze["_source_system"]),
        "_source_file": F.col("_source_file"),
        "_source_host": F.lit(bronze["_source_host"]),
        "_extraction_method": F.lit(bronze["_extraction_method"]),
        "_run_id": F.lit(bronze["_run_id"]),
    }

    def lineage(frame: Any, tail: tuple[str, ...]) -> Any:
        own = [c for c in frame.columns if c not in (*LINEAGE, PARTITION, *tail)]
        window = [F.col(PARTITION)] if PARTITION in frame.columns else []
        return frame.select(
            *own, *[v.alias(k) for k, v in constants.items()], *window, *[F.col(c) for c in tail]
        )

    table, bad = lineage(rows, ()), lineage(rejects, (RULE, REASON))
    read_by_window, rejected_by_window = counted or _counts(read.read, keys)
    return SparkLoaded(table, bad, read_by_window, rejected_by_window, read.read)


def _windowed(
    read: SparkLandingRead, dated: DateWindows
) -> tuple[Any, Any, tuple[dict[str | None, int], dict[str | None, int]]]:
    """Rows and rejected rows with their windows, and both counted per window: one job.

    The job counts each (rejected?, range, window) and finds each range's first and last
    date; rows without a date then go where `assign_windows` puts them, and count there.
    It reads every line once (`read.read`: rows and rejected rows are both filters of it).
    """
    from pyspark.sql import functions as F

    when = F.col(WHEN)
    window = dated.window_of(when)
    groups = (
        read.read.select(
            F.col(RULE).isNotNull().cast("int").alias("rejected"),
            RANGE,
            window.alias("window"),
            when.alias("when"),
        )
        .groupBy("rejected", RANGE, "window", F.col("when").isNull().alias("dateless"))
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.min("when").alias("low"),
            F.max("when").alias("high"),
        )
        .collect()
    )
    null_keys = {}
    for side in (0, 1):  # the table's dates, the rejected rows' dates: as by_column does
        dates = [g for g in groups if g[RANGE] == side and not g["dateless"]]
        low = min((g["low"] for g in dates), default=None)
        high = max((g["high"] for g in dates), default=None)
        null_keys[side] = dated.null_window(low, high)
    counts: dict[str | None, int] = dict.fromkeys(dated.keys, 0)
    rejected: dict[str | None, int] = dict.fromkeys(dated.keys, 0)
    for group in groups:
        key = null_keys[group[RANGE]] if group["dateless"] else group["window"]
        if key in counts:
            counts[key] += group["count"]
            rejected[key] += group["count"] if group["rejected"] else 0
    final = (
        F.when(when.isNull() & (F.col(RANGE) == 0), F.lit(null_keys[0]).cast("string"))
        .when(when.isNull(), F.lit(null_keys[1]).cast("string"))
        .otherwise(window)
    )

    def placed(frame: Any) -> Any:
        framed = frame.withColumn(PARTITION, final).where(F.col(PARTITION).isNotNull())
        return framed.drop(WHEN, RANGE)

    return placed(read.rows), placed(read.rejects), (counts, rejected)


def _counts(
    read: Any, keys: list[str | None]
) -> tuple[dict[str | None, int], dict[str | None, int]]:
    """Rows and rejected rows per window, in one Spark job over every line read."""
    from pyspark.sql import functions as F

    rows = read.groupBy(
        F.col(PARTITION).alias("window"), F.col(RULE).isNotNull().alias("rejected")
    ).count()
    counted: dict[str | None, int] = dict.fromkeys(keys, 0)
    rejected: dict[str | None, int] = dict.fromkeys(keys, 0)
    for row in rows.collect():
        key = row["window"] if row["window"] is not None else keys[0]
        if key not in counted:
            continue
        counted[key] += row["count"]
        if row["rejected"]:
            rejected[key] += row["count"]
    return counted, rejected
