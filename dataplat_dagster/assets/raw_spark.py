"""Raw on the Spark engine: landing files read by Spark, lineage columns, counts per window.

Only counts reach the driver; the rows stay Spark DataFrames until the Spark IO manager
writes them. A file of many windows gets each row's window from its date column in Spark
(engines/spark_windows.py); the counts also find the dates' range, which places rows
without a date as the Arrow path does.

Two ways to count: a table with checks needs its counts before publication (its gate judges
them), so one job counts rows and rejected rows per window first and caches the parsed lines
for the writes (`load_with_spark`); a table without checks counts them during the table's
write (`load_observed`: an `Observation` of every line read, in the write job), and its
quarantine is placed once those counts are known. Sources Spark cannot read
(engines/landing/spark_reader.py `unsupported`) are read by the Arrow readers, as on Pandas.
"""

import uuid
from dataclasses import dataclass, field
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
    """Read the run's files with Spark; rows get raw's lineage columns; counted first.

    `dated`: the rows of a file of many windows find their window by this date column.
    """
    read = _read(spark, source, files, file_store, zone, dated)
    read.read.persist()  # filled by the counting job, read again by the two writes
    rows, rejects = read.rows, read.rejects
    counted = None
    if dated is not None:
        rows, rejects, counted = _windowed(read, dated)
    lineage = _lineage(bronze)
    table, bad = lineage(rows, ()), lineage(rejects, (RULE, REASON))
    read_by_window, rejected_by_window = counted or _counts(read.read, keys)
    return SparkLoaded(table, bad, read_by_window, rejected_by_window, read.read)


@dataclass
class ObservedLoad:
    """The files of a run read by Spark, counted by the job that writes `table`.

    `table` carries an `Observation` of every line read: its write job counts the rejected
    rows (and the dates' range) on the way; the rows of each window are the written
    files' (their footers), which the Spark writer hands to `counts` first. Read
    the counts and the rejected rows (`bad()`, placed by those counts) only after it ran.
    `plain` is the same table without the observation, for anything but the write (its
    schema): any other job over `table` would take the observation's place. The table's
    preview is read back from the written files (raw_observed.py).
    """

    table: Any
    plain: Any
    read: SparkLandingRead  # the lines as parsed
    _tally: "_Tally"
    _lineage: Any
    _counted: tuple[dict[str | None, int], dict[str | None, int]] | None = field(
        default=None, init=False
    )
    _bad: Any = field(default=None, init=False)  # the rejected rows, cached once counted

    def counts(
        self, written: dict[str | None, int] | None = None
    ) -> tuple[dict[str | None, int], dict[str | None, int]]:
        """Rows and rejected rows read per window, as `load_with_spark` counts them.

        `written`: the table's rows per window (its files' footers), which the first call,
        once the table is written, gives: a line read is a row written or a rejected row.
        Where the write job saw rejected rows, they are read once more here, cached and
        counted by window: the quarantine's write reads them from that cache.
        """
        if self._counted is None:
            if written is None:
                raise RuntimeError("raw's counts are known once its table is written")
            rejected: dict[str | None, int] = dict.fromkeys(self._tally.keys, 0)
            if self._tally.rejected():
                self._bad = self._placed_bad().persist()
                for window, count in _by_window(self._bad, self._tally.keys).items():
                    rejected[window] += count
            counts = {key: written.get(key, 0) + rejected[key] for key in self._tally.keys}
            self._counted = counts, rejected
        return self._counted

    def bad(self) -> Any:
        """The rejected rows with their windows and lineage (once the table is written)."""
        return self._bad if self._bad is not None else self._placed_bad()

    def release(self) -> None:
        """Free the cached rejected rows once the quarantine is written."""
        if self._bad is not None:
            self._bad.unpersist()

    def _placed_bad(self) -> Any:
        rejects = self.read.rejects
        if self._tally.dated is not None:
            rejects = _placed(rejects, self._tally.dated, self._tally.null_keys())
        return self._lineage(rejects, (RULE, REASON))


