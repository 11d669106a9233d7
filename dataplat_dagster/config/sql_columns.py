"""Declared columns of a SQL output table (`output.<name>.columns`)."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from dataplat_dagster.config.base import StrictModel
from dataplat_dagster.sql_types import DECLARED_SQL_TYPES, SqlTypeError, declared_arrow_type

SchemaChange = Literal["fail", "add_columns"]


def _known_type(name: str) -> str:
    try:
        declared_arrow_type(name)
    except SqlTypeError as exc:
        raise ValueError(str(exc)) from None
    return name


class SqlColumn(StrictModel):
    """One column of a SQL output table."""

    type: Annotated[str, AfterValidator(_known_type)] = Field(
        description=f"one of {', '.join(DECLARED_SQL_TYPES)}"
    )
    nullable: bool = Field(True, description="false: NOT NULL, and a null refuses the write")
    description: str | None = None


def _column(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


DeclaredSqlColumn = Annotated[SqlColumn, BeforeValidator(_column)]
SqlColumns = dict[str, DeclaredSqlColumn]
