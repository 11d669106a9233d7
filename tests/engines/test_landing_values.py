"""Values read from landing files are exact and follow the timestamp rule.

Covers int64 values at and past their limits in CSV, JSON lines and Parquet files that
also hold bad rows (the reported float64 round trip), and zoned and naive timestamps read
as `timestamp` (UTC instants) and `timestamp_ntz` (wall-clock) from all three formats, with
the dataflow's zone and a column's own `timezone`. Bytes built in the test, read with
`read_landing_file`; no file stores or runs.
"""

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing import LandingRead, read_landing_file

BIG = 9223372036854775807
NEAR = 123456789012345678  # not a float64: it would become ...680


def source(schema: dict, **fields: object) -> LandingSource:
    return LandingSource.model_validate({"path": "x", "schema": schema, **fields})


def read(src: LandingSource, data: bytes, zone: str = "UTC", label: str = "f") -> LandingRead:
    return read_landing_file(src, pa.BufferReader(data), label, zone)


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


INTS = {"id": "int64", "qty": "int32"}


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("csv", f"id,qty\n{BIG},1\n{NEAR},2\n-{BIG + 1},x\n5,3\n".encode()),
        (
            "jsonl",
            f'{{"id": {BIG}, "qty": 1}}\n{{"id": {NEAR}, "qty": 2}}\n'
            f'{{"id": -{BIG + 1}, "qty": "x"}}\n{{"id": 5, "qty": 3}}\n'.encode(),
        ),
        (
            "parquet",
            parquet(pa.table({"id": [BIG, NEAR, -BIG - 1, 5], "qty": ["1", "2", "x", "3"]})),
        ),
    ],
)
def test_int64_exact_in_a_file_with_a_bad_row(fmt: str, data: bytes) -> None:
    result = read(source(INTS, format=fmt), data)
    assert result.rows["id"].to_pylist() == [BIG, NEAR, 5]
    assert result.rows["_source_row"].to_pylist() == ([2, 3, 5] if fmt == "csv" else [1, 2, 4])
    (reason,) = result.rejects["_dq_reason"].to_pylist()
    assert "qty: 'x' is not a valid int32" in reason
    assert result.rejects["id"].to_pylist() == [str(-BIG - 1)]  # the text kept exactly


def test_out_of_range_integers_are_rejected_not_wrapped() -> None:
    data = f"id,qty\n{BIG + 1},1\n1,3000000000\n2,2\n".encode()
    result = read(source(INTS), data, label="f.csv")
    assert result.rows["id"].to_pylist() == [2]
    assert result.rejects["_dq_reason"].to_pylist() == [
        f"f.csv line 2: id: '{BIG + 1}' is not a valid int64",
        "f.csv line 3: qty: '3000000000' is not a valid int32",
    ]


TIMES = {"at": "timestamp", "wall": "timestamp_ntz"}
TEXT = ["2013-01-15T10:00:00Z", "2013-01-15T10:00:00", "2013-01-15T10:00:00+05:30"]
NY_INSTANTS = [
    datetime(2013, 1, 15, 10, tzinfo=UTC),  # Z: that instant
    datetime(2013, 1, 15, 15, tzinfo=UTC),  # naive: 10:00 in New York
    datetime(2013, 1, 15, 4, 30, tzinfo=UTC),
]
NY_WALL = [datetime(2013, 1, 15, 5), datetime(2013, 1, 15, 10), datetime(2013, 1, 14, 23, 30)]


def timestamp_file(fmt: str) -> bytes:
    if fmt == "csv":
        return ("at,wall\n" + "".join(f"{t},{t}\n" for t in TEXT)).encode()
    if fmt == "jsonl":
        return "".join(f'{{"at": "{t}", "wall": "{t}"}}\n' for t in TEXT).encode()
    return parquet(pa.table({"at": TEXT, "wall": TEXT}))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_zoned_and_naive_text_in_every_format(fmt: str) -> None:
    result = read(source(TIMES, format=fmt), timestamp_file(fmt), zone="America/New_York")
    assert result.rows.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert result.rows.schema.field("wall").type == pa.timestamp("us")
    assert result.rows["at"].to_pylist() == NY_INSTANTS
    assert result.rows["wall"].to_pylist() == NY_WALL
    assert result.rejects.num_rows == 0


def test_a_column_zone_overrides_the_dataflow_zone() -> None:
    schema = {"at": {"type": "timestamp", "timezone": "Asia/Kolkata"}}
    result = read(source(schema), b"at\n2013-01-15T10:00:00\n", zone="America/New_York")
    assert result.rows["at"].to_pylist() == [datetime(2013, 1, 15, 4, 30, tzinfo=UTC)]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_timestamps_of_every_unit(unit: str) -> None:
    instant = datetime(2013, 1, 15, 10, tzinfo=UTC)
    table = pa.table(
        {
            "at": pa.array([instant], pa.timestamp(unit, tz="Asia/Kolkata")),
            "wall": pa.array([datetime(2013, 1, 15, 10)], pa.timestamp(unit)),
        }
    )
    result = read(source(TIMES, format="parquet"), parquet(table), zone="America/New_York")
    assert result.rows["at"].to_pylist() == [instant]
    assert result.rows["wall"].to_pylist() == [datetime(2013, 1, 15, 10)]  # never shifted


def test_parquet_naive_timestamps_are_wall_clock_of_the_zone() -> None:
    table = pa.table({"at": pa.array([datetime(2013, 1, 15, 10)], pa.timestamp("ms"))})
    result = read(source({"at": "timestamp"}, format="parquet"), parquet(table), "America/New_York")
    assert result.rows["at"].to_pylist() == [datetime(2013, 1, 15, 15, tzinfo=UTC)]


def test_parquet_epoch_numbers_are_not_timestamps() -> None:
    table = pa.table({"at": pa.array([1_358_244_000], pa.int64())})
    result = read(source({"at": "timestamp"}, format="parquet"), parquet(table), label="p")
    assert result.rows.num_rows == 0
    assert result.rejects["_dq_reason"].to_pylist() == [
        "p line 1: at: '1358244000' is not a valid timestamp"
    ]
