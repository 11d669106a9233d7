"""Spark reads and writes the warehouse itself: the data never passes through the driver.

Reads: the manifests say which version of each window is current (resources/storage.py);
Spark reads those files straight from the store, and each row's window comes from its file's
folder (`dt=<window>`), so a range of windows is one scan.

Writes: a range of windows is ONE Spark job, `partitionBy(_partition)` into a staging folder
of the table (`<table>/_staging/<write id>/`), whose per-window folders are then moved into
place as each window's new version folder (`dt=<window>/v=<write id>/`, a rename on a local
disk, a server-side copy on S3). The manifests are published only after every window is in
place, under the windows' locks, exactly as the Pandas engine publishes: readers of either
engine see a complete version or the previous one. Rows per window come from the written
files' Parquet footers, not from reading the data back (nor from counting in the job: one
comparison per row and window, 84 per row for a range of months).
"""

import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.engines.spark_frames import arrow_schema, spark_schema
from dataplat_dagster.resources.storage import (
    PARTITION_DIR,
    VERSION_DIR,
    Manifest,
    S3TableStorage,
    StagedWindow,
    StorageWriteError,
    TableStorage,
    WindowProperties,
    WrittenPartition,
    agreed,
    describe,
    unified,
)

STAGING_DIR = "_staging"
_ORDER = "__dataplat_order"  # the frame's row order, kept through the shuffle


class SparkWriteError(RuntimeError):
    """Spark failed writing a table's windows: nothing was published."""


def spark_path(storage: TableStorage, path: str) -> str:
    """A storage path as Spark opens it: `file://` locally, `s3a://` (hadoop-aws) on S3."""
    if isinstance(storage, S3TableStorage):
        return f"s3a://{path}"
    return f"file://{path}"


# -- reading ----------------------------------------------------------------------------------
def read_windows(
    spark: Any,
    storage: TableStorage,
    key_path: Sequence[str],
    partitions: Sequence[str | None],
    *,
    windowed: bool,
    failed_gates: str = "read",
    missing_ok: bool = False,
) -> tuple[Any, list[tuple[str | None, int]]]:
    """The published version of each window as one Spark DataFrame, and rows per window.

    Args:
        spark: the SparkSession.
        storage: the warehouse.
        key_path: the table.
        partitions: the windows (None for an unpartitioned table).
        windowed: add `_partition`, each row's window (taken from its file's folder).
        failed_gates: `read`, `skip` or `refuse` a window that failed its ERROR checks.
        missing_ok: skip windows never written instead of raising.

    Raises:
        MissingPartitionError, FailedGateError: as `TableStorage.read`.
    """
    from pyspark.sql import functions as F

    files, counts, schemas, constants = storage.resolve_with_constants(
        key_path, partitions, missing_ok=missing_ok, failed_gates=failed_gates
    )
    if not files:  # nothing written yet, or every window empty: the schema alone
        schema = unified(schemas) if schemas else pa.schema([])
        frame = spark.createDataFrame(schema.empty_table())
        if windowed:
            frame = frame.withColumn(PARTITION, F.lit(None).cast("string"))
        return _with_known_rows(frame, counts), counts
    reader = spark.read
    if len({s.remove_metadata() for s in schemas}) > 1:  # windows written before a change
        reader = reader.option("mergeSchema", "true")
    elif (known := _stated_schema(schemas[0])) is not None:
        reader = reader.schema(known)  # no job reading every file's footer to infer it
    frame = _constants_as_literals(
        reader.parquet(*[spark_path(storage, f) for f in files]), constants
    )
    if windowed:
        frame = frame.withColumn(PARTITION, _window_of_file(F.col("_metadata.file_path")))
    return _with_known_rows(frame, counts), counts


# Marks a column that holds one value in every row read (metadata of its field): the
# platform's cache (spark_steps.persisted) stores the other columns and adds it back
CONSTANT = "dataplat_constant"


