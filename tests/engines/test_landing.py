"""Reading landing files with their declared schema (`engines.landing.read_landing_file`).

Covers CSV (clean, dirty rows of every kind, missing header column, custom date formats,
no header, other delimiter), JSON lines (invalid lines and bad values) and Parquet input,
each from bytes built in the test. Checks types, `_source_row` line numbers and the exact
rejected lines with their reasons. Does not touch file stores, raw assets or partitions.
"""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing import LandingFileError, LandingRead, read_landing_file

LABEL = "shop/orders_20240101.csv"
ORDERS_SCHEMA = {
    "order_id": {"type": "int64", "nullable": False},
    "qty": "int32",
    "price": "float64",
    "name": "string",
    "at": "timestamp",
    "day": "date",
    "paid": "bool",
}
HEADER = b"order_id,qty,price,name,at,day,paid\n"


def source(schema: dict, **fields: object) -> LandingSource:
    return LandingSource.model_validate({"path": "shop/x", "schema": schema, **fields})


def read(src: LandingSource, data: bytes, label: str = LABEL) -> LandingRead:
    return read_landing_file(src, pa.BufferReader(data), label)


def rejected(result: LandingRead) -> dict[int, str]:
    """Map line -> reason of every rejected row (each line at most once)."""
    lines = result.rejects["_source_row"].to_pylist()
    assert len(lines) == len(set(lines))
    assert set(result.rejects["_dq_rule"].to_pylist()) <= {"parse"}
    return dict(zip(lines, result.rejects["_dq_reason"].to_pylist(), strict=True))


def test_clean_csv_is_typed_with_line_numbers() -> None:
    data = (
        HEADER
        + b"1,2,3.5,a,2024-01-01T10:00:00,2024-01-01,true\n2,,4,b,2024-01-02 11:00:00,2024-01-02,no\n"
    )
    result = read(source(ORDERS_SCHEMA), data)
    assert result.rows.schema.names == [*ORDERS_SCHEMA, "_source_row"]
    assert [f.type for f in result.rows.schema] == [
        pa.int64(),
        pa.int32(),
        pa.float64(),
        pa.string(),
        pa.timestamp("us", tz="UTC"),
        pa.date32(),
        pa.bool_(),
        pa.int64(),
    ]
    rows = result.rows.to_pylist()
    assert [r["_source_row"] for r in rows] == [2, 3]
    assert rows[0]["price"] == 3.5 and rows[0]["paid"] is True
    assert rows[1]["qty"] is None and rows[1]["paid"] is False
    assert str(rows[1]["at"]) == "2024-01-02 11:00:00+00:00"
    assert str(rows[0]["day"]) == "2024-01-01"
    assert result.rejects.num_rows == 0
    assert {"_source_row", "_dq_rule", "_dq_reason"} <= set(result.rejects.column_names)


DIRTY = HEADER + (
    b"1,2,3.5,a,2024-01-01T10:00:00,2024-01-01,true\n"  # line 2: good
    b"2,x,4,b,2024-01-02 11:00:00,2024-01-02,false\n"  # line 3: qty not an int
    b"3,1,4,c,not-a-time,2024-01-02,false\n"  # line 4: bad timestamp
    b"4,1,4\n"  # line 5: too few fields
    b"5,1,4,d,2024-01-02 11:00:00,2024-01-02,false,extra\n"  # line 6: too many fields
    b",1,4,e,2024-01-02 11:00:00,2024-01-02,false\n"  # line 7: null order_id
    b"7,1.5,4,f,2024-01-02,2024-01-02,maybe\n"  # line 8: qty not whole (first bad column wins)
    b"8,1,4,g,2024-01-02 11:00:00,2024-01-02,true\n"  # line 9: good
)


def test_dirty_csv_rejects_exact_lines_with_reasons() -> None:
    result = read(source(ORDERS_SCHEMA), DIRTY)
    assert result.rows["_source_row"].to_pylist() == [2, 9]
    assert result.rows["order_id"].to_pylist() == [1, 8]
    assert result.rows.schema.field("qty").type == pa.int32()
    reasons = rejected(result)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    expected = {
        3: ["qty", "'x'", "int32"],
        4: ["at", "'not-a-time'", "timestamp"],
        5: ["expected 7 fields, found 3"],
        6: ["expected 7 fields, found 8"],
        7: ["order_id", "nullable: false"],
        8: ["qty", "'1.5'", "int32"],
    }
    for line, fragments in expected.items():
        assert reasons[line].startswith(f"{LABEL} line {line}: "), reasons[line]
        for fragment in fragments:
            assert fragment in reasons[line], reasons[line]


