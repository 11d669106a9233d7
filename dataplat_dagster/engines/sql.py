"""SQL over frames with DuckDB: `{{ layer.table }}` placeholders become registered tables."""

import re
from typing import Any

import duckdb
import pyarrow as pa

from dataplat_dagster.engines.base import TransformError

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_.]+)\s*\}\}")


def view_name(ref: str) -> str:
    return ref.replace(".", "__")


def render_sql(sql: str) -> str:
    """Replace every `{{ ref }}` by the quoted name of its registered view."""
    return _PLACEHOLDER.sub(lambda m: f'"{view_name(m.group(1))}"', sql)


def run_duckdb(sql: str, tables: dict[str, Any]) -> pa.Table:
    """Run `sql` with each frame of `tables` (pandas or Arrow) registered under its ref."""
    connection = duckdb.connect()
    try:
        for ref, frame in tables.items():
            connection.register(view_name(ref), frame)
        return connection.sql(render_sql(sql)).to_arrow_table()
    except duckdb.Error as exc:
        raise TransformError(f"SQL failed: {exc}\n--- SQL ---\n{sql.strip()}") from None
    finally:
        connection.close()


def eval_expressions(frame: Any, expressions: dict[str, str]) -> pa.Table:
    """Evaluate SQL expressions row by row over `frame`; one column per expression."""
    connection = duckdb.connect()
    try:
        connection.register("frame", frame)
        select = ", ".join(
            f'({expression}) as "{name}"' for name, expression in expressions.items()
        )
        return connection.sql(f"select {select} from frame").to_arrow_table()
    finally:
        connection.close()
