"""Landing files read by Spark (engines/landing/spark_reader.py) against the Arrow readers.

The demo's CSV and JSON-lines files, a dirty CSV (wrong field counts, values not of their
type, a null in a non-nullable column, a blank line) and a Parquet file, on tmp_path:
the same rows, line numbers and rejected lines with the same reasons.
"""

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.engines.landing import read_landing_file
from dataplat_dagster.engines.landing.spark_reader import (
    LandingFile,
    read_landing,
    unsupported,
)
from tests.conftest import DEMO_LANDING

pytestmark = pytest.mark.spark

ORDERS = LandingSource.model_validate(
    {
        "path": "orders_{date:%Y%m%d}.csv",
        "schema": {
            "order_id": {"type": "int64", "nullable": False},
            "customer_id": "int64",
            "product_id": "string",
            "quantity": "int32",
            "unit_price": "float64",
            "status": "string",
            "ordered_at": "timestamp",
        },
    }
)
PRODUCTS = LandingSource.model_validate(
    {
        "path": "products.jsonl",
        "format": "jsonl",
        "schema": {"product_id": "string", "name": "string", "list_price": "float64"},
    }
)
DIRTY = """order_id,customer_id,product_id,quantity,unit_price,status,ordered_at
1,10,P1,2,3.5,paid,2024-01-02T10:00:00
2,11,P2,x,3.5,paid,2024-01-02T11:00:00

3,12,P3,1,2.0,paid
,13,P4,1,2.0,paid,2024-01-02T12:00:00
4,14,P5,1,2.0,paid,2024-01-02T13:00:00,extra
5,15,"P,6",1,2.0,paid,2024-01-02 14:00:00+01:00
"""


def _arrow(source: LandingSource, path: Path, label: str) -> tuple[list, list]:
    read = read_landing_file(source, pa.OSFile(str(path)), label, "UTC")
    return _rows(read.rows.to_pylist()), _rejects(read.rejects.to_pylist())


def _spark(spark, source: LandingSource, path: Path, label: str) -> tuple[list, list]:
    read = read_landing(spark, source, [LandingFile(path.as_uri(), label, "2024-01-02")], "UTC")
    rows = [r.asDict() for r in read.rows.collect()]
    assert {r["_partition"] for r in rows} <= {"2024-01-02"}
    assert {r["_source_file"] for r in rows} <= {label}
    return _rows(rows), _rejects([r.asDict() for r in read.rejects.collect()])


def _rows(rows: list[dict]) -> list:
    def keep(row: dict) -> dict:
        # Spark hands timestamps back as naive UTC (its session zone), Arrow as aware UTC
        return {
            k: v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
            for k, v in row.items()
            if k not in ("_source_file", "_partition")
        }

    return sorted((keep(r) for r in rows), key=lambda r: r["_source_row"])


def _rejects(rows: list[dict]) -> list:
    return sorted((r["_source_row"], r["_dq_reason"]) for r in rows)


@pytest.mark.parametrize(
    ("source", "name"),
    [(ORDERS, "retail/orders_20240102.csv"), (PRODUCTS, "retail/products.jsonl")],
)
def test_demo_files_read_alike(spark, source: LandingSource, name: str) -> None:
    path = DEMO_LANDING / name

    assert _spark(spark, source, path, name) == _arrow(source, path, name)


def test_dirty_csv_rejects_the_same_lines_for_the_same_reasons(spark, tmp_path: Path) -> None:
    path = tmp_path / "orders_20240102.csv"
    path.write_text(DIRTY)

    rows, rejects = _spark(spark, ORDERS, path, "orders_20240102.csv")

    assert (rows, rejects) == _arrow(ORDERS, path, "orders_20240102.csv")
    assert [n for n, _ in rejects] == [3, 5, 6, 7]
    assert rows[-1]["product_id"] == "P,6" and rows[-1]["ordered_at"].hour == 13


def test_parquet_rows_keep_their_row_numbers(spark, tmp_path: Path) -> None:
    source = LandingSource.model_validate(
        {"path": "p.parquet", "format": "parquet", "schema": {"id": "int64", "amount": "float64"}}
    )
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": ["1.5", "oops", "2"]}), path)

    rows, rejects = _spark(spark, source, path, "p.parquet")

    assert (rows, rejects) == _arrow(source, path, "p.parquet")
    assert rejects == [(2, "p.parquet line 2: amount: 'oops' is not a valid float64")]


