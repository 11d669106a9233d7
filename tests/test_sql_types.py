"""The Arrow -> SQLAlchemy type mapping and the comparison of reflected column types.

Covers the SQL type each Arrow type gets on SQLite, PostgreSQL and MariaDB (compiled DDL),
the types no column holds, and `accepts` across dialect spellings: MariaDB's TINYINT(1)
boolean, SQLite's 64-bit integers, PostgreSQL's unbounded NUMERIC and its two timestamp
types. Pure functions on SQLAlchemy type objects; the real databases are in tests/corpus.
"""

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from dataplat_dagster.sql_types import (
    SqlTypeError,
    accepts,
    arrow_signature,
    sql_signature,
    sql_type,
)

DIALECTS = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
    "mysql": mysql.dialect(),
}


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.int8(), ("SMALLINT", "SMALLINT", "SMALLINT")),
        (pa.uint16(), ("INTEGER", "INTEGER", "INTEGER")),
        (pa.int64(), ("BIGINT", "BIGINT", "BIGINT")),
        (pa.float64(), ("DOUBLE", "DOUBLE PRECISION", "DOUBLE")),
        (pa.decimal128(12, 2), ("NUMERIC(12, 2)", "NUMERIC(12, 2)", "NUMERIC(12, 2)")),
        (pa.large_string(), ("TEXT", "TEXT", "LONGTEXT")),
        (pa.dictionary(pa.int32(), pa.string()), ("TEXT", "TEXT", "LONGTEXT")),
        (pa.binary(), ("BLOB", "BYTEA", "LONGBLOB")),
        (pa.bool_(), ("BOOLEAN", "BOOLEAN", "BOOL")),
        (pa.date32(), ("DATE", "DATE", "DATE")),
        (pa.timestamp("ns"), ("DATETIME", "TIMESTAMP WITHOUT TIME ZONE", "DATETIME(6)")),
        (pa.timestamp("ms", tz="Europe/Paris"), ("DATETIME", "TIMESTAMP WITH TIME ZONE", "DATETIME(6)")),
    ],
)  # fmt: skip
def test_each_arrow_type_has_one_sql_type_per_dialect(
    arrow_type: pa.DataType, expected: tuple[str, str, str]
) -> None:
    column_type = sql_type(arrow_type)
    compiled = tuple(column_type.compile(dialect=dialect) for dialect in DIALECTS.values())
    assert compiled == expected


@pytest.mark.parametrize(
    ("arrow_type", "reason"),
    [
        (pa.null(), "every value is null"),
        (pa.list_(pa.int64()), "to_json"),
        (pa.duration("s"), "do not fit a SQL column"),
        (pa.decimal256(60, 2), "more than 38 digits"),
    ],
)
def test_types_no_column_holds_are_refused(arrow_type: pa.DataType, reason: str) -> None:
    with pytest.raises(SqlTypeError, match=reason):
        sql_type(arrow_type)


@pytest.mark.parametrize(
    ("column", "dialect", "values", "accepted"),
    [
        (mysql.TINYINT(display_width=1), "mysql", pa.bool_(), True),
        (mysql.TINYINT(display_width=4), "mysql", pa.bool_(), False),
        (sa.INTEGER(), "sqlite", pa.int64(), True),  # SQLite keeps every integer in 64 bits
        (sa.INTEGER(), "postgresql", pa.int64(), False),
        (sa.INTEGER(), "postgresql", pa.int16(), True),
        (mysql.MEDIUMINT(), "mysql", pa.int32(), False),
        (sa.NUMERIC(), "postgresql", pa.decimal128(38, 2), True),  # unbounded
        (sa.NUMERIC(10, 2), "postgresql", pa.decimal128(12, 2), False),
        (sa.NUMERIC(10, 2), "postgresql", pa.decimal128(8, 3), False),
        (sa.NUMERIC(10, 2), "postgresql", pa.float64(), False),
        (postgresql.DOUBLE_PRECISION(), "postgresql", pa.float64(), True),
        (sa.TIMESTAMP(timezone=True), "postgresql", pa.timestamp("us"), False),
        (sa.TIMESTAMP(timezone=True), "postgresql", pa.timestamp("us", tz="UTC"), True),
        (mysql.DATETIME(fsp=6), "mysql", pa.timestamp("us", tz="UTC"), True),
        (sa.VARCHAR(20), "postgresql", pa.string(), True),
        (sa.TEXT(), "sqlite", pa.int64(), False),
        (sa.TEXT(), "sqlite", pa.null(), True),  # no values: nothing to mismatch
        (postgresql.JSONB(), "postgresql", pa.string(), False),
        (mysql.LONGBLOB(), "mysql", pa.binary(), True),
        (mysql.MEDIUMBLOB(), "mysql", pa.string(), False),
    ],
)
def test_accepts_normalises_dialect_spellings(
    column: sa.types.TypeEngine, dialect: str, values: pa.DataType, accepted: bool
) -> None:
    assert accepts(sql_signature(column, dialect), arrow_signature(values), dialect) is accepted


def test_signatures_read_as_types() -> None:
    assert str(arrow_signature(pa.uint32())) == "integer (64-bit)"
    assert str(sql_signature(sa.NUMERIC(12, 2), "postgresql")) == "decimal(12,2)"
    assert str(sql_signature(postgresql.JSONB(), "postgresql")) == "JSONB"
