"""The bad-input corpus: every kind of malformed landing file through the real raw asset.

Each case of CASES writes a project whose dataflow `shop` has one landing source and its
raw table (with `count_audit: {tolerance_pct: 0}`), lands the case's files, and runs the raw
asset in process over the case's windows. It asserts what each window kept (by line),
what was quarantined with which reason (naming the file and the line), what was published
(the window's rows and quarantine), that the count audit, which compares with the file's
physical lines, passed, and for a file that cannot be read at all, that the run failed
with the file named and the window's previous version survived. Cases cover ragged rows,
a quote left open (the reported 17-row file), CR line endings, a byte order mark, a
latin-1 byte, compressed and binary content, header-only and empty files, exact integers,
zoned timestamps, broken JSON lines, Parquet with a missing or a nested column, rows
assigned by a date column in New York and Kolkata windows, and rows dated outside their
file's window (quarantined, routed, or not routable in this run).
"""

import gzip
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.checks.helpers import evaluations, make_shop, meta, step_failures

DAY1, DAY2, DAY3 = "2024-01-02", "2024-01-03", "2024-01-04"
DAILY_UTC = '{granularity: daily, timezone: UTC, start: "2024-01-01", end: "2024-01-10"}'
ORDERS = "{id: int64, status: string, qty: int32}"
CSV_PATH = "shop/orders_{date:%Y%m%d}.csv"


