"""Landing files read by Spark: CSV, JSON lines and Parquet, with the declared schema.

The text formats are read as lines, split across tasks, and every line keeps its number in
its file (`_lines`) and becomes a row or a rejected row;
values are then parsed (`from_csv`, `from_json`) and converted to their declared types by
the landing rules (engines/spark_casts.py). Parquet files are read with their row index.
Rejected rows carry the file, the line and the reason, as the Pandas readers write them.

What Spark cannot do here, and the Arrow readers (engines/landing/) still do for a Spark
table: files in an encoding other than UTF-8, CSV values holding line breaks
(`newlines_in_values`), CSV files whose header is not the declared columns in their order,
and a `partition_column` Spark cannot assign windows from (engines/spark_windows.py `why_not`)
or that checks files of a `{date}` path. `unsupported` names the reason and
raw reads those runs with the Arrow readers.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.base import PARTITION, REASON, RULE
from dataplat_dagster.engines.spark_windows import RANGE, WHEN, DateWindows, why_not

LINE = "_source_row"
FILE = "_source_file"
_UTF8 = {"utf-8", "utf8", "utf_8", "ascii", "us-ascii"}


@dataclass(frozen=True)
class LandingFile:
    """A file to read: where Spark opens it, how reasons name it, the window it fills."""

    spark_path: str
    label: str
    window: str | None


@dataclass
class SparkLandingRead:
    """The typed rows and the rejected rows (as text) of every file, as Spark DataFrames.

    Both select from `read`, one frame of every line read: persisting it parses the files
    once for the several jobs that use them (counts, then the writes of each).
    """

    rows: Any
    rejects: Any
    read: Any


def unsupported(source: LandingSource, windows: Any = None) -> str | None:
    """Why Spark cannot read this source's files (the Arrow readers then do), or None.

    `windows`: the table's partitions definition, for a source with a `partition_column`.
    """
    if source.partition_column:
        if source.has_date_in_path:
            return "rows are checked against their file's window by partition_column"
        why = why_not(windows, source.schema_[source.partition_column].type)
        if why:
            return f"rows find their window by partition_column: {why}"
    if source.format == "csv":
        if source.csv.encoding.lower() not in _UTF8:
            return f"the files are {source.csv.encoding}, and Spark reads text as UTF-8"
        if source.csv.newlines_in_values:
            return "CSV values may hold line breaks (csv.newlines_in_values)"
    return None


def read_landing(
    spark: Any,
    source: LandingSource,
    files: Sequence[LandingFile],
    zone: str,
    dated: DateWindows | None = None,
) -> SparkLandingRead:
    """Read `files` of `source`; `zone` is the zone of timestamps written without an offset.

    Rows have the declared columns, `_source_row`, `_source_file` and `_partition` (when the
    files have windows); rejected rows the same as text plus `_dq_rule` and `_dq_reason`.
    With `dated` (a file of many windows), a row whose date is null or outside the declared
    windows is rejected (rule `partition`), and both frames keep the row's date (`WHEN`) and
    whether it was read as a row (`RANGE` 0) for engines/spark_windows.py to window them.
    """
    if source.format == "parquet":
        values = _parquet_values(spark, source, files)
    else:
        lines = _lines(spark, source, files)
        values = (
            _csv_values(source, lines) if source.format == "csv" else _json_values(source, lines)
        )
    return _typed(spark, source, values, files, zone, dated)


def _file_key(path: Any) -> Any:
    """A file's path as Spark reports it, without its scheme and URI encoding."""
    from pyspark.sql import functions as F

    decoded = F.url_decode(F.regexp_replace(path, r"\+", "%2B"))
    return F.regexp_replace(decoded, r"^[A-Za-z0-9]+:/*", "")


def _plain_key(spark_path: str) -> str:
    return re.sub(r"^[A-Za-z0-9]+:/*", "", spark_path)


def _labels(files: Sequence[LandingFile], attribute: str) -> Any:
    """A map from each file's key to its label or window, applied to `_metadata.file_path`."""
    from pyspark.sql import functions as F

    pairs = [
        item
        for file in files
        for item in (F.lit(_plain_key(file.spark_path)), F.lit(getattr(file, attribute)))
    ]
    return F.create_map(*pairs)[_file_key(F.col("_metadata.file_path"))]


