"""Declared column types, shared by landing schemas, casts and schema rules."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from dataplat_dagster.config.base import StrictModel

ColumnType = Literal[
    "string", "int8", "int16", "int32", "int64", "float32", "float64", "bool", "date", "timestamp"
]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]


class ColumnSpec(StrictModel):
    """One declared column."""

    type: ColumnType = Field(description="logical type of the column")
    nullable: bool = Field(
        True, description="false: a null is a parse error that quarantines the row"
    )
    format: str | None = Field(
        None, description="strptime format for date/timestamp columns read from text"
    )
    description: str | None = None


def _column(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


Column = Annotated[ColumnSpec, BeforeValidator(_column)]
TableSchema = dict[str, Column]