def csv_file(*rows: str, header: str = "id,status,qty", end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def parquet_file(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def day_file(day: str, ext: str = "csv") -> str:
    return f"shop/orders_{day.replace('-', '')}.{ext}"


GOOD = csv_file("1,paid,1", "2,paid,2")
SEVENTEEN = [f"{n},paid,{n}" for n in range(1, 18)]


@dataclass(frozen=True)
class Case:
    """One corpus entry; `kept`/`quarantined` map a window to lines (and reason fragments)."""

    id: str
    files: dict[str, bytes]
    kept: dict[str, list[int]] = field(default_factory=dict)
    quarantined: dict[str, dict[int, str]] = field(default_factory=dict)
    landing: str = f'path: "{CSV_PATH}", format: csv, schema: {ORDERS}'
    partitioning: str = DAILY_UTC
    windows: tuple[str, ...] = (DAY1,)
    values: dict[str, dict[str, list[Any]]] = field(
        default_factory=dict
    )  # window -> column -> sorted values
    error: str | None = None  # the run fails, naming the file; the window keeps what it had
    previous: dict[str, bytes] = field(default_factory=dict)  # files of the run before it


def with_line(lines: list[str], number: int, text: str) -> list[str]:
    """`lines` (data lines, the header is line 1) with physical line `number` replaced."""
    changed = list(lines)
    changed[number - 2] = text
    return changed


NY = '{granularity: daily, timezone: America/New_York, start: "2013-01-01", end: "2013-01-05"}'
KOLKATA = '{granularity: hourly, timezone: Asia/Kolkata, start: "2013-01-01", end: "2013-01-02"}'
FLIGHTS = "path: shop/flights.csv, format: csv, partition_column: time_hour, schema: {flight: int64, time_hour: timestamp}"
CHECKED = (
    f'path: "{CSV_PATH}", format: csv, partition_column: at, schema: {{id: int64, at: timestamp}}'
)

CASES = [
    Case("clean", {day_file(DAY1): GOOD}, kept={DAY1: [2, 3]}),
    Case(
        "ragged_rows",
        {day_file(DAY1): csv_file("1,paid,1", "2,paid", "3,paid,3,extra", "4,paid,4")},
        kept={DAY1: [2, 5]},
        quarantined={DAY1: {3: "expected 3 fields, found 2", 4: "expected 3 fields, found 4"}},
    ),
    Case(
        "unterminated_quote",  # the reported file: 17 rows, `"paid,` on line 5
        {day_file(DAY1): csv_file(*with_line(SEVENTEEN, 5, '4,"paid,4'))},
        kept={DAY1: [n for n in range(2, 19) if n != 5]},
        quarantined={DAY1: {5: "a quote opened on this line is not closed on it"}},
    ),
    Case(
        "quote_opened_mid_line",
        {day_file(DAY1): csv_file(*with_line(SEVENTEEN, 9, '8,x"y,"z'))},
        kept={DAY1: [n for n in range(2, 19) if n != 9]},
        quarantined={DAY1: {9: "a quote opened on this line is not closed on it"}},
    ),
    Case(
        "bare_cr_endings",
        {day_file(DAY1): csv_file("1,paid,1", "", "x,paid,2", "3,paid,3", end="\r")},
        kept={DAY1: [2, 5]},
        quarantined={DAY1: {4: "id: 'x' is not a valid int64"}},
    ),
    Case(
        "utf8_bom",
        {day_file(DAY1): b"\xef\xbb\xbf" + csv_file("1,paid,1", "2,paid,x")},
        kept={DAY1: [2]},
        quarantined={DAY1: {3: "qty: 'x' is not a valid int32"}},
    ),
    Case(
        "latin1_byte_in_utf8",
        {day_file(DAY1): b"id,status,qty\n1,caf\xe9,1\n2,paid,2\n"},
        kept={DAY1: [3]},
        quarantined={DAY1: {2: "not valid utf-8 (byte 0xe9"}},
    ),
    Case(
        "gzip_under_csv_name",
        {day_file(DAY1): gzip.compress(GOOD)},
        previous={day_file(DAY1): csv_file("7,old,7")},
        error="holds gzip-compressed data",
    ),
    Case(
        "binary_under_csv_name",
        {day_file(DAY1): b"id,status,qty\n\x00\x01\x02\xff\xfe\n"},
        previous={day_file(DAY1): csv_file("7,old,7")},
        error="holds binary data (a NUL byte",
    ),
    Case("header_only", {day_file(DAY1): csv_file()}, kept={DAY1: []}),
    Case(
        "empty_file",
        {day_file(DAY1): b""},
        previous={day_file(DAY1): csv_file("7,old,7")},
        error="is empty (0 bytes)",
    ),
    Case(
        "int64_exact_beside_a_bad_row",
        {day_file(DAY1): csv_file("9223372036854775807,a,1", "123456789012345678,b,x", "123456789012345678,c,3")},
        kept={DAY1: [2, 4]},
        quarantined={DAY1: {3: "qty: 'x' is not a valid int32"}},
        values={DAY1: {"id": [123456789012345678, 9223372036854775807]}},
    ),
    Case(
        "zoned_timestamps_in_new_york",
        {day_file("2013-01-15"): b"id,at\n1,2013-01-15T10:00:00Z\n2,2013-01-15T10:00:00\n3,2013-01-15T10:00:00+05:30\n"},
        landing=f'path: "{CSV_PATH}", format: csv, schema: {{id: int64, at: timestamp}}',
        partitioning='{granularity: daily, timezone: America/New_York, start: "2013-01-01", end: "2013-02-01"}',
        windows=("2013-01-15",),
        kept={"2013-01-15": [2, 3, 4]},
        values={"2013-01-15": {"at": [datetime(2013, 1, 15, 4, 30, tzinfo=UTC),
                                      datetime(2013, 1, 15, 10, tzinfo=UTC),
                                      datetime(2013, 1, 15, 15, tzinfo=UTC)]}},
    ),
    Case(
        "jsonl_broken_line",
        {day_file(DAY1, "jsonl"): b'{"id": 1, "status": "a", "qty": 1}\n{"id": 2, "status": \n{"id": 9223372036854775807, "qty": "x"}\n{"id": 4}\n'},
        landing=f'path: "shop/orders_{{date:%Y%m%d}}.jsonl", format: jsonl, schema: {ORDERS}',
        kept={DAY1: [1, 4]},
        quarantined={DAY1: {2: "not a JSON object", 3: "qty: 'x' is not a valid int32"}},
    ),
    Case(
        "parquet_missing_column",
        {day_file(DAY1, "parquet"): parquet_file(pa.table({"id": [1], "status": ["a"]}))},
        landing=f'path: "shop/orders_{{date:%Y%m%d}}.parquet", format: parquet, schema: {ORDERS}',
        previous={day_file(DAY1, "parquet"): parquet_file(pa.table({"id": [7], "status": ["old"], "qty": [7]}))},
        error="declared column(s) qty missing",
    ),
    Case(
        "parquet_nested_column",
        {day_file(DAY1, "parquet"): parquet_file(pa.table({"id": [1], "status": ["a"], "qty": [[1, 2]]}))},
        landing=f'path: "shop/orders_{{date:%Y%m%d}}.parquet", format: parquet, schema: {ORDERS}',
        previous={day_file(DAY1, "parquet"): parquet_file(pa.table({"id": [7], "status": ["old"], "qty": [7]}))},
        error="nested column(s) qty (list<element: int64>, declared int32)",
    ),
    Case(
        "parquet_values_and_zones",
        {day_file(DAY1, "parquet"): parquet_file(pa.table({
            "id": pa.array([9223372036854775807, 2, 3]),
            "at": pa.array([datetime(2024, 1, 2, 10)] * 3, pa.timestamp("ms")),
            "qty": pa.array([1, 3_000_000_000, 3], pa.int64()),
        }))},
        landing='path: "shop/orders_{date:%Y%m%d}.parquet", format: parquet, schema: {id: int64, at: timestamp, qty: int32}',
        partitioning='{granularity: daily, timezone: Asia/Kolkata, start: "2024-01-01", end: "2024-01-10"}',
        kept={DAY1: [1, 3]},
        quarantined={DAY1: {2: "qty: '3000000000' is not a valid int32"}},
        values={DAY1: {"id": [3, 9223372036854775807], "at": [datetime(2024, 1, 2, 4, 30, tzinfo=UTC)] * 2}},
    ),
    Case(
        "partition_column_new_york_microseconds",  # the reported run: every row was quarantined
        {"shop/flights.csv": b"flight,time_hour\n1,2013-01-01 06:00:00\n2,2013-01-01T23:30:00\n3,2013-01-02T04:30:00Z\n4,2013-01-02 05:00:00\n5,2012-12-31 23:00:00\n"},
        landing=FLIGHTS,
        partitioning=NY,
        windows=("2013-01-01", "2013-01-02"),
        kept={"2013-01-01": [2, 3, 4], "2013-01-02": [5]},
        quarantined={"2013-01-01": {6: "time_hour=2013-01-01T04:00:00+00:00 is outside the declared windows"}},
    ),
    Case(
        "partition_column_kolkata_hours",
        {"shop/flights.csv": b"flight,time_hour\n1,2013-01-01T00:29:00+05:30\n2,2013-01-01T01:30:00\n3,2012-12-31T19:15:00Z\n"},
        landing=FLIGHTS,
        partitioning=KOLKATA,
        windows=("2013-01-01-00:00", "2013-01-01-01:00"),
        kept={"2013-01-01-00:00": [2, 4], "2013-01-01-01:00": [3]},
    ),
    Case(
        "dated_rows_outside_their_window_quarantined",
        {day_file(DAY1): b"id,at\n1,2024-01-02T10:00:00\n2,2024-01-03T01:00:00\n3,\n4,2030-01-01T00:00:00\n"},
        landing=CHECKED,
        kept={DAY1: [2]},
        quarantined={DAY1: {
            3: "at=2024-01-03T01:00:00+00:00 falls in window 2024-01-03, not in its file's window 2024-01-02 (outside_window: quarantine)",
            4: "at is null, so the row cannot be checked against its file's window 2024-01-02",
            5: "at=2030-01-01T00:00:00+00:00 is outside the declared windows",
        }},
    ),
    Case(
        "dated_rows_routed_within_the_run",
        {day_file(DAY1): b"id,at\n1,2024-01-02T10:00:00\n2,2024-01-03T01:00:00\n",
         day_file(DAY2): b"id,at\n3,2024-01-03T10:00:00\n4,2024-01-02T23:59:00\n"},
        landing=CHECKED + ", outside_window: route",
        windows=(DAY1, DAY2),
        kept={DAY1: [2, 3], DAY2: [2, 3]},
        values={DAY1: {"id": [1, 4]}, DAY2: {"id": [2, 3]}},
    ),
    Case(
        "dated_rows_not_routable_outside_the_run",
        {day_file(DAY1): b"id,at\n1,2024-01-02T10:00:00\n2,2024-01-03T01:00:00\n"},
        landing=CHECKED + ", outside_window: route",
        kept={DAY1: [2]},
        quarantined={DAY1: {3: "falls in window 2024-01-03, not in its file's window 2024-01-02; window 2024-01-03 is not built by this run"}},
    ),
]  # fmt: skip


def project_yaml(case: Case) -> str:
    return f"""\
dataflow: shop
owners: [team:shop]
partitioning: {case.partitioning}
landing:
  orders: {{{case.landing}}}
raw:
  orders:
    from: landing.orders
    rules: [{{count_audit: {{tolerance_pct: 0}}}}]
"""


def land(landing: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (landing / path).parent.mkdir(parents=True, exist_ok=True)
        (landing / path).write_bytes(data)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    shop = make_shop(tmp_path, monkeypatch, project_yaml(case))
    only = ["raw.shop.orders", "raw.shop.orders__quarantine"]
    if case.previous:
        land(shop.landing, case.previous)
        assert shop.run(instance, list(case.windows), only=only).success
        before = shop.read("raw", "orders", list(case.windows))
    land(shop.landing, case.files)
    result = shop.run(instance, list(case.windows), only=only)
    if case.error is not None:
        assert not result.success
        (failure,) = step_failures(result).values()
        (name,) = case.files
        assert f"{name}: " in failure and case.error in failure, failure
        assert shop.read("raw", "orders", list(case.windows)).equals(before)  # kept as it was
        return
    assert result.success, step_failures(result)
    for window in case.windows:
        assert_window(shop, case, window)
    for window, columns in case.values.items():
        rows = shop.read("raw", "orders", [window])
        for column, values in columns.items():
            assert sorted(rows[column].to_pylist()) == values, (window, column)
    audits = evaluations(result, "count_audit", "orders")
    assert [e.passed for e in audits] == [True] * len(case.windows), [meta(e) for e in audits]
    lines = sum(len(case.kept.get(w, [])) + len(case.quarantined.get(w, {})) for w in case.windows)
    assert sum(meta(e)["source_count"] for e in audits) == lines  # the file's lines, all of them


def assert_window(shop: Any, case: Case, window: str) -> None:
    """The window's published rows and quarantine, line by line, reasons naming file and line."""
    rows = shop.read("raw", "orders", [window])
    assert sorted(rows["_source_row"].to_pylist()) == sorted(case.kept.get(window, [])), window
    quarantine = shop.read("raw", "orders__quarantine", [window])
    expected = case.quarantined.get(window, {})
    found = dict(
        zip(
            quarantine["_source_row"].to_pylist(), quarantine["_dq_reason"].to_pylist(), strict=True
        )
    )
    assert sorted(found) == sorted(expected), (window, found)
    files = set(quarantine["_source_file"].to_pylist())
    for line, fragment in expected.items():
        (path,) = files if len(files) == 1 else [f for f in files if found[line].startswith(f)]
        assert found[line].startswith(f"{path} line {line}: "), found[line]
        assert fragment in found[line], found[line]
    manifest = shop.storage().manifest(["raw", "shop", "orders"], window)
    assert manifest is not None and json.dumps(manifest.properties)  # published, with its sources