def test_rejected_rows_keep_their_text() -> None:
    result = read(source(ORDERS_SCHEMA), DIRTY)
    by_line = {row["_source_row"]: row for row in result.rejects.to_pylist()}
    assert by_line[3]["qty"] == "x" and by_line[3]["name"] == "b"
    assert by_line[4]["at"] == "not-a-time"
    assert by_line[7]["order_id"] is None and by_line[7]["name"] == "e"
    assert all(result.rejects.schema.field(name).type == pa.string() for name in ORDERS_SCHEMA)


def test_header_missing_a_declared_column() -> None:
    with pytest.raises(LandingFileError) as caught:
        read(
            source({"order_id": "int64", "qty": "int32", "price": "float64"}),
            b"order_id,qty\n1,2\n",
        )
    message = str(caught.value)
    assert message.startswith(LABEL)
    assert "price" in message and "missing from the header" in message
    assert "order_id, qty" in message  # what was found


def test_extra_file_columns_are_ignored() -> None:
    result = read(source({"name": "string"}), b"id,name,other\n1,a,x\n2,b,y\n")
    assert result.rows.column_names == ["name", "_source_row"]
    assert result.rows.to_pylist() == [
        {"name": "a", "_source_row": 2},
        {"name": "b", "_source_row": 3},
    ]


def test_custom_date_formats() -> None:
    schema = {
        "id": "int64",
        "d": {"type": "date", "format": "%d/%m/%Y"},
        "t": {"type": "timestamp", "format": "%d/%m/%Y %H:%M"},
    }
    data = b"id,d,t\n1,05/01/2024,05/01/2024 10:30\n2,2024-01-05,06/01/2024 10:00\n3,,\n4,06/01/2024,31/02/2024 10:00\n"
    result = read(source(schema), data, "f.csv")
    assert result.rows.schema.field("d").type == pa.date32()
    assert result.rows.schema.field("t").type == pa.timestamp("us", tz="UTC")
    rows = result.rows.to_pylist()
    assert [r["_source_row"] for r in rows] == [2, 4]
    assert str(rows[0]["d"]) == "2024-01-05" and str(rows[0]["t"]) == "2024-01-05 10:30:00+00:00"
    assert rows[1]["d"] is None and rows[1]["t"] is None  # empty is null, not an error
    reasons = rejected(result)
    assert sorted(reasons) == [3, 5]
    assert reasons[3] == "f.csv line 3: d: '2024-01-05' is not a valid date (format %d/%m/%Y)"
    assert (
        reasons[5]
        == "f.csv line 5: t: '31/02/2024 10:00' is not a valid timestamp (format %d/%m/%Y %H:%M)"
    )


def test_semicolon_delimiter_and_null_values() -> None:
    src = source({"id": "int64", "name": "string"}, csv={"delimiter": ";", "null_values": ["-"]})
    result = read(src, b"id;name\n1;a\n-;-\n")
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "_source_row": 2},
        {"id": None, "name": None, "_source_row": 3},
    ]


def test_csv_without_header() -> None:
    src = source({"id": "int64", "name": "string"}, csv={"header": False})
    result = read(src, b"1,a\n2,b\nx,c\n", "nh.csv")
    assert result.rows.schema.field("id").type == pa.int64()
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "_source_row": 1},
        {"id": 2, "name": "b", "_source_row": 2},
    ]
    assert rejected(result) == {3: "nh.csv line 3: id: 'x' is not a valid int64"}


def test_csv_without_header_with_a_short_row() -> None:
    src = source({"id": "int64", "name": "string"}, csv={"header": False})
    result = read(src, b"1,a\n2\n3,c\n", "nh.csv")
    assert result.rows["_source_row"].to_pylist() == [1, 3]
    assert list(rejected(result)) == [2]


def test_blank_line_does_not_shift_line_numbers() -> None:
    result = read(
        source({"id": "int64", "name": "string"}), b"id,name\n1,a\n\nx,b\n3,c\n", "blank.csv"
    )
    assert result.rows["_source_row"].to_pylist() == [2, 5]
    assert rejected(result) == {4: "blank.csv line 4: id: 'x' is not a valid int64"}


