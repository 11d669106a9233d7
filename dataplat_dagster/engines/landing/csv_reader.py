"""CSV landing files: pyarrow's reader, checked against the file's physical lines.

The fast path reads the file typed, multithreaded, streaming, and is kept only when it has
no bad row and gave one record per non-blank data line. Otherwise the file is read again
line by line: lines that do not decode, and lines opening a quote they do not close (which
would swallow the lines after them, unless the source declares `newlines_in_values`), are
quarantined alone; the other lines are parsed by pyarrow as text, and wrong field counts
and values that do not convert are quarantined with their line.
"""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing.lines import (
    Opener,
    count_lines,
    decode_lines,
    is_ascii_compatible,
    nonblank_line_numbers,
    record_start_lines,
    spanning_records,
    split_lines,
)
from dataplat_dagster.engines.landing.reads import (
    LINE,
    LandingFileError,
    LandingRead,
    convert_text,
    line_rejects,
    text_first_types,
)


def read_csv(source: LandingSource, opener: Opener, label: str, zone: str) -> LandingRead:
    """Read one CSV file of `source` (see the module docstring); `label` names it in reasons."""
    fast = _read_fast(source, opener, label, zone)
    return fast if fast is not None else _read_slow(source, opener().read(), label, zone)


def _read_fast(source: LandingSource, opener: Opener, label: str, zone: str) -> LandingRead | None:
    """The typed read when the file is clean; None sends it to the line-by-line path."""
    if not is_ascii_compatible(source.csv.encoding):
        return None  # its lines cannot be counted on the bytes
    try:
        # no invalid-row handler: the first bad row raises and sends the file to the slow path
        # (a handler would also make pyarrow decode a row with a latin-1 byte as UTF-8 to
        # pass it on, which fails inside pyarrow and prints an "Exception ignored" traceback)
        table = _arrow_read(source, opener(), text_first_types(source), None, threads=True)
    except pa.ArrowKeyError as exc:
        raise LandingFileError(f"{label}: {_missing_columns(source, opener, exc)}") from None
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None  # a value or a line the slow path explains
    lines = _record_lines(source, opener, table.num_rows)
    if lines is None:
        return None  # fewer records than lines: a record ran over several lines
    table = table.select(list(source.schema_)).append_column(LINE, pa.array(lines))
    return convert_text(source, table, label, zone)


def _record_lines(source: LandingSource, opener: Opener, records: int) -> np.ndarray | None:
    """The line of each record read, or None when records and non-blank lines disagree."""
    header = 1 if source.csv.header else 0
    if count_lines(opener) - header == records:  # no blank line: record n is line n
        return np.arange(header + 1, header + 1 + records, dtype=np.int64)
    lines = split_lines(opener().read())
    numbers = nonblank_line_numbers(lines, whitespace_is_blank=False)[header:]
    if len(numbers) == records:
        return numbers
    if source.csv.newlines_in_values:
        text, _ = decode_lines(b"\n".join(lines), source.csv.encoding)
        starts = record_start_lines(text, source.csv.delimiter, source.csv.quote)[header:]
        return starts if len(starts) == records else None
    return None


def _read_slow(source: LandingSource, data: bytes, label: str, zone: str) -> LandingRead:
    options = source.csv
    try:
        lines, bad = decode_lines(data, options.encoding)
    except UnicodeDecodeError as exc:
        raise LandingFileError(
            f"{label}: not valid {options.encoding} at byte {exc.start}: {exc.reason}"
        ) from None
    first = _first_data_line(source, lines, bad, label)
    source_rows = _source_rows(source, lines, first) + len(bad)  # undecodable lines are lines
    text, invalid, record_lines = _parse_lines(source, lines, bad, label)
    header = 1 if options.header else 0
    fewer_records = len(record_lines) - header != text.num_rows + len(invalid)
    if fewer_records and not options.newlines_in_values:
        bad.update(_open_quotes(source, lines, bad, first))
        text, invalid, record_lines = _parse_lines(source, lines, bad, label)
    # pyarrow numbers records from 1, the header included; rows kept are the others
    records = np.arange(header, len(record_lines))
    records = records[~np.isin(records, [row.number - 1 for row in invalid])]
    text = text.append_column(LINE, pa.array(record_lines[records], pa.int64()))
    result = convert_text(source, text, label, zone)
    unread = _unread_lines(source, label, bad, invalid, record_lines)
    return LandingRead(
        result.rows,
        pa.concat_tables([result.rejects, unread], promote_options="default"),
        source_rows,
    )


def _open_quotes(
    source: LandingSource, lines: list[str], bad: dict[int, str], first: int
) -> dict[int, str]:
    """The lines whose quote runs into the lines after them, with their reasons."""
    options = source.csv
    spans = spanning_records(_blanked(lines, bad), first, options.delimiter, options.quote)
    return {
        index: (
            f"a quote opened on this line is not closed on it, so its record would take "
            f"{taken} lines; the line is quarantined alone and the lines after it are read "
            f"(declare csv.newlines_in_values: true if values hold line breaks): {lines[index]!r}"
        )
        for index, taken in spans.items()
    }