def _labels_by_path(files: Sequence[LandingFile], paths: Sequence[str], attribute: str) -> Any:
    """As `_labels`, keyed by the paths as Spark reports them (no decoding per row)."""
    from pyspark.sql import functions as F

    by_key = {_plain_key(file.spark_path): getattr(file, attribute) for file in files}
    pairs = [
        item
        for path in paths
        for item in (F.lit(path), F.lit(by_key.get(_driver_file_key(path))).cast("string"))
    ]
    return F.create_map(*pairs)[F.col(_PATH)] if pairs else F.lit(None).cast("string")


def _driver_file_key(path: str) -> str:
    """`_file_key` of one path, on the driver: `+` kept, `%XX` decoded, the scheme removed."""
    return _plain_key(unquote(path))


def _lines(spark: Any, source: LandingSource, files: Sequence[LandingFile]) -> Any:
    """Every non-blank data line: (file label, window, line number, text).

    The files are read as lines, split across tasks. A line's number is its position in its
    block (the ids Spark gives rows are consecutive within a task) plus the lines of the
    blocks before it in its file, counted by one small job first (`_block_bases`). Of
    several files, that job also finds the paths as Spark reports them: labels and windows
    are looked up by those, not by decoding each row's path (regular expressions per row
    were most of that job).
    """
    from pyspark.sql import functions as F

    text = spark.read.text([f.spark_path for f in files])
    located = text.select(
        F.col("_metadata.file_path").alias(_PATH),
        F.col("_metadata.file_block_start").alias(_START),
        F.monotonically_increasing_id().alias(_ID),
        F.col("value").alias("line"),
    )
    if len(files) == 1:
        # one file (a large one, split into blocks): its blocks are told apart by their
        # start, and its label and window are constants; neither the counting job nor the
        # rows look at the path (hashing and comparing it was most of that job's time)
        bases = _block_bases(located.withColumn(_PATH, F.lit("")))
        pairs = [
            item
            for (_, start), base in bases.items()
            for item in (F.lit(start).cast("long"), F.lit(base).cast("long"))
        ]
        base = F.create_map(*pairs)[F.col(_START)] if pairs else F.lit(0)
        label = F.lit(files[0].label).cast("string")
        window = F.lit(files[0].window).cast("string")
    else:
        bases = _block_bases(located)
        paths = sorted({path for path, _ in bases})
        block = F.concat_ws("#", F.col(_PATH), F.col(_START).cast("string"))
        pairs = [
            item
            for (path, start), base in bases.items()
            for item in (F.lit(f"{path}#{start}"), F.lit(base))
        ]
        base = F.create_map(*pairs)[block] if pairs else F.lit(0)
        label = _labels_by_path(files, paths, "label")
        window = _labels_by_path(files, paths, "window")
    line = F.col("line")
    numbered = located.select(
        label.alias(FILE),
        window.alias(PARTITION),
        (F.col(_ID) + base + 1).cast("long").alias(LINE),
        # a byte order mark starts a file's first line only: no regex over every line
        F.when(line.startswith("\ufeff"), line.substr(F.lit(2), F.length(line)))
        .otherwise(line)
        .alias("line"),
    )
    blank = F.trim(F.col("line")) == "" if source.format == "jsonl" else F.col("line") == ""
    data = numbered.where(~blank)
    if source.format == "csv" and source.csv.header:
        data = data.where(F.col(LINE) > 1)
    return data


def _block_bases(located: Any) -> dict[tuple[str, int], int]:
    """For each block (path, start): its file's earlier blocks' lines minus its first id.

    The paths are as Spark reports them, the keys of the labels and windows.
    """
    from pyspark.sql import functions as F

    blocks = located.groupBy(_PATH, _START).agg(
        F.count(F.lit(1)).alias("lines"), F.min(_ID).alias("first")
    )
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for row in blocks.collect():
        by_file.setdefault(row[_PATH], []).append((int(row[_START]), row["lines"], row["first"]))
    bases = {}
    for path, parts in by_file.items():
        before = 0
        for start, lines, first in sorted(parts):
            bases[(path, start)] = before - first
            before += lines
    return bases


_PATH = "__dataplat_path"  # a file's path as Spark reports it
_START = "__dataplat_start"  # the offset of the block a task read
_ID = "__dataplat_id"


