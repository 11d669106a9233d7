"""DuckDB-style SQL run on Spark: sqlglot translates it, Spark SQL runs it over the frames.

Users write one dialect (DuckDB's, as the Pandas engine runs it). On Spark each body is
translated with sqlglot; a construct sqlglot cannot translate is refused when the
declarations load (`untranslatable`), naming the line and the reason, not at run time.
Frames are passed to `spark.sql` as DataFrame arguments, not global temp views, so
concurrent bodies do not see each other's tables (also on Spark Connect).
"""

import functools
import re
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.errors import ParseError, SqlglotError, UnsupportedError

from dataplat_dagster.engines.base import TransformError
from dataplat_dagster.engines.sql import (
    connect,
    eval_expressions,
    normalise_numbers,
    render_sql,
    view_name,
)

READ, WRITE = "duckdb", "spark"
_BACKTICKED = re.compile(r"`((?:[^`]|``)+)`")


def translate(sql: str) -> str:
    """One DuckDB statement as Spark SQL.

    Raises:
        SqlglotError: the SQL does not parse, or uses a construct Spark has no translation for.
    """
    statements = sqlglot.transpile(
        sql,
        read=READ,
        write=WRITE,
        unsupported_level=ErrorLevel.RAISE,
        error_level=ErrorLevel.RAISE,
    )
    statements = [s for s in statements if s.strip()]
    if len(statements) != 1:
        raise ParseError(f"expected one statement, got {len(statements)}")
    tree = sqlglot.parse_one(statements[0], read=WRITE)
    tree = _rounded_integer_casts(tree)
    if not isinstance(tree, exp.Query):
        raise UnsupportedError(f"it is {tree.key.upper()}, not a query")
    _check_spark(tree)
    return tree.sql(dialect=WRITE)


_SPACES = {"LEADING": r"^\p{Zs}+", "TRAILING": r"\p{Zs}+$", "BOTH": r"^\p{Zs}+|\p{Zs}+$"}


def _rounded_integer_casts(tree: exp.Expr) -> exp.Expr:
    """Where DuckDB and Spark differ on the same spelling, DuckDB's meaning, for Spark.

    DuckDB rounds a number cast to an integer (2.5 -> 3), Spark truncates (2): round first.
    DuckDB's trim removes every space character (U+00A0 too), Spark's only U+0020.
    DuckDB's `avg` and `/` give a double for every number type; Spark keeps decimals decimal,
    rounded to a few digits (`avg(case when late then 1.0 else 0.0 end)` is 0.71429, not
    0.7142857142857143): their operands become doubles first.
    """

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Avg) and node.this is not None:
            node.set("this", _as_double(node.this))
        if isinstance(node, exp.Div):
            node.set("this", _as_double(node.this))
            node.set("expression", _as_double(node.expression))
        if isinstance(node, exp.Trim) and node.args.get("expression") is None:
            side = (node.args.get("position") or "BOTH").upper()
            pattern = exp.Literal.string(_SPACES.get(side, _SPACES["BOTH"]))
            return exp.RegexpReplace(
                this=node.this, expression=pattern, replacement=exp.Literal.string("")
            )
        if (
            isinstance(node, exp.Cast | exp.TryCast)
            and node.to.is_type(*exp.DataType.INTEGER_TYPES)
            and not isinstance(node.this, exp.Round)
            and not (isinstance(node.this, exp.Literal) and node.this.is_string)
        ):
            node.set("this", exp.Round(this=node.this))
        return node

    return tree.transform(rewrite)


def _as_double(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE):
        return node
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


class Untranslatable(UnsupportedError):
    """A construct Spark has not got; `word` finds its line in the user's SQL."""

    def __init__(self, message: str, word: str) -> None:
        super().__init__(message)
        self.word = word


def _check_spark(tree: exp.Expr) -> None:
    """What sqlglot writes through unchanged but Spark has not got: refused here, not later."""
    for node in tree.walk():
        if isinstance(node, exp.Anonymous) and node.name.lower() not in _spark_functions():
            name = node.name.lower()
            raise Untranslatable(f"function {name} has no Spark equivalent", name)
        if isinstance(node, exp.Columns):
            raise Untranslatable("COLUMNS(...) has no Spark equivalent", "columns")
        if isinstance(node, exp.DataType) and node.this in _NO_SPARK_TYPES:
            name = node.this.name
            raise Untranslatable(
                f"type {name} (DuckDB's {_DUCKDB_TYPES.get(name, name)}) has no Spark equivalent",
                _DUCKDB_TYPES.get(name, name),
            )
        if isinstance(node, exp.Join):
            method = (node.args.get("kind") or node.args.get("method") or "").upper()
            if method in ("ASOF", "POSITIONAL", "ANY"):
                raise Untranslatable(f"{method} JOIN has no Spark equivalent", method.lower())


_DUCKDB_TYPES = {
    "INT128": "hugeint",
    "UINT128": "uhugeint",
    "UBIGINT": "ubigint",
    "UINT": "uinteger",
    "USMALLINT": "usmallint",
    "UTINYINT": "utinyint",
}
_NO_SPARK_TYPES = {
    exp.DataType.Type.INT128,
    exp.DataType.Type.UINT128,
    exp.DataType.Type.INT256,
    exp.DataType.Type.UINT256,
    exp.DataType.Type.UBIGINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UTINYINT,
}


