"""JSON-lines landing files: pyarrow's reader, or line by line for a file with a bad line.

JSON text is UTF-8 (RFC 8259). A line that does not decode, is not JSON or is not an object
is quarantined with its line; a value that does not convert quarantines its row.
"""

import json

import pyarrow as pa
import pyarrow.json as pa_json

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing.lines import decode_lines, nonblank_line_numbers, split_lines
from dataplat_dagster.engines.landing.reads import (
    LINE,
    LandingRead,
    convert_text,
    line_rejects,
    text_first_types,
)


def read_jsonl(source: LandingSource, data: bytes, label: str, zone: str) -> LandingRead:
    """Read one JSON-lines file of `source`; `label` names it in reasons."""
    numbers = nonblank_line_numbers(split_lines(data), whitespace_is_blank=True)
    schema = pa.schema(list(text_first_types(source).items()))
    try:
        table = pa_json.read_json(
            pa.py_buffer(data),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        ).select(list(source.schema_))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _read_slow(source, data, label, zone)  # a bad value or line, found line by line
    if table.num_rows != len(numbers):
        return _read_slow(source, data, label, zone)
    return convert_text(source, table.append_column(LINE, pa.array(numbers)), label, zone)


def _read_slow(source: LandingSource, data: bytes, label: str, zone: str) -> LandingRead:
    lines, unreadable = decode_lines(data, "utf-8")
    names = list(source.schema_)
    values: dict[str, list[str | None]] = {name: [] for name in names}
    numbers: list[int] = []
    rejects = [(index + 1, f"{label} line {index + 1}: {r}") for index, r in unreadable.items()]
    for number, line in enumerate(lines, start=1):
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
            # numbers keep their JSON text, so an int64 is converted exactly
            text = None if value is None else value if isinstance(value, str) else json.dumps(value)
            values[name].append(text)
        numbers.append(number)
    text = pa.table(
        {
            **{name: pa.array(column, pa.string()) for name, column in values.items()},
            LINE: pa.array(numbers, pa.int64()),
        }
    )
    result = convert_text(source, text, label, zone)
    rejects.sort()
    bad = line_rejects(source, [n for n, _ in rejects], [r for _, r in rejects])
    return LandingRead(
        result.rows,
        pa.concat_tables([result.rejects, bad], promote_options="default"),
        # what the file holds, counted on its lines, not on what parsed
        len(nonblank_line_numbers(lines, whitespace_is_blank=True)) + len(unreadable),
    )