def _csv_values(source: LandingSource, lines: Any) -> Any:
    """The declared columns as text, and the reason of a line with the wrong field count."""
    from pyspark.sql import functions as F

    names = list(source.schema_)
    options = source.csv
    # a line whose field count is not the schema's is a malformed record to Spark's CSV
    # parser: it keeps the line in this extra field. Counting every line's delimiters
    # (outside quotes) to find those took as long as the split itself; the count is now
    # made for those lines only, for the reason
    ddl = ", ".join([*(f"`c{i}` STRING" for i in range(len(names))), f"`{_UNSPLIT}` STRING"])
    parsed = F.from_csv(
        F.col("line"),
        ddl,
        {
            "sep": options.delimiter,
            "quote": options.quote,
            "escape": options.quote,
            "columnNameOfCorruptRecord": _UNSPLIT,
        },
    )
    fields = [parsed[f"c{i}"] for i in range(len(names))]
    nulls = list(options.null_values)
    columns = [
        F.when(fields[i].isin(nulls), F.lit(None).cast("string")).otherwise(fields[i]).alias(name)
        for i, name in enumerate(names)
    ]
    bad = F.when(parsed[_UNSPLIT].isNotNull(), _field_count_reason(options, len(names)))
    return lines.select(FILE, PARTITION, LINE, *columns, bad.alias("_unread"))


_UNSPLIT = "__dataplat_unsplit"  # the line, where its fields are not the schema's


def _field_count_reason(options: Any, expected: int) -> Any:
    """Why a line was not split into `expected` fields (worded as the Arrow reader's).

    An odd number of quotes: one opened and not closed, which the Arrow reader reports as
    a record running into the next lines (how many it cannot say here, line by line).
    Otherwise the fields found: the line's delimiters outside quotes, plus one.
    """
    from pyspark.sql import functions as F

    line, quote = F.col("line"), options.quote
    quotes = F.length(line) - F.length(F.replace(line, F.lit(quote), F.lit("")))
    unquoted = F.regexp_replace(
        line, f"{re.escape(quote)}[^{re.escape(quote)}]*{re.escape(quote)}", ""
    )
    delimiters = F.length(unquoted) - F.length(
        F.replace(unquoted, F.lit(options.delimiter), F.lit(""))
    )
    found = (delimiters / len(options.delimiter)).cast("int") + 1
    shown = F.concat(F.lit(": '"), line, F.lit("'"))
    return F.when(
        (quotes / len(quote)).cast("int") % 2 == 1,
        F.concat(
            F.lit(
                "a quote opened on this line is not closed on it; the line is quarantined "
                "alone and the lines after it are read (declare csv.newlines_in_values: true "
                "if values hold line breaks)"
            ),
            shown,
        ),
    ).otherwise(F.concat(F.lit(f"expected {expected} fields, found "), found.cast("string"), shown))


def _json_values(source: LandingSource, lines: Any) -> Any:
    """The declared fields as text (numbers as written); a line not an object is unread."""
    from pyspark.sql import functions as F

    names = list(source.schema_)
    ddl = ", ".join(f"`{name}` STRING" for name in names)
    parsed = F.from_json(F.col("line"), ddl, {"mode": "PERMISSIVE"})
    is_object = F.col("line").rlike(r"^\s*\{") & parsed.isNotNull()
    bad = F.when(
        ~is_object,
        F.concat(F.lit("not a JSON object: '"), F.substring(F.col("line"), 1, 80), F.lit("'")),
    )
    columns = [parsed[name].alias(name) for name in names]
    return lines.select(FILE, PARTITION, LINE, *columns, bad.alias("_unread"))


def _parquet_values(spark: Any, source: LandingSource, files: Sequence[LandingFile]) -> Any:
    from pyspark.sql import functions as F

    frame = spark.read.parquet(*[f.spark_path for f in files])
    return frame.select(
        _labels(files, "label").alias(FILE),
        _labels(files, "window").alias(PARTITION),
        (F.col("_metadata.row_index") + 1).cast("long").alias(LINE),
        *[F.col(f"`{name}`") for name in source.schema_],
        F.lit(None).cast("string").alias("_unread"),
    )