def test_what_spark_leaves_to_the_arrow_readers() -> None:
    latin = ORDERS.model_copy(update={"csv": ORDERS.csv.model_copy(update={"encoding": "latin-1"})})
    assert "UTF-8" in unsupported(latin)
    assert unsupported(ORDERS) is None


MONTHLY = LandingSource.model_validate(
    {
        "path": "sales.csv",
        "partition_column": "day",
        "schema": {"id": "int64", "day": "date", "amount": "float64"},
    }
)
MANY_WINDOWS = """id,day,amount
1,2024-01-05,1.5
2,2024-02-29,2
3,2023-12-31,3
4,,4
5,2024-04-01,5
6,2024-13-01,6
7,2024-03-31,7,extra
8,2024-02-01,8
"""


@pytest.mark.parametrize("keys", [("2024-01-01", "2024-02-01", "2024-03-01"), ("2024-02-01",)])
def test_a_file_of_many_windows_is_windowed_as_the_arrow_path_does(
    spark, tmp_path: Path, keys: tuple[str, ...]
) -> None:
    """Dates inside, before and after the windows, a null date, a bad date, a short line."""
    from dataplat_dagster.assets.raw_spark import _windowed
    from dataplat_dagster.assets.raw_windows import DateColumn, by_column, rows_by_window
    from dataplat_dagster.config.models import Partitioning
    from dataplat_dagster.engines.spark_windows import DateWindows
    from dataplat_dagster.partitions import build_partitions_def

    windows = build_partitions_def(
        Partitioning.model_validate(
            {"granularity": "monthly", "start": "2024-01-01", "end": "2024-04-01"}
        )
    )
    path = tmp_path / "sales.csv"
    path.write_text(MANY_WINDOWS)
    dated = DateWindows("day", windows, keys)
    read = read_landing(
        spark, MONTHLY, [LandingFile(path.as_uri(), "sales.csv", None)], "UTC", dated
    )
    rows, rejects, (read_by, rejected_by) = _windowed(read, dated)

    arrow = read_landing_file(MONTHLY, pa.OSFile(str(path)), "sales.csv", "UTC")
    label = pa.array(["sales.csv"] * arrow.rows.num_rows, pa.string())
    table = arrow.rows.append_column("_source_file", label)
    bad = arrow.rejects.append_column(
        "_source_file", pa.array(["sales.csv"] * arrow.rejects.num_rows, pa.string())
    )
    column = DateColumn("day", MONTHLY.schema_["day"], "UTC", windows)
    table, bad = by_column(table, bad, column, list(keys))

    def placed(frame: list[dict]) -> list:
        return sorted((r["_source_row"], str(r["_partition"]), r.get("_dq_reason")) for r in frame)

    assert placed([r.asDict() for r in rows.collect()]) == placed(table.to_pylist())
    assert placed([r.asDict() for r in rejects.collect()]) == placed(bad.to_pylist())
    assert read_by == rows_by_window([table, bad], list(keys))
    assert rejected_by == rows_by_window([bad], list(keys))
    if "2024-01-01" in keys:  # before the first window and without a date: the first window
        reasons = {row: (window, why) for row, window, why in placed(bad.to_pylist())}
        assert reasons[4][0] == "2024-01-01" and "day=2023-12-31 is outside" in reasons[4][1]
        assert reasons[5][0] == "2024-01-01" and "day=None is outside" in reasons[5][1]