def _constants_as_literals(frame: Any, constants: dict[str, str]) -> Any:
    """Text columns holding one value in every row, as that value instead of read per row.

    Raw's lineage (run, file, host ...) is one value per write: not read, and not stored
    in a cache, it costs nothing (TPC-H lineitem's five lineage columns were a third of
    filling staging's cache at scale factor 1).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    texts = {f.name for f in frame.schema.fields if isinstance(f.dataType, T.StringType)}
    same = {name: value for name, value in constants.items() if name in texts}
    if not same:
        return frame
    return frame.select(
        *[
            constant(name, same[name]) if name in same else F.col(f"`{name}`")
            for name in frame.columns
        ]
    )


def unmarked(frame: Any) -> Any:
    """The frame with no column marked as holding one value (a SQL body's or transform's).

    A mark is a field's metadata, and Spark keeps a column's metadata through operations
    that change its values: a union gives its first input's, an outer join's null rows
    keep it. Only the steps, which do neither, take marked columns on to the cache.
    """
    from pyspark.sql import functions as F

    marked = {f.name for f in frame.schema.fields if CONSTANT in f.metadata}
    if not marked:
        return frame
    return frame.select(
        *[
            F.col(f"`{name}`").alias(name, metadata={}) if name in marked else F.col(f"`{name}`")
            for name in frame.columns
        ]
    )


def constant(name: str, value: str) -> Any:
    """Column `name` holding `value` in every row, marked as such, nullable as read."""
    from pyspark.sql import functions as F

    # `nullif` with nothing, not the bare literal: the column stays nullable, as the files'
    # column was (the optimizer folds it into the literal)
    value_of_every_row = F.nullif(F.lit(value), F.lit(None).cast("string"))
    return value_of_every_row.alias(name, metadata={CONSTANT: value})


# Rows of the frames read above per window, from their manifests: a step counts its inputs'
# rows for its metrics and count audits, and counting them again would be a Spark job each.
# Weak keys: an entry lives as long as its frame (a DataFrame hashes by identity).
_KNOWN_ROWS: "weakref.WeakKeyDictionary[Any, dict[str | None, int]]" = weakref.WeakKeyDictionary()


def _with_known_rows(frame: Any, counts: list[tuple[str | None, int]]) -> Any:
    _KNOWN_ROWS[frame] = {key: rows for key, rows in counts}
    return frame


def known_rows(frame: Any) -> dict[str | None, int] | None:
    """Rows per window of a frame read from the warehouse, as its manifests give them, or None."""
    return _KNOWN_ROWS.get(frame)


def _stated_schema(schema: pa.Schema) -> Any:
    """The files' Spark schema from their manifest, where Spark would infer the same, or None.

    Only types whose Parquet form Spark reads back as `spark_schema` maps them; anything
    else (unsigned integers, null columns, nested types) is left to Spark's inference.
    """
    for field in schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        plain = (
            pa.types.is_string(kind)
            or pa.types.is_signed_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_date32(kind)
            or pa.types.is_decimal(kind)
            or (pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz in (None, "UTC"))
        )
        if not plain or pa.types.is_float16(kind):
            return None
    return spark_schema(
        pa.schema(
            [
                f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                for f in schema
            ]
        )
    )


def _window_of_file(path: Any) -> Any:
    """The window of a data file: its `dt=<window>` folder, percent-decoded.

    Spark gives the file's path as a URI, whose `%` are encoded once more than the
    folder's name (`dt=2024-01-01-00%3A00` becomes `dt=2024-01-01-00%253A00`).
    Evaluated on every row read: the folder is cut out by two substring searches and decoded
    only where it holds an escape (a regular expression and two decodings of every row's
    path took more than reading the rows: TPC-H lineitem at scale factor 1, 5.8 s against
    2.7 s for the read alone, `noop`).
    """
    from pyspark.sql import functions as F

    # the last `/dt=` of the path is the window's folder: storage paths end in
    # `dt=<window>/v=<write id>/<file>`, and a folder name holds no `/`
    folder = F.substring_index(F.substring_index(path, f"/{PARTITION_DIR}=", -1), "/", 1)
    escaped = (F.instr(folder, "%") > 0) | (F.instr(folder, "+") > 0)
    return F.when(escaped, F.url_decode(F.url_decode(folder))).otherwise(folder)


# -- writing ----------------------------------------------------------------------------------
def write_windows(
    storage: TableStorage,
    key_path: Sequence[str],
    frame: Any,
    keys: Sequence[str] | None,
    *,
    write_id: str,
    owner: str,
    failed_checks: dict[str | None, list[str]] | None = None,
    properties: WindowProperties | None = None,
    after_publish: Callable[[list[WrittenPartition], pa.Schema], None] | None = None,
) -> tuple[list[WrittenPartition], pa.Schema]:
    """Write the frame's windows with Spark and publish them, under the windows' locks.

    Args:
        storage: the warehouse.
        key_path: the table.
        frame: a Spark DataFrame; with `_partition` when `keys` is given.
        keys: the windows to write (every one gets a version, an empty one if it has no rows),
            or None for an unpartitioned table.
        write_id: names the version folders.
        owner: who holds the locks (the run id).
        failed_checks: window -> ERROR checks it failed (kept in its manifest).
        properties: window -> what its manifest keeps, or a function of the rows written
            per window giving it once the write job ran (raw's counts of rows read).
        after_publish: the catalogue registration (windows written, their schema), called
            after publishing and before cleanup.

    Returns:
        The windows written, and the Arrow schema of their data.

    Raises:
        SparkWriteError: the Spark job failed; nothing was published.
    """
    windows: list[str | None] = list(keys) if keys is not None else [None]
    with storage.locked(key_path, windows, owner):
        staged, schema = _stage(
            storage, key_path, frame, keys, write_id, failed_checks or {}, properties or {}
        )
        registered = (lambda written: after_publish(written, schema)) if after_publish else None
        return storage.publish_staged(key_path, staged, registered), schema


def _stage(
    storage: TableStorage,
    key_path: Sequence[str],
    frame: Any,
    keys: Sequence[str] | None,
    write_id: str,
    failed_checks: dict[str | None, list[str]],
    properties: WindowProperties,
) -> tuple[list[StagedWindow], pa.Schema]:
    """One Spark job writes every window; each window's folder becomes its version folder."""
    staging = f"{storage.table_path(key_path)}/{STAGING_DIR}/{write_id}"
    try:
        _write_job(storage, frame, keys, staging)
    except Exception as exc:
        storage.remove_folder(staging)
        where = describe(key_path, None) + (f" windows {keys[0]}..{keys[-1]}" if keys else "")
        raise SparkWriteError(
            f"Spark writing {where} to {storage.uri(staging)} failed: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
            "Nothing of this write was published; every window keeps its previous version."
        ) from exc
    version = f"{VERSION_DIR}={write_id}"
    moved: dict[str | None, dict[str, int]] = {}
    try:
        # Spark names each folder `_partition=<value>`, escaped its own (Hive's) way
        folders = {
            window_of_folder(name): f"{staging}/{name}"
            for name in (storage.subfolders(staging) if keys is not None else [])
            if name.startswith(f"{PARTITION}=")
        }
        for window in keys if keys is not None else [None]:
            source = staging if window is None else folders.get(window)
            target = f"{storage.partition_path(key_path, window)}/{version}"
            storage.make_folder(storage.partition_path(key_path, window))
            if source is None:
                moved[window] = {}  # no rows: the manifest alone
                continue
            storage.move_folder(source, target)
            moved[window] = {
                name: size
                for name, size in storage.file_sizes(target).items()
                if name.startswith("part-") and name.endswith(".parquet")
            }
    except OSError as exc:
        raise StorageWriteError(
            f"moving {describe(key_path, None)} from {storage.uri(staging)} into its version "
            f"folders failed: {exc}. Nothing of this write was published."
        ) from exc
    finally:
        storage.remove_folder(staging)
    rows, schema, constants = _footers(storage, key_path, moved, version)
    if callable(properties):  # known once the job ran: raw's counts add the rows written
        properties = properties(rows)
    if schema is None:  # no file written: the frame's own schema
        schema = arrow_schema(frame.drop(PARTITION) if PARTITION in frame.columns else frame)
    written_at = datetime.now(UTC).isoformat()
    staged = []
    for window, files in moved.items():
        manifest = Manifest(
            [f"{version}/{name}" for name in sorted(files)],
            rows.get(window, 0),
            schema,
            written_at,
            write_id,
            tuple(failed_checks.get(window, ())),
            properties.get(window, {}),
            version,
            constants.get(window, {}),
        )
        previous = storage.previous_manifest(key_path, window)
        staged.append((window, manifest, sum(files.values()), previous))
    return staged, schema


def _write_job(storage: TableStorage, frame: Any, keys: Sequence[str] | None, staging: str) -> None:
    """Run the write: one Spark job, every window into its `_partition=` folder of `staging`."""
    from pyspark.sql import functions as F

    # TIMESTAMP_MICROS, not Spark's legacy INT96: pyarrow reads it as timestamp[us, UTC],
    # the type the Pandas engine writes, so each engine reads the other's files alike
    frame.sparkSession.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if keys is None:
        if PARTITION in frame.columns:
            frame = frame.drop(PARTITION)
        frame.write.mode("error").parquet(spark_path(storage, staging))
        return
    window = F.col(PARTITION)
    frame = frame.where(window.isin(list(keys)))  # rows of other windows are not this run's
    if len(keys) >= int(frame.sparkSession.conf.get("spark.sql.shuffle.partitions", "200")):
        # a range of windows: one shuffle by window writes one file per window, not one per
        # task and window (a task of a raw read holds every month of its split); each
        # window keeps the frame's row order. (A few windows are left to every task: one
        # task per window would write them.) Spark drops the shuffle when the frame is
        # partitioned by window already.
        frame = (
            frame.withColumn(_ORDER, F.monotonically_increasing_id())
            .repartition(window)
            .sortWithinPartitions(window, _ORDER)
            .drop(_ORDER)
        )
    frame.write.mode("error").partitionBy(PARTITION).parquet(spark_path(storage, staging))


def _footers(
    storage: TableStorage,
    key_path: Sequence[str],
    moved: dict[str | None, dict[str, int]],
    version: str,
) -> tuple[dict[str | None, int], pa.Schema | None, dict[str | None, dict[str, str]]]:
    """Rows of each window written, the files' Arrow schema and each window's constants.

    From the Parquet footers: each is read once, a few at a time (on S3 each is a request);
    the schema is the first written file's (None when no file was written). A window's
    constants are its text columns whose statistics give one value and no null in every
    row group of every file (`_constants_of`).
    """
    paths = [
        (window, f"{storage.partition_path(key_path, window)}/{version}/{name}")
        for window, files in moved.items()
        for name in sorted(files)
    ]

    def footer(path: str) -> tuple[int, pa.Schema, dict[str, str]]:
        with storage.fs.open_input_file(path) as source:
            metadata = pq.ParquetFile(source).metadata
            schema = metadata.schema.to_arrow_schema().remove_metadata()
            return metadata.num_rows, schema, _constants_of(metadata, schema)

    rows, schema = dict.fromkeys(moved, 0), None
    constants: dict[str | None, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        read = pool.map(footer, [path for _, path in paths])
        for (window, _), (count, file_schema, file_constants) in zip(paths, read, strict=True):
            rows[window] += count
            schema = file_schema if schema is None else schema
            # kept where every file of the window holds the same value
            constants[window] = agreed(constants.get(window), file_constants)
    return rows, schema, constants


def _constants_of(metadata: Any, schema: pa.Schema) -> dict[str, str]:
    """The top-level text columns of a Parquet file holding one value, by their statistics.

    A column counts only where every row group states its minimum and maximum, they are
    equal (compared as bytes) and it has no null; a file without rows, or with nested
    columns (whose leaves are not its fields one to one), has none.
    """
    if metadata.num_rows == 0 or metadata.num_columns != len(schema):
        return {}
    found: dict[str, str] = {}
    for index, field in enumerate(schema):
        if not pa.types.is_string(field.type):
            continue
        values = set()
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if (
                stats is None
                or not stats.has_min_max
                or not stats.has_null_count
                or stats.null_count
                or stats.min_raw != stats.max_raw
            ):
                break
            values.add(stats.min)
        else:
            if len(values) == 1:
                found[field.name] = values.pop()
    return found


def window_of_folder(name: str) -> str:
    """The window of a Spark partition folder name (`_partition=<escaped>`)."""
    return unquote(name.split("=", 1)[1])
