"""Ask DuckDB what a SQL body or a SQL expression yields, over empty inputs of declared types.

Declarations are checked when they load (every run worker loads them), so this stays cheap:
no data is read, one DuckDB connection per thread is reused, and answers are cached by the
SQL text and the input schemas. A column of unknown type is a NULL column, which DuckDB
casts to whatever the expression needs, so only names are checked for it.
"""

import threading
from functools import lru_cache

import duckdb
import pyarrow as pa

from dataplat_dagster.engines.sql import render_sql, view_name

# (name, type) pairs; None: the type is not known (a column named below a Python transform)
SchemaKey = tuple[tuple[str, pa.DataType | None], ...]

# Errors that mean the SQL itself is wrong: unknown column, table or function, bad syntax,
# wrong types. Others (an extension to download, a file a function reads) are left to the run.
_DECLARATION_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.ConversionException,
)

_local = threading.local()


class SqlDeclarationError(ValueError):
    """DuckDB refuses the SQL over inputs of the declared columns; the message is DuckDB's."""


def query_schema(sql: str, inputs: dict[str, SchemaKey]) -> pa.Schema | None:
    """The columns `sql` returns over empty inputs (`{{ ref }}` -> columns).

    Returns:
        The result's schema, or None when DuckDB cannot tell without running it for real.

    Raises:
        SqlDeclarationError: the SQL names an unknown column, table or function, or is invalid.
    """
    return _query_schema(sql, tuple(sorted(inputs.items())))


def expression_types(expressions: tuple[str, ...], columns: SchemaKey) -> list[pa.DataType]:
    """The type of each SQL expression evaluated over a row of `columns`.

    Raises:
        SqlDeclarationError: an expression names an unknown column or is invalid (the first).
    """
    types = []
    for expression in expressions:
        sql = f'select ({expression}) as "value" from {{{{ frame }}}}'
        schema = _query_schema(sql, (("frame", columns),))
        types.append(schema.field("value").type if schema is not None else pa.null())
    return types


@lru_cache(maxsize=4096)
def _query_schema(sql: str, inputs: tuple[tuple[str, SchemaKey], ...]) -> pa.Schema | None:
    connection = _connection()
    names = []
    try:
        for ref, columns in inputs:
            empty = pa.schema([(name, kind or pa.null()) for name, kind in columns]).empty_table()
            names.append(view_name(ref))
            connection.register(names[-1], empty)
        schema = connection.sql(render_sql(sql)).limit(0).to_arrow_table().schema
        return pa.schema([field.with_type(_as_run(field.type)) for field in schema])
    except _DECLARATION_ERRORS as exc:
        # one line: the message is shown inside `file, line N: field: reason`
        raise SqlDeclarationError(" ".join(str(exc).split())) from None
    except duckdb.Error:
        return None
    finally:
        for name in names:
            connection.unregister(name)


def _connection() -> duckdb.DuckDBPyConnection:
    # a new connection costs about 25 ms, a query over empty tables about 2 ms
    if getattr(_local, "connection", None) is None:
        _local.connection = duckdb.connect()
    return _local.connection


def _as_run(kind: pa.DataType) -> pa.DataType:
    """The type a run gives a SQL result's column (`engines.sql.normalise_numbers`).

    Decimals become int64 (whole) or float64, so declared columns match what is written.
    """
    if pa.types.is_decimal(kind):
        return pa.int64() if kind.scale == 0 else pa.float64()
    return kind
