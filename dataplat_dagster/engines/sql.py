"""SQL over frames with DuckDB: `{{ layer.table }}` placeholders become registered tables."""

import re
import threading
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.engines.base import TransformError
from dataplat_dagster.timestamps import instants_in_utc

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_.]+)\s*\}\}")
_INT64 = (-(2**63), 2**63 - 1)
_local = threading.local()  # each thread's DuckDB database, for `connect`


def view_name(ref: str) -> str:
    return ref.replace(".", "__")


def render_sql(sql: str) -> str:
    """Replace every `{{ ref }}` by the quoted name of its registered view."""
    return _PLACEHOLDER.sub(lambda m: f'"{view_name(m.group(1))}"', sql)


def connect(timezone: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose session zone is `timezone` (an IANA name, validated).

    DuckDB's zone is the machine's by default. It decides what `cast(instant as date)`,
    `date_trunc` and comparing an instant with a naive timestamp mean, so it is the
    dataflow's, where its windows are, wherever the code runs.
    """
    base = getattr(_local, "database", None)
    if base is None:
        base = _local.database = duckdb.connect()
    # a cursor: a new session (its own views and settings) on the thread's in-memory database.
    # Opening a database per call cost 10-100 ms, paid per window and SQL table in a range run.
    connection = base.cursor()
    connection.execute(f"set TimeZone = '{timezone.replace(chr(39), '')}'")
    return connection


def run_duckdb(
    sql: str, tables: dict[str, Any], timezone: str = "UTC", *, label: str = "SQL"
) -> pa.Table:
    """Run `sql` with each frame of `tables` (pandas or Arrow) registered under its ref.

    The session's time zone is `timezone`; instants come back in UTC, and numbers get the
    platform's types (see `normalise_numbers`). `label` (for example
    `business.daily_revenue`) names the table in errors.
    """
    connection = connect(timezone)
    try:
        for ref, frame in tables.items():
            connection.register(view_name(ref), frame)
        result = instants_in_utc(connection.sql(render_sql(sql)).to_arrow_table())
    except duckdb.Error as exc:
        raise TransformError(f"SQL failed: {exc}\n--- SQL ---\n{sql.strip()}") from None
    finally:
        connection.close()
    return normalise_numbers(result, label)


def eval_expressions(frame: Any, expressions: dict[str, str], timezone: str = "UTC") -> pa.Table:
    """Evaluate SQL expressions row by row over `frame`; one column per expression."""
    connection = connect(timezone)
    try:
        connection.register("frame", frame)
        select = ", ".join(
            f'({expression}) as "{name}"' for name, expression in expressions.items()
        )
        result = instants_in_utc(connection.sql(f"select {select} from frame").to_arrow_table())
    finally:
        connection.close()
    return normalise_numbers(result, "expression")


def normalise_numbers(table: pa.Table, label: str) -> pa.Table:
    """DuckDB's decimals as the platform's numbers: int64 for whole numbers, else float64.

    DuckDB returns HUGEINT (`sum` of integers, `count_if`) and whole DECIMALs as Arrow
    decimal128(38, 0), and decimal literals such as `1.5` as DECIMAL. Downstream they would
    be Python `Decimal` objects: pandas arithmetic with floats fails on them and database
    drivers refuse them. The rule:

    - scale 0 (HUGEINT, UHUGEINT, DECIMAL(p, 0)) -> int64, when every value fits; else a
      `TransformError` naming the table and the column;
    - scale above 0 -> float64 (the platform's declared types have no decimal; a SQL output
      may still declare `decimal(P,S)` columns for exact storage).

    Raises:
        TransformError: a whole number beyond int64.
    """
    for index, field in enumerate(table.schema):
        if not pa.types.is_decimal(field.type):
            continue
        column = table.column(index)
        if field.type.scale == 0:
            _check_int64(column, label, field.name)
            column = column.cast(pa.int64())
        else:
            column = column.cast(pa.float64())
        table = table.set_column(index, field.with_type(column.type), column)
    return table


def _check_int64(column: pa.ChunkedArray, label: str, name: str) -> None:
    low, high = pc.min_max(column).values()
    for bound in (low, high):
        value = bound.as_py()
        if value is not None and not _INT64[0] <= value <= _INT64[1]:
            raise TransformError(
                f"{label}: column {name!r} holds {value}, beyond a 64-bit integer "
                f"({_INT64[0]}..{_INT64[1]}); cast it in the SQL, for example to double or varchar"
            )
