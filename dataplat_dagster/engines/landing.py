"""Read landing files with their declared schema, keeping every row.

Rows that cannot be read (wrong number of fields, a value that does not convert to its
declared type, a null in a non-nullable column, invalid JSON) are returned apart, as text,
with the file, the line and the reason, so that raw can quarantine them. Clean files take
the fast path (pyarrow's multithreaded typed reader); only a file with a bad row is read
again slowly, line by line, to find which rows are bad and why.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.config.schema import ColumnSpec
from dataplat_dagster.types import ARROW_TYPES, TEXT

REASON = "_dq_reason"
RULE = "_dq_rule"
LINE = "_source_row"


class LandingFileError(ValueError):
    """A landing file that cannot be read at all (missing column, unreadable format)."""


@dataclass
class LandingRead:
    """One file read: typed rows with their line numbers, and the rejected rows as text."""

    rows: pa.Table
    rejects: pa.Table


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


Opener = Callable[[], pa.NativeFile]


def read_landing_file(
    source: LandingSource, stream: pa.NativeFile | Opener, label: str
) -> LandingRead:
    """Read one file of `source`; `label` names it in errors and reasons.

    Args:
        source: the declaration.
        stream: the file, or a function opening it anew (the fast path then streams the file
            and the slow path, for a file with bad rows, reads it again, so a large clean file
            is never held in memory as bytes).
        label: the file's path, for messages.
    """
    if not callable(stream):
        data = stream.read()
        opener: Opener = lambda: pa.BufferReader(data)  # noqa: E731
    else:
        opener = stream
    if source.format == "csv":
        return _read_csv(source, opener, label)
    if source.format == "jsonl":
        return _read_jsonl(source, opener().read(), label)
    return _read_parquet(source, opener(), label)


def _typed_columns(source: LandingSource) -> dict[str, pa.DataType]:
    # columns with a custom date format are converted by the text path (pyarrow parses ISO only)
    return {
        name: pa.string() if spec.format else ARROW_TYPES[spec.type]
        for name, spec in source.schema_.items()
    }


def _read_csv(source: LandingSource, opener: Opener, label: str) -> LandingRead:
    names = list(source.schema_)
    invalid: list[tuple[int | None, str, int]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    options = source.csv
    first_record = 2 if options.header else 1

    def read(types: dict[str, pa.DataType], threads: bool) -> pa.Table:
        return pa_csv.read_csv(
            opener(),
            read_options=pa_csv.ReadOptions(
                use_threads=threads,
                encoding=options.encoding,
                block_size=1 << 24,
                column_names=None if options.header else names,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=options.delimiter,
                quote_char=options.quote,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                include_columns=names,
                null_values=options.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        table = read(_typed_columns(source), threads=True)
        if not invalid:
            table = table.select(names)
            records = _records_if_blank_lines(opener, table.num_rows + first_record - 1)
            table = table.append_column(LINE, _lines(table.num_rows, [], first_record, records))
            if any(spec.format for spec in source.schema_.values()):
                return convert_text(source, table, label)  # only the formatted columns are text
            return _check_nulls(source, table, label)
    except pa.ArrowKeyError as exc:
        header = opener().read(1 << 16)
        raise LandingFileError(f"{label}: {_missing_column_message(exc, header, source)}") from None
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc) and "In CSV column" not in str(exc):
            raise LandingFileError(f"{label}: cannot be read as CSV: {exc}") from None
    invalid.clear()
    record_lines = _record_lines(opener().read())  # the slow path: a file with bad rows
    text = read(dict.fromkeys(names, pa.string()), threads=False).select(names)
    skipped = [number for number, _, _ in invalid if number]
    text = text.append_column(LINE, _lines(text.num_rows, skipped, first_record, record_lines))
    bad_lines = [_line_of(number or 0, record_lines) for number, _, _ in invalid]
    bad_rows = pa.table(
        {
            **{name: pa.nulls(len(invalid), pa.string()) for name in names},
            LINE: pa.array(bad_lines, pa.int64()),
            RULE: pa.array(["parse"] * len(invalid), pa.string()),
            REASON: pa.array(
                [
                    f"{label} line {line}: expected {len(names)} fields, found {found}: {text_!r}"
                    for line, (_, text_, found) in zip(bad_lines, invalid, strict=True)
                ],
                pa.string(),
            ),
        }
    )
    read_result = convert_text(source, text, label)
    return LandingRead(
        read_result.rows,
        pa.concat_tables([read_result.rejects, bad_rows], promote_options="default"),
    )


def _missing_column_message(exc: Exception, data: bytes, source: LandingSource) -> str:
    header = data.split(b"\n", 1)[0].decode(source.csv.encoding, errors="replace").strip()
    found = [c.strip().strip(source.csv.quote) for c in header.split(source.csv.delimiter)]
    missing = [name for name in source.schema_ if name not in found]
    return f"declared column(s) {', '.join(missing) or exc} missing from the header (found: {', '.join(found)})"


def _record_lines(data: bytes) -> np.ndarray | None:
    """The line number of each non-blank line, or None when no line is blank.

    Readers skip blank lines and number records among the others; this maps a record
    number back to the line users see in an editor. Only a file with blank lines pays for it.
    """
    if b"\n\n" not in data and b"\n\r\n" not in data and not data.startswith((b"\n", b"\r\n")):
        return None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return np.array(
        [number for number, line in enumerate(lines, start=1) if line.strip(b"\r")], dtype=np.int64
    )


def _records_if_blank_lines(opener: Opener, records: int) -> np.ndarray | None:
    """Line numbers of the records when the file has blank lines; None when record n is line n.

    Counting newlines while streaming the file is cheap; only a file whose count does not
    match the records read (it has blank lines) is read whole to map records to lines.
    """
    newlines, last = 0, b""
    stream = opener()
    while chunk := stream.read(1 << 24):
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
    lines = newlines + (1 if last not in (b"\n", b"") else 0)
    return None if lines == records else _record_lines(opener().read())


def _line_of(record: int, record_lines: np.ndarray | None) -> int:
    if record_lines is None or not 0 < record <= len(record_lines):
        return record
    return int(record_lines[record - 1])


def _lines(
    count: int, skipped: list[int], first: int, record_lines: np.ndarray | None = None
) -> pa.Array:
    """Line numbers of the `count` records kept, numbered from `first`, when records `skipped` were left out."""
    records = np.arange(first, first + count + len(skipped), dtype=np.int64)
    if skipped:
        records = records[~np.isin(records, np.array(skipped, dtype=np.int64))]
    if record_lines is not None:
        records = record_lines[records - 1]
    return pa.array(records)


def _read_jsonl(source: LandingSource, data: bytes, label: str) -> LandingRead:
    schema = pa.schema([(name, ARROW_TYPES[spec.type]) for name, spec in source.schema_.items()])
    if not any(spec.format for spec in source.schema_.values()):
        try:
            table = pa_json.read_json(
                pa.py_buffer(data),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            ).select(list(source.schema_))
            lines = _lines(table.num_rows, [], 1, _record_lines(data))
            return _check_nulls(source, table.append_column(LINE, lines), label)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a bad value or line: find it line by line below
    names = list(source.schema_)
    rows: dict[str, list[str | None]] = {name: [] for name in names}
    lines: list[int] = []
    rejects: list[tuple[int, str]] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            rejects.append((number, f"{label} line {number}: not a JSON object: {line[:80]!r}"))
            continue
        for name in names:
            value = record.get(name)
            rows[name].append(
                None if value is None else value if isinstance(value, str) else json.dumps(value)
            )
        lines.append(number)
    text = pa.table(
        {
            **{n: pa.array(v, pa.string()) for n, v in rows.items()},
            LINE: pa.array(lines, pa.int64()),
        }
    )
    result = convert_text(source, text, label)
    bad = pa.table(
        {
            **{name: pa.nulls(len(rejects), pa.string()) for name in names},
            LINE: pa.array([n for n, _ in rejects], pa.int64()),
            RULE: pa.array(["parse"] * len(rejects), pa.string()),
            REASON: pa.array([r for _, r in rejects], pa.string()),
        }
    )
    return LandingRead(
        result.rows, pa.concat_tables([result.rejects, bad], promote_options="default")
    )


def _read_parquet(source: LandingSource, stream: pa.NativeFile, label: str) -> LandingRead:
    table = pq.read_table(stream)
    missing = [name for name in source.schema_ if name not in table.column_names]
    if missing:
        raise LandingFileError(
            f"{label}: declared column(s) {', '.join(missing)} missing (found: {', '.join(table.column_names)})"
        )
    table = table.select(list(source.schema_))
    try:
        typed = table.cast(pa.schema([(n, ARROW_TYPES[s.type]) for n, s in source.schema_.items()]))
        return _check_nulls(source, typed.append_column(LINE, _lines(typed.num_rows, [], 1)), label)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pa.table({n: pc.cast(table[n], pa.string()) for n in source.schema_})
        return convert_text(source, text.append_column(LINE, _lines(text.num_rows, [], 1)), label)


def convert_text(source: LandingSource, text: pa.Table, label: str) -> LandingRead:
    """Convert text columns to the declared types, row by row outcome, vectorised per column."""
    pending = [
        name
        for name, spec in source.schema_.items()
        if spec.format or text[name].type != ARROW_TYPES[spec.type]
    ]
    frame = text.select(pending).to_pandas(
        types_mapper=lambda t: TEXT if t == pa.string() else None
    )
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    converted: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, spec in source.schema_.items():
        if name not in pending:
            converted[name] = text[name]
            continue
        values, bad = _convert_column(frame[name], spec)
        reason = (
            f"{name}: '" + frame[name].astype("string").fillna("") + f"' is not a valid {spec.type}"
        )
        if spec.format:
            reason = reason + f" (format {spec.format})"
        reasons = reasons.where(~(bad & reasons.isna()), reason)
        converted[name] = values
    typed = pa.table({**converted, LINE: text[LINE]})
    bad_mask = reasons.notna().to_numpy()
    good = typed.filter(pa.array(~bad_mask))
    rejects = _as_text(text.filter(pa.array(bad_mask)), source)
    rejects = rejects.append_column(RULE, pa.array(["parse"] * rejects.num_rows, pa.string()))
    line_numbers = rejects[LINE].to_pylist()
    rejects = rejects.append_column(
        REASON,
        pa.array(
            [
                f"{label} line {n}: {r}"
                for n, r in zip(line_numbers, reasons[bad_mask].tolist(), strict=True)
            ],
            pa.string(),
        ),
    )
    checked = _check_nulls(source, good, label)
    return LandingRead(
        checked.rows,
        pa.concat_tables([rejects, _as_text(checked.rejects, source)], promote_options="default"),
    )


def _convert_column(values: pd.Series, spec: ColumnSpec) -> tuple[pa.Array, pd.Series]:
    """(converted arrow array, mask of values that were present but did not convert)."""
    present = values.notna() & (values.str.strip() != "")
    kind = spec.type
    if kind == "string":
        return pa.array(values, pa.string()), pd.Series(False, index=values.index)
    if kind in ("date", "timestamp"):
        parsed = pd.to_datetime(values, format=spec.format or "ISO8601", errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        bad = present & parsed.isna()
        target = ARROW_TYPES[kind]
        array = pa.array(
            parsed.dt.normalize() if kind == "date" else parsed,
            pa.timestamp("us"),
            from_pandas=True,
        )
        return array.cast(target), bad
    if kind == "bool":
        lowered = values.str.strip().str.lower()
        result = pd.Series(pd.NA, index=values.index, dtype="boolean")
        result[lowered.isin(_TRUE).fillna(False)] = True
        result[lowered.isin(_FALSE).fillna(False)] = False
        return pa.array(result, pa.bool_(), from_pandas=True), present & result.isna()
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = present & numbers.isna()
    if kind.startswith("int"):
        info = np.iinfo(kind)
        whole = numbers.notna() & ((numbers % 1 != 0) | (numbers < info.min) | (numbers > info.max))
        bad = bad | whole.fillna(False)
        numbers = numbers.where(~bad)
    return pa.array(numbers.astype("Float64"), from_pandas=True).cast(
        ARROW_TYPES[kind], safe=False
    ), bad.astype(bool)


def _check_nulls(source: LandingSource, table: pa.Table, label: str) -> LandingRead:
    required = [name for name, spec in source.schema_.items() if not spec.nullable]
    if not required:
        return LandingRead(table, _empty_rejects(source))
    mask = np.zeros(table.num_rows, dtype=bool)
    reasons = np.full(table.num_rows, None, dtype=object)
    for name in required:
        nulls = table[name].is_null().to_numpy(zero_copy_only=False)
        reasons[nulls & ~mask] = f"{name}: null in a column declared nullable: false"
        mask |= nulls
    if not mask.any():
        return LandingRead(table, _empty_rejects(source))
    bad = _as_text(table.filter(pa.array(mask)), source)
    lines = bad[LINE].to_pylist()
    bad = bad.append_column(RULE, pa.array(["parse"] * bad.num_rows, pa.string()))
    bad = bad.append_column(
        REASON,
        pa.array(
            [f"{label} line {n}: {r}" for n, r in zip(lines, reasons[mask], strict=True)],
            pa.string(),
        ),
    )
    return LandingRead(table.filter(pa.array(~mask)), bad)


def _as_text(table: pa.Table, source: LandingSource) -> pa.Table:
    columns = {name: pc.cast(table[name], pa.string()) for name in source.schema_}
    rest = {name: table[name] for name in table.column_names if name not in source.schema_}
    return pa.table({**columns, **rest})


def _empty_rejects(source: LandingSource) -> pa.Table:
    return pa.table(
        {
            **{n: pa.array([], pa.string()) for n in source.schema_},
            LINE: pa.array([], pa.int64()),
            RULE: pa.array([], pa.string()),
            REASON: pa.array([], pa.string()),
        }
    )


def empty_read(source: LandingSource) -> LandingRead:
    """No rows, with the declared columns: a window whose file is allowed to be missing."""
    schema = pa.schema([(name, ARROW_TYPES[spec.type]) for name, spec in source.schema_.items()])
    rows = schema.empty_table().append_column(LINE, pa.array([], pa.int64()))
    return LandingRead(rows, _empty_rejects(source))