def _typed(
    spark: Any,
    source: LandingSource,
    values: Any,
    files: Sequence[LandingFile],
    zone: str,
    dated: DateWindows | None = None,
) -> SparkLandingRead:
    """Declared types by the landing rules; the first failing column names the reason."""
    from pyspark.sql import functions as F

    from dataplat_dagster.engines.spark_casts import (
        SPARK_TYPES,
        convert,
        java_pattern,
        parse_timestamps,
    )

    # each value converted once, into a column of its own: the expressions below refer to it
    # (left inline, the conversion ran again for the reason, the row and the rejected row)
    conversions = {}
    for index, (name, spec) in enumerate(source.schema_.items()):
        column = F.col(f"`{name}`")
        if spec.format and spec.type == "date":
            wall = F.try_to_timestamp(F.trim(column), F.lit(java_pattern(spec.format)))
            value, failed = F.to_date(wall), column.isNotNull() & wall.isNull()
        elif spec.format:
            value, failed = parse_timestamps(column, spec.type, spec.timezone or zone, spec.format)
        else:
            field = values.schema[name].dataType
            value, failed = convert(column, field, spec.type, spec.timezone or zone)
        conversions[name] = (
            value.alias(f"__dataplat_v{index}"),
            failed.alias(f"__dataplat_f{index}"),
        )
    values = values.select("*", *[part for pair in conversions.values() for part in pair])
    converted, shown, invalid, missing = {}, {}, [], []
    for index, (name, spec) in enumerate(source.schema_.items()):
        column = F.col(f"`{name}`")
        value, failed = F.col(f"__dataplat_v{index}"), F.col(f"__dataplat_f{index}")
        converted[name] = value.cast(SPARK_TYPES[spec.type])
        shown[name] = _as_read(column, converted[name], failed, spec)
        suffix = f" (format {spec.format})" if spec.format else ""
        text = F.coalesce(column.cast("string"), F.lit("None"))
        invalid.append(
            F.when(
                F.coalesce(failed, F.lit(False)),
                F.concat(F.lit(f"{name}: '"), text, F.lit(f"' is not a valid {spec.type}{suffix}")),
            )
        )
        if not spec.nullable:  # checked on rows whose values all converted, as Pandas does
            missing.append(
                F.when(value.isNull(), F.lit(f"{name}: null in a column declared nullable: false"))
            )
    parse = F.coalesce(F.col("_unread"), *invalid, *missing)
    rule, why, kept = F.when(parse.isNotNull(), F.lit("parse")), parse, []
    if dated is not None:  # as raw_windows.by_column: rows dated outside every window
        when = F.when(F.col("_unread").isNull(), converted[dated.column])
        outside = F.when(
            dated.outside(when),
            F.concat(
                F.lit(f"{dated.column}="),
                F.coalesce(F.date_format(when, "yyyy-MM-dd"), F.lit("None")),
                F.lit(" is outside the declared windows"),
            ),
        )
        rule = rule.when(outside.isNotNull(), F.lit("partition"))
        why = F.coalesce(parse, outside)
        kept = [when.alias(WHEN)]
    judged = values.select("*", rule.alias(RULE), why.alias("_why"), *kept)
    names = list(source.schema_)
    shown_as = {name: f"__dataplat_shown_{i}" for i, name in enumerate(names)}
    rejected = F.col(RULE).isNotNull() & F.col("_unread").isNull()
    # one frame holds both: typed values of the rows, values as read of the rejected rows
    typed = judged.select(
        *[converted[name].alias(name) for name in names],
        *[F.when(rejected, shown[name]).alias(shown_as[name]) for name in names],
        LINE,
        FILE,
        PARTITION,
        *([WHEN, F.when(F.col(RULE) == "parse", 1).otherwise(0).alias(RANGE)] if dated else []),
        RULE,
        # built for rejected lines only: a concatenation evaluates every part before it
        # finds the null reason of a row
        F.when(
            F.col("_why").isNotNull(),
            F.concat(
                F.col(FILE), F.lit(" line "), F.col(LINE).cast("string"), F.lit(": "), F.col("_why")
            ),
        ).alias(REASON),
    )
    kept = [WHEN, RANGE] if dated else []
    rows = typed.where(F.col(RULE).isNull()).select(*names, LINE, FILE, PARTITION, *kept)
    rejects = typed.where(F.col(RULE).isNotNull()).select(
        *[F.col(shown_as[name]).alias(name) for name in names],
        LINE,
        FILE,
        PARTITION,
        *kept,
        RULE,
        REASON,
    )
    if all(f.window is None for f in files):
        rows, rejects = rows.drop(PARTITION), rejects.drop(PARTITION)
    return SparkLandingRead(rows, rejects, typed)


def _as_read(text: Any, value: Any, failed: Any, spec: Any) -> Any:
    """A rejected row's value as the Arrow readers keep it.

    Numbers and booleans as pyarrow writes the value it read (`45.0` -> `45`); the rest, and
    the value that failed, as in the file.
    """
    from pyspark.sql import functions as F

    if spec.format or spec.type in ("string", "date", "timestamp", "timestamp_ntz"):
        return text.cast("string")
    typed = value.cast("string")
    if spec.type in ("float32", "float64"):
        typed = F.regexp_replace(typed, r"\.0$", "")
    return F.when(F.coalesce(failed, F.lit(False)), text.cast("string")).otherwise(typed)
