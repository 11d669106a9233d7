"""Column types of SQL tables: declared names and Arrow types -> SQLAlchemy types, and back.

One mapping serves every SQL target (SQLite, PostgreSQL, MySQL/MariaDB): the type a table is
created with, and the comparison of an existing table's reflected columns with what is about
to be written into it (dialects spell the same type differently: MariaDB's BOOLEAN is
TINYINT(1), SQLite keeps every integer in 64 bits). Nothing here knows about Dagster, so SQL
sources and SQLModel contracts can reuse it.
"""

import re
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from dataplat_dagster.types import ARROW_TYPES

# Declared type names an SQL column accepts beyond the platform's own (types.ARROW_TYPES).
TIMESTAMP_TZ = "timestamptz"
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
MAX_DECIMAL_PRECISION = 38  # Arrow's decimal128, and within MySQL's 65 and PostgreSQL's 1000
DECLARED_SQL_TYPES = (*ARROW_TYPES, TIMESTAMP_TZ, "decimal(P,S)")

_MYSQL = ("mysql", "mariadb")
_ANY = 10_000  # the precision and scale of a decimal column without bounds
# MySQL's TEXT and BLOB stop at 64 KiB; the LONG variants keep every value whole.
_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
_BINARY = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
_TIME = sa.Time().with_variant(mysql.TIME(fsp=6), *_MYSQL)
# MySQL's TINY/MEDIUM/LONGBLOB share no public base class with LargeBinary
_BINARY_TYPES = (
    sa.LargeBinary,
    sa.BINARY,
    sa.VARBINARY,
    mysql.TINYBLOB,
    mysql.MEDIUMBLOB,
    mysql.LONGBLOB,
)


class SqlTypeError(ValueError):
    """A type that no SQL column holds, or a declared type name that is not known."""