JSONL_SCHEMA = {"id": {"type": "int64", "nullable": False}, "name": "string", "price": "float64"}


def test_clean_jsonl() -> None:
    data = b'{"id": 1, "name": "a", "price": 1.5, "extra": true}\n{"id": 2, "name": "b"}\n'
    result = read(source(JSONL_SCHEMA, format="jsonl"), data, "p.jsonl")
    assert result.rows.schema.names == ["id", "name", "price", "_source_row"]
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "price": 1.5, "_source_row": 1},
        {"id": 2, "name": "b", "price": None, "_source_row": 2},
    ]
    assert result.rejects.num_rows == 0


def test_dirty_jsonl() -> None:
    data = (
        b'{"id": 1, "name": "a", "price": 1.5}\n'  # 1 good
        b'{"id": 2, "name": "b", "price": "abc"}\n'  # 2 bad value
        b"not json\n"  # 3 invalid line
        b"\n"  # 4 blank: skipped, still counted
        b'{"id": 5, "name": "d", "price": 2}\n'  # 5 good
        b"[1, 2]\n"  # 6 not an object
        b'{"name": "e", "price": 2}\n'  # 7 missing non-nullable id
    )
    result = read(source(JSONL_SCHEMA, format="jsonl"), data, "p.jsonl")
    assert result.rows.schema.field("id").type == pa.int64()
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "price": 1.5, "_source_row": 1},
        {"id": 5, "name": "d", "price": 2.0, "_source_row": 5},
    ]
    reasons = rejected(result)
    assert sorted(reasons) == [2, 3, 6, 7]
    assert reasons[2] == "p.jsonl line 2: price: 'abc' is not a valid float64"
    assert reasons[3] == "p.jsonl line 3: not a JSON object: 'not json'"
    assert reasons[6].startswith("p.jsonl line 6: not a JSON object")
    assert reasons[7] == "p.jsonl line 7: id: null in a column declared nullable: false"


def test_jsonl_blank_line_does_not_shift_line_numbers() -> None:
    result = read(source({"id": "int64"}, format="jsonl"), b'{"id": 1}\n\n{"id": 3}\n', "p.jsonl")
    assert result.rows.to_pylist() == [{"id": 1, "_source_row": 1}, {"id": 3, "_source_row": 3}]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


PARQUET_SCHEMA = {"id": "int64", "name": "string", "price": "float64"}


def test_parquet_is_cast_to_the_declared_types(tmp_path) -> None:
    data = parquet_bytes(
        pa.table(
            {
                "id": pa.array([1, 2], pa.int32()),
                "extra": [1, 2],
                "name": ["a", "b"],
                "price": [1, 2],
            }
        )
    )
    path = tmp_path / "p.parquet"
    path.write_bytes(data)
    with pa.OSFile(str(path)) as stream:
        result = read_landing_file(source(PARQUET_SCHEMA, format="parquet"), stream, "p.parquet")
    assert result.rows.schema.names == ["id", "name", "price", "_source_row"]
    assert result.rows.schema.field("id").type == pa.int64()
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "price": 1.0, "_source_row": 1},
        {"id": 2, "name": "b", "price": 2.0, "_source_row": 2},
    ]
    assert result.rejects.num_rows == 0


def test_parquet_with_a_value_that_does_not_convert() -> None:
    data = parquet_bytes(
        pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"], "price": ["1.5", "x", None]})
    )
    result = read(source(PARQUET_SCHEMA, format="parquet"), data, "p.parquet")
    assert result.rows.to_pylist() == [
        {"id": 1, "name": "a", "price": 1.5, "_source_row": 1},
        {"id": 3, "name": "c", "price": None, "_source_row": 3},
    ]
    assert rejected(result) == {2: "p.parquet line 2: price: 'x' is not a valid float64"}


def test_parquet_missing_a_declared_column() -> None:
    data = parquet_bytes(pa.table({"id": [1], "name": ["a"]}))
    with pytest.raises(LandingFileError) as caught:
        read(source(PARQUET_SCHEMA, format="parquet"), data, "p.parquet")
    assert str(caught.value).startswith("p.parquet: ")
    assert "price" in str(caught.value) and "missing" in str(caught.value)
