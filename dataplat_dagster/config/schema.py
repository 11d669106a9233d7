"""Declared column types, shared by landing schemas, casts and schema rules."""

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from dataplat_dagster.config.base import StrictModel

ColumnType = Literal[
    "string",
    "int8",
    "int16",
    "int32",
    "int64",
    "float32",
    "float64",
    "bool",
    "date",
    "timestamp",
    "timestamp_ntz",
]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]
TIMESTAMP_TYPES = ("timestamp", "timestamp_ntz")


def check_timezone(value: str) -> str:
    """An IANA zone name, or a ValueError saying what is expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown timezone (use an IANA name such as Europe/Paris)") from None
    return value


class ColumnSpec(StrictModel):
    """One declared column."""

    type: ColumnType = Field(description="logical type of the column")
    nullable: bool = Field(
        True, description="false: a null is a parse error that quarantines the row"
    )
    format: str | None = Field(
        None, description="strptime format for date/timestamp columns read from text"
    )
    timezone: str | None = Field(
        None,
        description="timestamp columns: the zone of values written without an offset "
        "(default: the source's partitioning timezone, else UTC)",
    )
    description: str | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _timezone_on_timestamps(self) -> "ColumnSpec":
        if self.timezone is not None and self.type not in TIMESTAMP_TYPES:
            raise ValueError(f"timezone applies to timestamp and timestamp_ntz, not {self.type}")
        return self


def _column(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


Column = Annotated[ColumnSpec, BeforeValidator(_column)]
TableSchema = dict[str, Column]
