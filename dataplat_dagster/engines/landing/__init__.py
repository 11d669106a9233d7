"""Read landing files with their declared schema, keeping every line.

Lines that cannot be read (wrong number of fields, a quote left open, bytes that do not
decode, a value that does not convert to its declared type, a null in a non-nullable
column, invalid JSON) are returned apart, as text, with the file, the line and the reason,
so that raw can quarantine them. A file that is not of its format at all (compressed or
binary content, a missing or nested column) raises LandingFileError and is not read.
"""

import codecs
import logging
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing.csv_reader import read_csv
from dataplat_dagster.engines.landing.jsonl_reader import read_jsonl
from dataplat_dagster.engines.landing.lines import (
    decode_lines,
    is_ascii_compatible,
    nonblank_line_numbers,
    record_start_lines,
    split_lines,
)
from dataplat_dagster.engines.landing.parquet_reader import read_parquet
from dataplat_dagster.engines.landing.reads import (
    LINE,
    REASON,
    RULE,
    LandingFileError,
    LandingRead,
    convert_text,
    empty_read,
)
from dataplat_dagster.failure_summary import warn_in_summary

__all__ = [
    "LINE",
    "REASON",
    "RULE",
    "LandingFileError",
    "LandingRead",
    "convert_text",
    "empty_read",
    "read_landing_file",
    "source_rows",
]

LOGGER = logging.getLogger(__name__)
Opener = Callable[[], pa.NativeFile]
_SNIFF = 1 << 16
# magic numbers of content that is not text, whatever the file's name says
_NOT_TEXT = {
    b"\x1f\x8b": "gzip-compressed data",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "bzip2-compressed data",
    b"\xfd7zXZ\x00": "xz-compressed data",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"PAR1": "a Parquet file",
}


def read_landing_file(
    source: LandingSource, stream: pa.NativeFile | Opener, label: str, timezone: str = "UTC"
) -> LandingRead:
    """Read one file of `source`; `label` names it in errors and reasons.

    Args:
        source: the declaration.
        stream: the file, or a function opening it anew (the fast path then streams the file
            and the slow path, for a file with bad rows, reads it again, so a large clean file
            is never held in memory as bytes).
        label: the file's path, for messages.
        timezone: the zone of timestamps written without an offset, unless a column declares
            its own (the source's partitioning timezone; see dataplat_dagster.timestamps).

    Raises:
        LandingFileError: the file cannot be read as its format at all.
    """
    if not callable(stream):
        data = stream.read()
        opener: Opener = lambda: pa.BufferReader(data)  # noqa: E731
    else:
        opener = stream
    if source.format == "parquet":
        return read_parquet(source, opener(), label, timezone)
    head = opener().read(_SNIFF)
    _refuse_non_text(source, head, label)
    if not head:
        return _empty_file(source, label)
    if source.format == "csv":
        read = read_csv(source, opener, label, timezone)
    else:
        read = read_jsonl(source, opener().read(), label, timezone)
    if read.source_rows == 0:
        # said now, at raw, naming the file: otherwise the first sign is a gate failing below
        warn_in_summary(
            LOGGER,
            f"{label}: holds no data rows (only {'its header' if source.format == 'csv' and source.csv.header else 'blank lines'}); "
            "its window gets 0 rows from this file",
        )
    return read


def _refuse_non_text(source: LandingSource, head: bytes, label: str) -> None:
    kind = "CSV" if source.format == "csv" else "JSON lines"
    for magic, what in _NOT_TEXT.items():
        if head.startswith(magic):
            raise LandingFileError(
                f"{label}: holds {what} (it starts with bytes {magic.hex(' ')}), not {kind} "
                "text; land it uncompressed under this name"
            )
    encoding = source.csv.encoding if source.format == "csv" else "utf-8"
    nul = head.find(b"\x00")
    if nul >= 0 and is_ascii_compatible(encoding):  # text in these encodings has no NUL byte
        raise LandingFileError(
            f"{label}: holds binary data (a NUL byte at offset {nul}), not {kind} text "
            f"in {codecs.lookup(encoding).name}"
        )


def _empty_file(source: LandingSource, label: str) -> LandingRead:
    if source.format == "csv" and source.csv.header:
        raise LandingFileError(f"{label}: is empty (0 bytes), without even its header line")
    return empty_read(source)


def source_rows(source: LandingSource, stream: pa.NativeFile) -> int:
    """What a landing file holds, counted as raw counts it (`LandingRead.source_rows`).

    Its non-blank data lines (its records when CSV values may hold line breaks), or a
    Parquet file's row count; schedules compare it with what a window was built from.
    """
    if source.format == "parquet":
        return pq.ParquetFile(stream).metadata.num_rows
    data = stream.read()
    if source.format == "jsonl":
        return len(nonblank_line_numbers(split_lines(data), whitespace_is_blank=True))
    options, header = source.csv, 1 if source.csv.header else 0
    if options.newlines_in_values or not is_ascii_compatible(options.encoding):
        lines, unreadable = decode_lines(data, options.encoding)
        if options.newlines_in_values:
            records = len(record_start_lines(lines, options.delimiter, options.quote))
        else:
            records = len(nonblank_line_numbers(lines, whitespace_is_blank=False))
        return max(records + len(unreadable) - header, 0)
    return max(len(nonblank_line_numbers(split_lines(data), whitespace_is_blank=False)) - header, 0)
