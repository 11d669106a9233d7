"""Built-in transformation steps: small, parameterised, reusable across dataflows.

In YAML a step is either its bare name (`trim`) or a one-key mapping whose value holds
its parameters (`{dedupe: [order_id]}`, `{cast: {amount: float64}}`).
"""

import functools
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from dataplat_dagster.config.base import StrictModel, as_list
from dataplat_dagster.config.schema import ColumnType, check_timezone


class _Step(StrictModel):
    """A step: exactly one key, its kind."""

    @property
    def kind(self) -> str:
        return _kind_of(type(self))

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)


@functools.cache
def _kind_of(model: type[_Step]) -> str:
    """A step class's kind: its one field (asked many times per table while loading)."""
    return next(iter(model.model_fields))


class TrimParams(StrictModel):
    columns: list[str] | None = Field(None, description="string columns to trim; all when omitted")


class TrimStep(_Step):
    """Strip leading and trailing whitespace; empty strings become null."""

    trim: TrimParams = TrimParams()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "trim":
            return {"trim": {}}
        if isinstance(value, dict) and isinstance(value.get("trim"), list | str):
            return {"trim": {"columns": as_list(value["trim"])}}
        if isinstance(value, dict) and value.get("trim") is None and "trim" in value:
            return {"trim": {}}
        return value


class CastStep(_Step):
    """Convert columns to declared types; values that do not convert fail the row."""

    cast: dict[str, ColumnType] = Field(min_length=1)


class RenameStep(_Step):
    rename: dict[str, str] = Field(min_length=1)


class DedupeParams(StrictModel):
    keys: list[str] | None = Field(None, description="key columns; whole rows when omitted")
    keep: Literal["first", "last"] = "last"
    order_by: list[str] | None = Field(None, description="sort before keeping first/last")

    @field_validator("keys", "order_by", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return as_list(value)


class DedupeStep(_Step):
    """Keep one row per key (per partition), counting the duplicates dropped."""

    dedupe: DedupeParams = DedupeParams()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "dedupe":
            return {"dedupe": {}}
        if isinstance(value, dict) and isinstance(value.get("dedupe"), list | str):
            return {"dedupe": {"keys": as_list(value["dedupe"])}}
        return value


class ParseDatesParams(StrictModel):
    columns: dict[str, str | None] = Field(
        min_length=1, description="column -> strptime format (or null)"
    )
    timestamp: bool = Field(True, description="false keeps only the date part")
    on_error: Literal["fail", "null"] = "fail"
    timezone: str | None = Field(
        None, description="zone of values written without an offset (default: the dataflow's)"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class ParseDatesStep(_Step):
    """Parse text columns into timestamps (or dates)."""

    parse_dates: ParseDatesParams

    @field_validator("parse_dates", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list | str):
            return {"columns": dict.fromkeys(as_list(value))}
        return value


class FilterStep(_Step):
    """Keep the rows where a SQL boolean expression is true; the others are dropped and counted."""

    filter: str = Field(min_length=1)


class DeriveStep(_Step):
    """Add or replace columns computed by SQL expressions over the row."""

    derive: dict[str, str] = Field(min_length=1)


class SelectStep(_Step):
    select: list[str] = Field(min_length=1)


class DropColumnsStep(_Step):
    drop_columns: list[str] = Field(min_length=1)


class DropNullStep(_Step):
    """Drop the rows with a null in any of the columns, counting them."""

    drop_null: list[str] = Field(min_length=1)

    @field_validator("drop_null", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return as_list(value)


class FillNullStep(_Step):
    fill_null: dict[str, Any] = Field(min_length=1)


STEP_MODELS: dict[str, type[_Step]] = {
    "trim": TrimStep,
    "cast": CastStep,
    "rename": RenameStep,
    "dedupe": DedupeStep,
    "parse_dates": ParseDatesStep,
    "filter": FilterStep,
    "derive": DeriveStep,
    "select": SelectStep,
    "drop_columns": DropColumnsStep,
    "drop_null": DropNullStep,
    "fill_null": FillNullStep,
}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value in STEP_MODELS else None
    if isinstance(value, dict) and len(value) == 1:
        kind = next(iter(value))
        return kind if kind in STEP_MODELS else None
    if isinstance(value, _Step):
        return value.kind
    return None


Step = Annotated[
    Annotated[TrimStep, Tag("trim")]
    | Annotated[CastStep, Tag("cast")]
    | Annotated[RenameStep, Tag("rename")]
    | Annotated[DedupeStep, Tag("dedupe")]
    | Annotated[ParseDatesStep, Tag("parse_dates")]
    | Annotated[FilterStep, Tag("filter")]
    | Annotated[DeriveStep, Tag("derive")]
    | Annotated[SelectStep, Tag("select")]
    | Annotated[DropColumnsStep, Tag("drop_columns")]
    | Annotated[DropNullStep, Tag("drop_null")]
    | Annotated[FillNullStep, Tag("fill_null")],
    Discriminator(
        _step_kind,
        custom_error_type="unknown_step",
        custom_error_message=(
            "unknown step; a step is one of "
            + ", ".join(STEP_MODELS)
            + " written as its name or as a one-key mapping {step: parameters}"
        ),
    ),
]