@functools.cache
def _spark_functions() -> frozenset[str]:
    """Spark's built-in functions: pyspark's functions module mirrors them one to one."""
    from pyspark.sql import functions

    return frozenset(name.lower() for name in dir(functions) if not name.startswith("_"))


def translate_expression(expression: str) -> str:
    """A DuckDB SQL expression (a filter, a derived column, a rule) as Spark SQL."""
    tree = sqlglot.parse_one(expression, read=READ, error_level=ErrorLevel.RAISE)
    text = tree.sql(dialect=WRITE, unsupported_level=ErrorLevel.RAISE)
    tree = _rounded_integer_casts(sqlglot.parse_one(text, read=WRITE))
    _check_spark(tree)
    return tree.sql(dialect=WRITE)


def untranslatable(sql: str) -> tuple[int | None, str] | None:
    """(line, reason) when `sql` (with `{{ ref }}` placeholders) cannot run on Spark, else None."""
    try:
        translate(render_sql(sql))
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        return error.get("line"), f"sqlglot cannot parse it: {error.get('description', exc)}"
    except Untranslatable as exc:
        return _line_of(sql, exc.word), f"Spark SQL has no translation: {exc}"
    except UnsupportedError as exc:
        reason = str(exc).splitlines()[0]
        return None, f"Spark SQL has no translation: {reason}"
    except SqlglotError as exc:
        return None, str(exc).splitlines()[0]
    return None


def _line_of(sql: str, word: str) -> int | None:
    """The first line naming `word` (sqlglot gives no position for these)."""
    for number, line in enumerate(sql.splitlines(), start=1):
        if re.search(rf"\b{re.escape(word)}\b", line, flags=re.IGNORECASE):
            return number
    return None


def run_spark_sql(session: Any, sql: str, tables: dict[str, Any], *, label: str) -> Any:
    """Run DuckDB-style `sql` (rendered or with placeholders) over the frames of `tables`.

    Raises:
        TransformError: the translation or Spark refused the query.
    """
    rendered = render_sql(sql)
    try:
        text = translate(rendered)
    except SqlglotError as exc:
        raise TransformError(
            f"{label}: SQL cannot run on Spark: {str(exc).splitlines()[0]}\n--- SQL ---\n{sql.strip()}"
        ) from None
    arguments: dict[str, Any] = {}
    names = {view_name(ref): ref for ref in tables}

    def argument(match: re.Match[str]) -> str:
        name = match.group(1).replace("``", "`")
        if name not in names:
            return match.group(0)
        key = f"dataplat_ref_{len(arguments)}"
        arguments[key] = tables[names[name]]
        return "{" + key + "}"

    if names:  # spark.sql formats the text with str.format when frames are passed
        text = _BACKTICKED.sub(argument, text.replace("{", "{{").replace("}", "}}"))
    try:
        return session.sql(text, **arguments) if arguments else session.sql(text)
    except Exception as exc:  # pyspark raises AnalysisException, ParseException, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TransformError(
            f"{label}: SQL failed on Spark: {first}\n--- SQL ---\n{sql.strip()}"
        ) from None


def duckdb_schema(sql: str, schemas: dict[str, pa.Schema], timezone: str) -> pa.Schema | None:
    """The schema DuckDB gives `sql`'s result, bound over empty tables of `schemas`.

    Spark names an expression without an alias its own way (`count(1)` for DuckDB's
    `count_star()`) and types some functions narrower (`hour()` is int, DuckDB's bigint);
    results take DuckDB's names and number types so both engines write the same columns.
    None when DuckDB cannot bind it (a Spark-only function): Spark's names and types stay.
    """
    connection = connect(timezone)
    try:
        for ref, schema in schemas.items():
            connection.register(view_name(ref), schema.empty_table())
        return normalise_numbers(connection.sql(render_sql(sql)).to_arrow_table(), "SQL").schema
    except duckdb.Error:
        return None
    finally:
        connection.close()


def expression_schema(
    schema: pa.Schema, expressions: dict[str, str], timezone: str
) -> pa.Schema | None:
    """The types DuckDB gives expressions over a frame of `schema` (see `duckdb_schema`)."""
    try:
        return eval_expressions(schema.empty_table(), expressions, timezone).schema
    except duckdb.Error:
        return None


_SPARK_NUMBERS = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
}


def like_duckdb(frame: Any, schema: pa.Schema | None, names: list[str] | None = None) -> Any:
    """`frame` with DuckDB's names (all columns, by position) and number types (`names` only)."""
    if schema is None:
        return frame
    if names is None:
        if len(schema) != len(frame.columns):
            return frame
        frame = frame.toDF(*schema.names)
    current = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    casts = {}
    for field in schema:
        wanted = _SPARK_NUMBERS.get(field.type)
        if wanted is None or (names is not None and field.name not in names):
            continue
        if field.name in current and current[field.name] != wanted:
            casts[field.name] = frame[f"`{field.name}`"].cast(wanted)
    return frame.withColumns(casts) if casts else frame


def is_query(sql: str) -> bool:
    try:
        return isinstance(sqlglot.parse_one(render_sql(sql), read=READ), exp.Query)
    except SqlglotError:
        return False
