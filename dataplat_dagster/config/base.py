"""Shared pieces of the declaration models: the strict base model and small value types."""

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower_snake_case identifier")]

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class StrictModel(BaseModel):
    """Every declaration model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )


def parse_duration(value: Any) -> timedelta:
    """`"90m"`, `"2h"`, `"1d"`, `0` or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        if value.strip() == "0":
            return timedelta(0)
    raise ValueError(
        f"expected a duration such as 30m, 2h, 1d or a number of seconds, got {value!r}"
    )


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def as_list(value: Any) -> Any:
    """Accept a single string where a list of strings is expected."""
    return [value] if isinstance(value, str) else value
