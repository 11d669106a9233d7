"""Raw on the Spark engine: landing files read by Spark, lineage columns, counts per window.

Only counts reach the driver (one job counts rows and rejected rows per window); the rows
stay Spark DataFrames until the Spark IO manager writes them. Sources Spark cannot read
(engines/landing/spark_reader.py `unsupported`) are read by the Arrow readers, as on Pandas.
"""

from dataclasses import dataclass
from typing import Any

from dataplat_dagster.engines.base import PARTITION, REASON, RULE
from dataplat_dagster.engines.landing.spark_reader import LandingFile, read_landing
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
) -> SparkLoaded:
    """Read the run's files with Spark; rows get raw's lineage columns."""
    from pyspark.sql import functions as F

    landing = [
        LandingFile(spark_path(file_store, info.path), info.path, key) for info, key in files
    ]
    read = read_landing(spark, source, landing, zone)
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

    table, bad = lineage(read.rows, ()), lineage(read.rejects, (RULE, REASON))
    read_by_window, rejected_by_window = _counts(table, bad, keys)
    return SparkLoaded(table, bad, read_by_window, rejected_by_window)


def _counts(
    table: Any, bad: Any, keys: list[str | None]
) -> tuple[dict[str | None, int], dict[str | None, int]]:
    """Rows and rejected rows per window, in one Spark job."""
    from pyspark.sql import functions as F

    def windows(frame: Any, rejected: int) -> Any:
        window = F.col(PARTITION) if PARTITION in frame.columns else F.lit(None).cast("string")
        return frame.select(window.alias("window"), F.lit(rejected).alias("rejected"))

    rows = windows(table, 0).unionByName(windows(bad, 1)).groupBy("window", "rejected").count()
    read: dict[str | None, int] = dict.fromkeys(keys, 0)
    rejected: dict[str | None, int] = dict.fromkeys(keys, 0)
    for row in rows.collect():
        key = row["window"] if row["window"] is not None else keys[0]
        if key not in read:
            continue
        read[key] += row["count"]
        if row["rejected"]:
            rejected[key] += row["count"]
    return read, rejected