def test_line_numbers_hold_across_the_blocks_of_a_split_file(spark, tmp_path: Path) -> None:
    """A file read by several tasks: rejected lines keep their numbers in the file."""
    from pyspark.sql import functions as F

    # a line of the wrong type every 997 lines, and a blank line
    lines = [DIRTY.splitlines()[0]] + [
        "" if n == 4000 else f"{n},1,P,{'x' if n % 997 == 0 else 1},2.0,paid,"
        for n in range(1, 6001)
    ]
    path = tmp_path / "orders_20240102.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(32 * 1024))  # about 7 blocks
    try:
        tasks = spark.read.text(str(path)).select(F.spark_partition_id()).distinct().count()
        assert tasks > 3
        rows, rejects = _spark(spark, ORDERS, path, "orders_20240102.csv")
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)

    assert (rows, rejects) == _arrow(ORDERS, path, "orders_20240102.csv")
    assert [n for n, _ in rejects] == [n + 1 for n in range(997, 6001, 997)]


QUOTES = """order_id,customer_id,product_id,quantity,unit_price,status,ordered_at
1,10,"P""1",2,3.5,paid,2024-01-02T10:00:00
2,11,"P2,1,3.5,paid,2024-01-02T11:00:00
3,12,P"3",1,2.0,paid,2024-01-02T12:00:00
4,13,"P,4",1,2.0,paid,"2024-01-02T13:00:00",x
5,14,"P5",1,2.0,paid,2024-01-02T14:00:00,
6,15,"",1,2.0,paid,2024-01-02T15:00:00
"""


def test_quotes_split_and_reject_lines_as_the_arrow_reader_does(spark, tmp_path: Path) -> None:
    """Field counts as Spark's CSV parser finds them, against the Arrow reader's.

    Quoted delimiters, doubled quotes, a quote that never closes, quotes inside a field, an
    empty quoted field. The line whose quote never closes is rejected by both; the Arrow reader also says how
    many lines its record would take, which a reader of single lines cannot know.
    """
    path = tmp_path / "orders_20240102.csv"
    path.write_text(QUOTES)

    rows, rejects = _spark(spark, ORDERS, path, "orders_20240102.csv")
    arrow_rows, arrow_rejects = _arrow(ORDERS, path, "orders_20240102.csv")

    assert rows == arrow_rows
    assert [r["product_id"] for r in rows] == ['P"1', 'P"3"', None]
    assert [n for n, _ in rejects] == [n for n, _ in arrow_rejects] == [3, 5, 6]
    assert rejects[1:] == arrow_rejects[1:]  # wrong field counts: the same reasons
    open_quote = "a quote opened on this line is not closed on it"
    assert open_quote in rejects[0][1] and open_quote in arrow_rejects[0][1]
    line = '2,11,"P2,1,3.5,paid,2024-01-02T11:00:00'
    assert rejects[0][1].replace(", so its record would take 2 lines", "") == (
        arrow_rejects[0][1].replace(", so its record would take 2 lines", "")
    )
    assert rejects[0][1].endswith(f"'{line}'")


def test_several_split_files_keep_their_labels_windows_and_line_numbers(
    spark, tmp_path: Path
) -> None:
    """Files read together, each split into blocks: every line knows its file and number."""
    names = ["orders_20240102.csv", "orders 20240103+%41.csv"]  # a space, a plus, an escape
    for day, name in enumerate(names):
        lines = [DIRTY.splitlines()[0]] + [
            f"{n},{day},P,{'x' if n % 499 == 0 else 1},2.0,paid," for n in range(1, 3001)
        ]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    files = [
        LandingFile(f"file://{tmp_path / name}", f"in/{name}", window)  # as raw_spark.py gives it
        for name, window in zip(names, ["2024-01-02", "2024-01-03"], strict=True)
    ]
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(32 * 1024))  # blocks of each file
    try:
        read = read_landing(spark, ORDERS, files, "UTC")
        rows = read.rows.select("_source_file", "_partition", "_source_row", "customer_id")
        got = sorted(tuple(r) for r in rows.collect())
        rejects = sorted(
            tuple(r) for r in read.rejects.select("_source_file", "_source_row").collect()
        )
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)

    for day, (name, window) in enumerate(zip(names, ["2024-01-02", "2024-01-03"], strict=True)):
        numbers = [n for n in range(1, 3001) if n % 499]
        assert [r for r in got if r[0] == f"in/{name}"] == [
            (f"in/{name}", window, n + 1, day) for n in numbers
        ]
        assert [n for label, n in rejects if label == f"in/{name}"] == [
            n + 1 for n in range(499, 3001, 499)
        ]
