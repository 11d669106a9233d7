"""SQL over frames with DuckDB: `{{ layer.table }}` placeholders become registered tables."""

import re
from typing import Any

import duckdb
import pyarrow as pa

from dataplat_dagster.engines.base import TransformError
from dataplat_dagster.timestamps import instants_in_utc

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_.]+)\s*\}\}")


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
    connection = duckdb.connect()
    connection.execute(f"set TimeZone = '{timezone.replace(chr(39), '')}'")
    return connection


def run_duckdb(sql: str, tables: dict[str, Any], timezone: str = "UTC") -> pa.Table:
    """Run `sql` with each frame of `tables` (pandas or Arrow) registered under its ref."""
    connection = connect(timezone)
    try:
        for ref, frame in tables.items():
            connection.register(view_name(ref), frame)
        return instants_in_utc(connection.sql(render_sql(sql)).to_arrow_table())
    except duckdb.Error as exc:
        raise TransformError(f"SQL failed: {exc}\n--- SQL ---\n{sql.strip()}") from None
    finally:
        connection.close()


def eval_expressions(frame: Any, expressions: dict[str, str], timezone: str = "UTC") -> pa.Table:
    """Evaluate SQL expressions row by row over `frame`; one column per expression."""
    connection = connect(timezone)
    try:
        connection.register("frame", frame)
        select = ", ".join(
            f'({expression}) as "{name}"' for name, expression in expressions.items()
        )
        return instants_in_utc(connection.sql(f"select {select} from frame").to_arrow_table())
    finally:
        connection.close()