def declared_arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a declared SQL column type name.

    Args:
        name: one of the platform's types (string, int64, timestamp: an instant stored in
            UTC, timestamp_ntz: a wall-clock time, ...), `timestamptz` (the SQL spelling of
            an instant, the same as timestamp) or `decimal(P,S)` with P at most 38.

    Raises:
        SqlTypeError: the name is none of those.
    """
    if name in ARROW_TYPES:
        return ARROW_TYPES[name]
    if name == TIMESTAMP_TZ:
        return pa.timestamp("us", tz="UTC")
    match = _DECIMAL.match(name)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
            raise SqlTypeError(
                f"{name}: precision must be 1..{MAX_DECIMAL_PRECISION} and scale at most precision"
            )
        return pa.decimal128(precision, scale)
    raise SqlTypeError(f"unknown type {name!r}; expected one of {', '.join(DECLARED_SQL_TYPES)}")


def storage_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type values are written as: dictionaries decoded, microseconds, UTC.

    SQL databases keep microseconds at most, and one string, binary and date type each.

    Raises:
        SqlTypeError: no SQL column holds values of this type (lists, structs, durations).
    """
    if pa.types.is_dictionary(arrow_type):
        return storage_type(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return pa.binary()
    if pa.types.is_date(arrow_type):
        return pa.date32()
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    if pa.types.is_time(arrow_type):
        return pa.time64("us")
    if pa.types.is_float16(arrow_type):
        return pa.float32()
    if pa.types.is_uint64(arrow_type):
        return pa.int64()  # SQL has no unsigned 64-bit integer: the values must fit int64
    if pa.types.is_decimal(arrow_type) and arrow_type.precision > MAX_DECIMAL_PRECISION:
        raise SqlTypeError(f"{arrow_type} has more than {MAX_DECIMAL_PRECISION} digits")
    scalar = (
        pa.types.is_boolean(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    )
    if not scalar:
        raise SqlTypeError(
            f"{arrow_type} values do not fit a SQL column; turn them into text in the SQL "
            "(for example to_json(column))"
        )
    return arrow_type


def sql_type(arrow_type: pa.DataType) -> sa.types.TypeEngine:
    """The SQLAlchemy type of a column holding `arrow_type` values (after `storage_type`).

    Raises:
        SqlTypeError: the values have no type (every one is null) or no SQL column holds them.
    """
    arrow_type = storage_type(arrow_type)
    if pa.types.is_null(arrow_type):
        raise SqlTypeError("it has no type (every value is null); declare the column's type")
    if pa.types.is_boolean(arrow_type):
        return sa.Boolean()
    if pa.types.is_integer(arrow_type):
        return {16: sa.SmallInteger(), 32: sa.Integer()}.get(_integer_bits(arrow_type)) or (
            sa.BigInteger()
        )
    if pa.types.is_float32(arrow_type):
        return sa.REAL()
    if pa.types.is_floating(arrow_type):
        return sa.Double()
    if pa.types.is_decimal(arrow_type):
        return sa.Numeric(arrow_type.precision, arrow_type.scale)
    if pa.types.is_string(arrow_type):
        return _TEXT
    if pa.types.is_binary(arrow_type):
        return _BINARY
    if pa.types.is_date(arrow_type):
        return sa.Date()
    if pa.types.is_timestamp(arrow_type):
        # DATETIME without a precision drops MySQL's microseconds
        timezone = arrow_type.tz is not None
        return sa.DateTime(timezone=timezone).with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
    return _TIME


@dataclass(frozen=True)
class TypeSignature:
    """What a column's type means, whatever the dialect calls it."""

    family: str  # integer float decimal boolean string binary date timestamp time null other
    size: int = 0  # integer bits, or decimal precision
    scale: int = 0
    timezone: bool = False
    name: str = ""  # the type as the database spells it (for `other`)

    def __str__(self) -> str:
        if self.family == "integer":
            return f"integer ({self.size}-bit)"
        if self.family == "decimal" and self.scale != _ANY:
            return f"decimal({self.size},{self.scale})"
        if self.family == "timestamp":
            return "timestamp with time zone" if self.timezone else "timestamp"
        return self.name or self.family


def arrow_signature(arrow_type: pa.DataType) -> TypeSignature:
    """The signature of the column `sql_type` makes for `arrow_type`."""
    arrow_type = storage_type(arrow_type)
    if pa.types.is_null(arrow_type):
        return TypeSignature("null")
    if pa.types.is_integer(arrow_type):
        return TypeSignature("integer", _integer_bits(arrow_type))
    if pa.types.is_decimal(arrow_type):
        return TypeSignature("decimal", arrow_type.precision, arrow_type.scale)
    if pa.types.is_timestamp(arrow_type):
        return TypeSignature("timestamp", timezone=arrow_type.tz is not None)
    return TypeSignature(_family(sql_type(arrow_type)))


def sql_signature(column_type: sa.types.TypeEngine, dialect: str) -> TypeSignature:
    """The signature of a reflected column type on `dialect` (an engine's `dialect.name`)."""
    if dialect in _MYSQL and isinstance(column_type, mysql.TINYINT):
        if column_type.display_width == 1:  # how MySQL and MariaDB spell BOOLEAN
            return TypeSignature("boolean")
    if isinstance(column_type, sa.Integer):
        return TypeSignature(
            "integer", 64 if dialect == "sqlite" else _sql_integer_bits(column_type)
        )
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        if column_type.precision is None:  # PostgreSQL's NUMERIC without bounds holds any
            return TypeSignature("decimal", _ANY, _ANY, name=str(column_type))
        return TypeSignature("decimal", column_type.precision, column_type.scale or 0)
    if isinstance(column_type, sa.DateTime):
        return TypeSignature("timestamp", timezone=bool(column_type.timezone))
    family = _family(column_type)
    return TypeSignature(family, name="" if family != "other" else str(column_type))


def accepts(column: TypeSignature, values: TypeSignature, dialect: str) -> bool:
    """Whether a column of type `column` takes `values` unchanged (no narrowing, no casting)."""
    if values.family == "null":
        return True  # no value to hold
    if column.family != values.family:
        return False
    if column.family == "integer":
        return column.size >= values.size
    if column.family == "decimal":
        return column.scale in (_ANY, values.scale) and column.size >= values.size
    if column.family == "timestamp" and dialect == "postgresql":
        # only PostgreSQL tells the two apart; elsewhere every timestamp is stored in UTC
        return column.timezone == values.timezone
    return True


def _family(column_type: sa.types.TypeEngine) -> str:
    # Float before Numeric and DateTime before Date: the first are subclasses of the second
    bases: tuple[tuple[str, type | tuple[type, ...]], ...] = (
        ("boolean", sa.Boolean),
        ("integer", sa.Integer),
        ("float", sa.Float),
        ("decimal", sa.Numeric),
        ("string", sa.String),
        ("binary", _BINARY_TYPES),
        ("timestamp", sa.DateTime),
        ("date", sa.Date),
        ("time", sa.Time),
    )
    for family, base in bases:
        if isinstance(column_type, base):
            return family
    return "other"


def _integer_bits(arrow_type: pa.DataType) -> int:
    # SQL integers are signed: an unsigned type needs the next wider column
    bits = arrow_type.bit_width + (0 if pa.types.is_signed_integer(arrow_type) else 1)
    return next(size for size in (16, 32, 64) if bits <= size) if bits <= 64 else 64


def _sql_integer_bits(column_type: sa.Integer) -> int:
    if isinstance(column_type, mysql.TINYINT):
        return 8
    if isinstance(column_type, mysql.MEDIUMINT):
        return 24
    if isinstance(column_type, sa.SmallInteger):
        return 16
    if isinstance(column_type, sa.BigInteger):
        return 64
    return 32
