"""A contract is a SQLModel table class named by dotted path from a dataflow's YAML.

Its columns become the declared columns of the table: the columns a schema rule checks (a
raw, staging, common or business table) or the columns of a SQL output table.
"""

import importlib
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


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
    """The SQLModel table class at `package.module.Class` (or `package.module:Class`).

    Raises:
        ContractError: the module cannot be imported, has no such class, or the class is not
            a SQLModel declared with `table=True`.
    """
    module_name, _, name = dotted.replace(":", ".").rpartition(".")
    if not module_name:
        raise ContractError(f"{dotted!r} is not a dotted path such as package.module.Class")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ContractError(f"cannot import module {module_name}: {exc}") from None
    except Exception as exc:  # anything the module raises while importing: show it, not a trace
        raise ContractError(f"importing module {module_name} failed: {exc!r}") from None
    found = getattr(module, name, None)
    if found is None:
        tables = sorted(
            key
            for key, value in vars(module).items()
            if getattr(value, "__table__", None) is not None
        )
        raise ContractError(
            f"module {module_name} has no class {name} "
            f"(its SQLModel tables: {', '.join(tables) or 'none'})"
        )
    if not (isinstance(found, type) and issubclass(found, SQLModel)):
        raise ContractError(f"{dotted} is not a SQLModel class: it is {found!r}")
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
