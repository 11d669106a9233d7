"""A contract is a SQLModel table class named by dotted path from a dataflow's YAML.

Its columns become the declared columns of the table: the columns a schema rule checks (a
raw, staging, common or business table) or the columns of a SQL output table.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dataplat_dagster.config.user_code import UserCodeError, resolve_callable


class ContractError(ValueError):
    """A dotted path that does not lead to a SQLModel table class, or a column it cannot type."""


class BronzeLineage(SQLModel):
    """The lineage columns raw adds to every landing row (assets/raw.py BRONZE_COLUMNS).

    Mix it into a contract of a raw table: `class Orders(BronzeLineage, table=True)`.
    """

    source_row: int | None = Field(
        default=None, sa_column_kwargs={"name": "_source_row"}, sa_type=sa.BigInteger
    )
    load_ts: datetime | None = Field(
        default=None, sa_column_kwargs={"name": "_load_ts"}, sa_type=sa.DateTime(timezone=True)
    )
    source_system: str | None = Field(default=None, sa_column_kwargs={"name": "_source_system"})
    source_file: str | None = Field(default=None, sa_column_kwargs={"name": "_source_file"})
    source_host: str | None = Field(default=None, sa_column_kwargs={"name": "_source_host"})
    extraction_method: str | None = Field(
        default=None, sa_column_kwargs={"name": "_extraction_method"}
    )
    run_id: str | None = Field(default=None, sa_column_kwargs={"name": "_run_id"})


def load_contract(dotted: str) -> type[SQLModel]:
    """The SQLModel table class at `package.module.Class`.

    Raises:
        ContractError: the module cannot be imported, has no such class, or the class is not
            a SQLModel declared with `table=True`.
    """
    try:
        found = resolve_callable(dotted)  # a class is callable
    except UserCodeError as exc:
        raise ContractError(str(exc)) from None
    if not (isinstance(found, type) and issubclass(found, SQLModel)):
        raise ContractError(f"{dotted} is not a SQLModel class (it is {type(found).__name__})")
    if getattr(found, "__table__", None) is None:
        raise ContractError(f"{dotted} is a SQLModel but not a table: declare it with table=True")
    return found


def contract_table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def declared_type(column: sa.Column) -> str:
    """The platform's type name (sql_columns, schema rules) of a contract column."""
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):  # SQLModel's AutoString is a String underneath
        kind = kind.impl_instance
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.Integer):
        if isinstance(kind, sa.SmallInteger):
            return "int16"
        return "int64" if isinstance(kind, sa.BigInteger) else "int32"
    if isinstance(kind, sa.Float):
        precision = getattr(kind, "precision", None)
        return (
            "float32" if isinstance(kind, sa.REAL) or (precision and precision <= 24) else "float64"
        )
    if isinstance(kind, sa.Numeric):
        if kind.precision is None:
            raise ContractError(
                f"column {column.name}: a decimal needs max_digits and decimal_places"
            )
        return f"decimal({kind.precision},{kind.scale or 0})"
    if isinstance(kind, sa.String):
        return "string"
    if isinstance(kind, sa.DateTime):
        return "timestamp" if kind.timezone else "timestamp_ntz"
    if isinstance(kind, sa.Date):
        return "date"
    raise ContractError(
        f"column {column.name}: type {kind} has no platform type "
        "(use str, int, float, bool, Decimal, date, datetime)"
    )


def contract_columns(model: type[SQLModel]) -> dict[str, tuple[str, bool]]:
    """Column name -> (declared type name, nullable), in the class's order."""
    return {c.name: (declared_type(c), bool(c.nullable)) for c in contract_table(model).columns}
