"""Landing files read line by line when their lines are not clean (`read_landing_file`).

Covers a quote left open (the reported file: one line swallowing the 14 after it), a quote
opened mid-line whose swallowed record has the right field count, values with line breaks
when the source declares `newlines_in_values`, CR and CR LF line endings, a byte order
mark, a byte that is not UTF-8 (and a latin-1 source that declares it), compressed and
binary content, empty and header-only files, and `source_rows` (what the file holds,
counted apart from the parser) on each. Bytes built in the test; no file stores or runs.
"""

import gzip

import pyarrow as pa
import pytest

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing import (
    LandingFileError,
    LandingRead,
    read_landing_file,
    source_rows,
)

SCHEMA = {"id": "int64", "status": "string", "qty": "int32"}


def source(**fields: object) -> LandingSource:
    return LandingSource.model_validate({"path": "x", "schema": SCHEMA, **fields})


def read(data: bytes, src: LandingSource | None = None, label: str = "f.csv") -> LandingRead:
    src = src or source()
    result = read_landing_file(src, pa.BufferReader(data), label)
    # every line the file holds is a row or a rejected row, and the count agrees with the
    # schedules' count of the same file
    assert result.source_rows == result.rows.num_rows + result.rejects.num_rows
    assert source_rows(src, pa.BufferReader(data)) == result.source_rows
    return result


def seventeen_rows(line_five: str) -> bytes:
    lines = ["id,status,qty"] + [f"{n},paid,{n}" for n in range(1, 18)]
    lines[4] = line_five  # physical line 5
    return ("\n".join(lines) + "\n").encode()


def test_an_unterminated_quote_is_quarantined_alone() -> None:
    result = read(seventeen_rows('4,"paid,4'))
    assert result.rows.num_rows == 16
    assert result.rows["id"].to_pylist() == [n for n in range(1, 18) if n != 4]
    assert result.rows["_source_row"].to_pylist() == [n + 1 for n in range(1, 18) if n != 4]
    (reason,) = result.rejects["_dq_reason"].to_pylist()
    assert result.rejects["_source_row"].to_pylist() == [5]
    assert reason.startswith("f.csv line 5: a quote opened on this line is not closed on it")
    assert '4,"paid,4' in reason and "5,paid,5" not in reason  # only its own line
    assert len(reason) < 300


def test_a_swallowing_record_with_the_right_field_count_is_found() -> None:
    # `"z` opens a quote at a field's start; pyarrow would read one valid-looking row whose
    # last value holds the 13 lines after it
    result = read(seventeen_rows('4,x"y,"z'))
    assert result.rows.num_rows == 16
    assert result.rejects["_source_row"].to_pylist() == [5]


def test_two_open_quotes_each_quarantine_their_line() -> None:
    lines = seventeen_rows('4,"paid,4').decode().splitlines()
    lines[10] = '10,"late,10'
    result = read(("\n".join(lines) + "\n").encode())
    assert result.rejects["_source_row"].to_pylist() == [5, 11]
    assert result.rows.num_rows == 15


def test_declared_line_breaks_in_values_are_values() -> None:
    data = b'id,status,qty\n1,"two\nlines",1\n2,paid,2\n'
    result = read(data, source(csv={"newlines_in_values": True}))
    assert result.rows["status"].to_pylist() == ["two\nlines", "paid"]
    assert result.rows["_source_row"].to_pylist() == [2, 4]  # a record's first line
    assert result.source_rows == 2


def test_undeclared_line_breaks_quarantine_both_halves() -> None:
    result = read(b'id,status,qty\n1,"two\nlines",1\n2,paid,2\n')
    assert result.rows["id"].to_pylist() == [2]
    reasons = dict(
        zip(
            result.rejects["_source_row"].to_pylist(),
            result.rejects["_dq_reason"].to_pylist(),
            strict=True,
        )
    )
    assert "newlines_in_values" in reasons[2]
    assert "expected 3 fields, found 2" in reasons[3]


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"], ids=["cr", "crlf"])
def test_cr_line_endings_number_lines_as_editors_do(ending: bytes) -> None:
    data = ending.join([b"id,status,qty", b"1,a,1", b"", b"x,b,2", b"3,c,3"]) + ending
    result = read(data)
    assert result.rows["_source_row"].to_pylist() == [2, 5]
    assert result.rejects["_dq_reason"].to_pylist() == [
        "f.csv line 4: id: 'x' is not a valid int64"
    ]


def test_a_byte_order_mark_is_not_part_of_the_header() -> None:
    result = read(b"\xef\xbb\xbfid,status,qty\n1,a,1\n2,b,x\n")
    assert result.rows["id"].to_pylist() == [1]
    assert result.rejects["_source_row"].to_pylist() == [3]


def test_a_latin1_byte_in_a_utf8_file_quarantines_its_line() -> None:
    result = read(b"id,status,qty\n1,caf\xe9,1\n2,ok,2\n")
    assert result.rows["status"].to_pylist() == ["ok"]
    (reason,) = result.rejects["_dq_reason"].to_pylist()
    assert reason.startswith("f.csv line 2: not valid utf-8 (byte 0xe9 at byte 6 of the line)")
    assert "caf\\\\xe9" in reason  # the bytes shown, not replaced


def test_a_latin1_source_reads_latin1() -> None:
    result = read(b"id,status,qty\n1,caf\xe9,1\n", source(csv={"encoding": "latin-1"}))
    assert result.rows["status"].to_pylist() == ["café"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            gzip.compress(b"id,status,qty\n1,a,1\n"),
            "holds gzip-compressed data (it starts with bytes 1f 8b)",
        ),
        (b"PK\x03\x04rest", "holds a zip archive"),
        (b"id,status,qty\n1,\x00\x01\x02,1\n", "holds binary data (a NUL byte at offset 16)"),
        (b"", "is empty (0 bytes)"),
        (b"\n\n", "has no header line"),
    ],
    ids=["gzip", "zip", "binary", "empty", "blank"],
)
def test_files_that_are_not_csv_text(data: bytes, message: str) -> None:
    with pytest.raises(LandingFileError) as caught:
        read_landing_file(source(), pa.BufferReader(data), "f.csv")
    assert str(caught.value).startswith("f.csv")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "data", [b"id,status,qty\n", b"id,status,qty"], ids=["newline", "no-newline"]
)
def test_header_only_files_hold_no_rows(data: bytes) -> None:
    result = read(data)
    assert result.rows.num_rows == 0 and result.rejects.num_rows == 0


def test_jsonl_broken_and_undecodable_lines() -> None:
    data = b'{"id": 1, "status": "a", "qty": 1}\n{"id": 2, "status": "b"\n{"id": 3, "status": "caf\xe9"}\r\n\n{"id": 4}\n'
    src = source(format="jsonl")
    result = read(data, src, label="f.jsonl")
    assert result.rows["id"].to_pylist() == [1, 4]
    reasons = dict(
        zip(
            result.rejects["_source_row"].to_pylist(),
            result.rejects["_dq_reason"].to_pylist(),
            strict=True,
        )
    )
    assert reasons[2].startswith("f.jsonl line 2: not a JSON object")
    assert reasons[3].startswith("f.jsonl line 3: not valid utf-8")