def _unread_lines(
    source: LandingSource,
    label: str,
    bad: dict[int, str],
    invalid: list[pa_csv.InvalidRow],
    record_lines: np.ndarray,
) -> pa.Table:
    """Lines that gave no values (bad lines, wrong field counts) as rejects, in line order."""
    ragged = [
        (
            int(record_lines[row.number - 1]),
            f"expected {len(source.schema_)} fields, found {row.actual_columns}: {row.text!r}",
        )
        for row in invalid
    ]
    unread = sorted([*((index + 1, reason) for index, reason in bad.items()), *ragged])
    return line_rejects(
        source, [line for line, _ in unread], [f"{label} line {n}: {r}" for n, r in unread]
    )


def _parse_lines(
    source: LandingSource, lines: list[str], bad: dict[int, str], label: str
) -> tuple[pa.Table, list[pa_csv.InvalidRow], np.ndarray]:
    """The lines not in `bad`, parsed as text: (rows, wrong field counts, line of each record).

    Bad lines are left empty, which keeps the line numbers and which readers skip. The
    line of each record counts the header as record 1, as pyarrow numbers invalid rows.
    """
    blanked = _blanked(lines, bad)
    invalid: list[pa_csv.InvalidRow] = []
    data = ("\n".join(blanked) + "\n").encode("utf-8")
    text_types = dict.fromkeys(source.schema_, pa.string())
    try:
        table = _arrow_read(source, pa.BufferReader(data), text_types, invalid, threads=False)
    except pa.ArrowKeyError as exc:
        header = next((line for line in blanked if line), "")
        raise LandingFileError(f"{label}: {_missing(source, header, exc)}") from None
    except pa.ArrowInvalid as exc:
        raise LandingFileError(f"{label}: cannot be read as CSV: {exc}") from None
    if source.csv.newlines_in_values:
        numbers = record_start_lines(blanked, source.csv.delimiter, source.csv.quote)
    else:
        numbers = nonblank_line_numbers(blanked, whitespace_is_blank=False)
    return table.select(list(source.schema_)), invalid, numbers


def _first_data_line(
    source: LandingSource, lines: list[str], bad: dict[int, str], label: str
) -> int:
    """Index of the first line after the header (0 without a header)."""
    if not source.csv.header:
        return 0
    header = next((index for index, line in enumerate(lines) if line or index in bad), None)
    if header is None:
        raise LandingFileError(f"{label}: has no header line")
    if header in bad:
        raise LandingFileError(f"{label} line {header + 1}: the header is {bad.pop(header)}")
    return header + 1


def _source_rows(source: LandingSource, lines: list[str], first: int) -> int:
    """What the file holds: its non-blank data lines (its records, when values hold line breaks)."""
    if source.csv.newlines_in_values:
        starts = record_start_lines(lines, source.csv.delimiter, source.csv.quote)
        return int((starts > first).sum())
    return len(nonblank_line_numbers(lines[first:], whitespace_is_blank=False))


def _blanked(lines: list[str], bad: dict[int, str]) -> list[str]:
    return [("" if index in bad else line) for index, line in enumerate(lines)] if bad else lines


def _arrow_read(
    source: LandingSource,
    stream: pa.NativeFile,
    types: dict[str, pa.DataType],
    invalid: list[pa_csv.InvalidRow] | None,
    *,
    threads: bool,
) -> pa.Table:
    options = source.csv
    names = list(source.schema_)

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        assert invalid is not None
        invalid.append(row)
        return "skip"

    return pa_csv.read_csv(
        stream,
        read_options=pa_csv.ReadOptions(
            use_threads=threads,
            encoding=options.encoding if threads else "utf-8",  # the slow path decoded it
            block_size=1 << 24,
            column_names=None if options.header else names,
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=options.delimiter,
            quote_char=options.quote,
            newlines_in_values=options.newlines_in_values,
            invalid_row_handler=on_invalid if invalid is not None else None,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=names,
            null_values=options.null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _missing_columns(source: LandingSource, opener: Opener, exc: Exception) -> str:
    head = opener().read(1 << 16)
    first = split_lines(head)[0] if head else b""
    return _missing(source, first.decode(source.csv.encoding, errors="replace"), exc)


def _missing(source: LandingSource, header: str, exc: Exception) -> str:
    header = header.lstrip("\ufeff").strip()
    found = [c.strip().strip(source.csv.quote) for c in header.split(source.csv.delimiter)]
    missing = [name for name in source.schema_ if name not in found]
    return (
        f"declared column(s) {', '.join(missing) or exc} missing from the header "
        f"(found: {', '.join(found)})"
    )
