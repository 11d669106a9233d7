"""Shared by the parity tests: generated frames, both engines, and rows compared as data.

Not a test module. Results are compared as sorted rows of plain Python values plus the
declared type of each column, so row order (which Spark does not keep) does not matter
but every value and type does.
"""

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.engines.base import Engine
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.timestamps import instants_in_utc
from dataplat_dagster.types import declared_type

ENGINES = ["pandas", "spark"]
DAYS = ["2024-01-01", "2024-01-02"]
PANDAS = PandasEngine()


def text_orders() -> pa.Table:
    """Landing-like orders as text over two windows: dirty values on purpose."""
    rows = [
        # id, customer, status, amount, when (no offset / offset), day, paid, note, window
        ("1", "10", " paid ", "9.50", "2024-01-01 10:00:00", "2024-01-01", "yes", "a", DAYS[0]),
        (
            "2",
            "11",
            "shipped",
            "12.00",
            "2024-01-01T23:30:00+02:00",
            "2024-01-01",
            "n",
            "",
            DAYS[0],
        ),
        (
            "2",
            "11",
            "shipped",
            "12.00",
            "2024-01-01T23:30:00+02:00",
            "2024-01-01",
            "n",
            "b",
            DAYS[0],
        ),
        ("3", None, "lost", "abc", "not a time", "2024-13-01", "maybe", "c", DAYS[0]),
        ("+4", "12", "paid", "1e3", "2024-01-02 00:15", "2024-01-02", "1", "  ", DAYS[1]),
        ("5.0", "10", "\tpaid", "-3", "2024-01-02T08:00:00Z", "2024-01-02", "FALSE", "d", DAYS[1]),
        ("5.5", "13", None, "", "", "", "", None, DAYS[1]),
        ("1", "10", "paid", "7.25", "2024-01-02 12:00:00.1234567", "2024-01-02", "t", "e", DAYS[1]),
    ]
    names = ["id", "customer", "status", "amount", "at", "day", "paid", "note", "_partition"]
    return pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})


def typed_orders() -> pa.Table:
    """Typed orders over two windows: nulls, duplicates, instants and wall-clock times."""
    utc = dt.UTC
    return pa.table(
        {
            "order_id": pa.array([1, 2, 2, 3, 4, 5, None, 6], pa.int64()),
            "customer_id": pa.array([10, 11, 11, 99, 12, 10, 13, None], pa.int64()),
            "status": ["paid", "shipped", "shipped", "lost", "paid", "Paid", None, "paid"],
            "quantity": pa.array([2, 1, 1, 0, 30, 5, 3, 2], pa.int32()),
            "price": [9.5, 12.0, 12.0, -1.0, 1000.0, 3.25, None, 7.5],
            "code": ["AB-1", "AB-2", "AB-2", "XX", "AB-4", "ab-5", "AB-7", None],
            "paid": [True, False, False, None, True, True, False, True],
            "ordered_at": pa.array(
                [
                    dt.datetime(2024, 1, 1, 9, 0, tzinfo=utc),
                    dt.datetime(2024, 1, 1, 22, 30, tzinfo=utc),
                    dt.datetime(2024, 1, 1, 22, 30, tzinfo=utc),
                    None,
                    dt.datetime(2024, 1, 2, 0, 15, 0, 500, tzinfo=utc),
                    dt.datetime(2024, 1, 2, 23, 59, tzinfo=utc),
                    dt.datetime(2024, 1, 2, 8, 0, tzinfo=utc),
                    dt.datetime(2023, 12, 31, 23, 30, tzinfo=utc),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "local_at": pa.array(
                [dt.datetime(2024, 1, 1, 9, 0)] * 4 + [dt.datetime(2024, 1, 2, 1, 2, 3)] * 4,
                pa.timestamp("us"),
            ),
            "shipped_on": pa.array(
                [dt.date(2024, 1, 2), None, None, dt.date(2024, 1, 3)] + [dt.date(2024, 1, 4)] * 4,
                pa.date32(),
            ),
            "_partition": pa.array([DAYS[0]] * 4 + [DAYS[1]] * 4, pa.string()),
        }
    )


def customers() -> pa.Table:
    return pa.table({"customer_id": pa.array([10, 11, 12, 13], pa.int64()), "name": list("abcd")})


def canonical(engine: Engine, frame: Any) -> tuple[list[tuple[str, str]], list[tuple]]:
    """(column -> declared type, sorted rows) of a frame of either engine."""
    table = frame if isinstance(frame, pa.Table) else engine.to_arrow(frame)
    table = instants_in_utc(_decoded(table))
    schema = [(f.name, declared_type(f.type)) for f in table.schema]
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return schema, sorted(rows, key=repr)


def _decoded(table: pa.Table) -> pa.Table:
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(
                index, field.name, pc.cast(table[index], field.type.value_type)
            )
    return table


def frame_of(engine: Engine, table: pa.Table) -> Any:
    return engine.from_arrow(table)