def load_observed(
    spark: Any,
    source: Any,
    files: list[tuple[FileInfo, str | None]],
    keys: list[str | None],
    bronze: dict[str, Any],
    file_store: FileStore,
    zone: str,
    dated: DateWindows | None = None,
) -> ObservedLoad:
    """Read the run's files with Spark, to be counted during the table's write.

    No cache and no counting job: the table's write job parses every line once and counts
    them (see `ObservedLoad`; rejected rows are read again, once, where there are any).
    For a table without checks: nothing needs the counts before the table is published.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    read = _read(spark, source, files, file_store, zone, dated)
    lineage = _lineage(bronze)
    tally = _Tally(Observation(f"dataplat_raw_{uuid.uuid4().hex}"), keys, dated)
    marked = read.read
    if dated is not None:  # a row's window, computed once for the table's `_partition`
        marked = marked.withColumn(_WINDOW, dated.window_of(F.col(WHEN)))
    observed = marked.observe(tally.observation, *tally.metrics())

    own = [c for c in read.rows.columns if c not in (WHEN, RANGE, PARTITION)]
    windowed = dated is not None or PARTITION in read.rows.columns

    def table_of(frame: Any) -> Any:
        rows = frame.where(F.col(RULE).isNull())
        if dated is not None:  # a row's date is inside the declared windows: no null to place
            rows = rows.where(F.col(_WINDOW).isNotNull()).withColumn(PARTITION, F.col(_WINDOW))
        return lineage(rows.select(*own, *([PARTITION] if windowed else [])), ())

    return ObservedLoad(table_of(observed), table_of(marked), read, tally, lineage)


_WINDOW = "__dataplat_window"  # a dated row's window (before placing dateless rows)


@dataclass
class _Tally:
    """What the write job observes over every line read: rejected lines, dates' range."""

    observation: Any
    keys: list[str | None]
    dated: DateWindows | None

    def metrics(self) -> list[Any]:
        """Rejected lines, and the dates' range of each side.

        Rejected lines only: the rows per window are the table's, from its files' footers
        (`counts`), and the rejected rows per window are counted apart, when there are any
        (`ObservedLoad.counts`). A count of every line per window was one comparison per
        line and window (84 per line for a range of months, as long as the parse itself);
        a count of the rejected lines per window still cost a sixth of the parse.
        """
        from pyspark.sql import functions as F

        found = [F.count_if(F.col(RULE).isNotNull()).alias("rejected")]
        if self.dated is not None:
            when = F.col(WHEN)
            for side in (0, 1):  # the table's dates, the rejected rows' dates: as `_windowed`
                on_side = F.col(RANGE) == side
                # a line without a date is rejected (`partition`, or it did not parse)
                found += [
                    F.min(F.when(on_side, when)).alias(f"low{side}"),
                    F.max(F.when(on_side, when)).alias(f"high{side}"),
                    F.count_if(on_side & when.isNull()).alias(f"dateless{side}"),
                ]
        return found

    def null_keys(self) -> dict[int, str | None]:
        """Where rows without a date go, by their side (table 0, rejected on reading 1)."""
        assert self.dated is not None
        got = self.observation.get
        return {s: self.dated.null_window(got[f"low{s}"], got[f"high{s}"]) for s in (0, 1)}

    def rejected(self) -> int:
        """The rejected lines the write job saw."""
        return int(self.observation.get["rejected"])


def _by_window(bad: Any, keys: list[str | None]) -> dict[str | None, int]:
    """Rejected rows per window of `keys`; a row without a window counts in the first."""
    from pyspark.sql import functions as F

    if PARTITION not in bad.columns:
        return {keys[0]: bad.count()}
    counted: dict[str | None, int] = {}
    for row in bad.groupBy(F.col(PARTITION).alias("window")).count().collect():
        key = row["window"] if row["window"] is not None else keys[0]
        if key in keys:
            counted[key] = counted.get(key, 0) + row["count"]
    return counted


def _read(
    spark: Any,
    source: Any,
    files: list[tuple[FileInfo, str | None]],
    file_store: FileStore,
    zone: str,
    dated: DateWindows | None,
) -> SparkLandingRead:
    landing = [
        LandingFile(spark_path(file_store, info.path), info.path, key) for info, key in files
    ]
    return read_landing(spark, source, landing, zone, dated)


def _lineage(bronze: dict[str, Any]) -> Any:
    """Adds raw's lineage columns to a frame: (frame, columns kept last) -> frame."""
    from pyspark.sql import functions as F

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

    return lineage


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
    placed = _placed(read.rows, dated, null_keys), _placed(read.rejects, dated, null_keys)
    return *placed, (counts, rejected)


def _placed(frame: Any, dated: DateWindows, null_keys: dict[int, str | None]) -> Any:
    """Each row in its window, a row without a date where `null_keys` puts its side's."""
    from pyspark.sql import functions as F

    when = F.col(WHEN)
    final = (
        F.when(when.isNull() & (F.col(RANGE) == 0), F.lit(null_keys[0]).cast("string"))
        .when(when.isNull(), F.lit(null_keys[1]).cast("string"))
        .otherwise(dated.window_of(when))
    )
    framed = frame.withColumn(PARTITION, final).where(F.col(PARTITION).isNotNull())
    return framed.drop(WHEN, RANGE)


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
