"""Parquet landing files: the declared columns, cast exactly, value by value where needed.

A column already of its declared type is kept; timestamps and dates follow the timestamp
rule (dataplat_dagster.timestamps); any other column that does not cast safely is converted
from its text, so a value that does not fit quarantines its row alone. A declared column
missing from the file, or nested (struct, list, map), fails the file.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.config.schema import TIMESTAMP_TYPES
from dataplat_dagster.engines.landing.reads import (
    LINE,
    LandingFileError,
    LandingRead,
    convert_text,
)
from dataplat_dagster.timestamps import to_kind
from dataplat_dagster.types import ARROW_TYPES


def read_parquet(
    source: LandingSource, stream: pa.NativeFile, label: str, zone: str
) -> LandingRead:
    """Read one Parquet file of `source`; `label` names it in reasons and errors."""
    try:
        parquet = pq.ParquetFile(stream)
        found = parquet.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise LandingFileError(f"{label}: cannot be read as Parquet: {exc}") from None
    _check_columns(source, found, label)
    table = parquet.read(columns=list(source.schema_))
    columns = {}
    for name, spec in source.schema_.items():
        column = table[name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if spec.type in TIMESTAMP_TYPES and _is_temporal(column.type):
            column = to_kind(column, spec.type, spec.timezone or zone)
        elif column.type != ARROW_TYPES[spec.type]:
            column = _cast_or_text(column, ARROW_TYPES[spec.type], spec.type, name, label)
        columns[name] = column
    rows = parquet.metadata.num_rows
    text = pa.table({**columns, LINE: pa.array(range(1, rows + 1), pa.int64())})
    read = convert_text(source, text, label, zone)
    return LandingRead(read.rows, read.rejects, rows)


def _check_columns(source: LandingSource, found: pa.Schema, label: str) -> None:
    missing = [name for name in source.schema_ if name not in found.names]
    if missing:
        raise LandingFileError(
            f"{label}: declared column(s) {', '.join(missing)} missing "
            f"(found: {', '.join(found.names)})"
        )
    nested = [
        f"{name} ({found.field(name).type}, declared {spec.type})"
        for name, spec in source.schema_.items()
        if pa.types.is_nested(found.field(name).type)
    ]
    if nested:
        raise LandingFileError(
            f"{label}: nested column(s) {'; '.join(nested)}: a landing schema holds flat "
            "columns; flatten them before landing the file, or leave them out of the schema"
        )


def _is_temporal(data_type: pa.DataType) -> bool:
    return pa.types.is_timestamp(data_type) or pa.types.is_date(data_type)


def _cast_or_text(
    column: pa.ChunkedArray, target: pa.DataType, kind: str, name: str, label: str
) -> pa.ChunkedArray:
    """The column cast safely to `target`, else as text for a conversion value by value."""
    if kind not in TIMESTAMP_TYPES:  # numbers as epochs are not timestamps: read their text
        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LandingFileError(
            f"{label}: column {name} ({column.type}) cannot be read as {kind}: {exc}"
        ) from None
