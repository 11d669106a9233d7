"""Quality rules as Spark expressions: a rule's mask is a boolean Column over the frame.

Masks never leave the cluster: the gate combines them with `|`/`&`, counts them per window
with one aggregate, and filters with them. A `unique` mask is a window function and a
`referential` mask a correlated EXISTS against the referenced table, so every mask is
evaluated in a projection of the frame aliased `MASKED` (see `flag`).
"""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd
from pyspark.sql import Column, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataplat_dagster.config.rules import BaseRule
from dataplat_dagster.engines.base import PARTITION, RuleFunctionResult
from dataplat_dagster.engines.pandas_rules import RuleColumnError
from dataplat_dagster.engines.spark_sql import translate_expression
from dataplat_dagster.engines.spark_text import column, text_of

MASKED = "__dataplat_masked"  # the alias of a frame a mask is evaluated on
FLAG = "__dataplat_mask"
_REFERENCE = "__dataplat_reference"
_ORDER = "__dataplat_order"


def flag(frame: Any, mask: Column) -> Any:
    """`frame` with the boolean column FLAG (a null mask is false)."""
    return frame.alias(MASKED).withColumn(FLAG, F.coalesce(mask, F.lit(False)))


def _column(frame: Any, name: str, rule: BaseRule) -> tuple[Column, T.DataType]:
    if name not in frame.columns:
        available = ", ".join(c for c in frame.columns if c != PARTITION)
        raise RuleColumnError(
            f"rule {rule.check_name}: column {name!r} not found (columns: {available})"
        )
    return column(name), frame.schema[name].dataType


def _missing(value: Column, data_type: T.DataType) -> Column:
    """Null, or NaN in a float column (pandas reads NaN as missing)."""
    if isinstance(data_type, T.FloatType | T.DoubleType):
        return value.isNull() | F.isnan(value)
    return value.isNull()


def failing_rows(
    frame: Any,
    rule: BaseRule,
    reference: Any | None,
    function: Callable[..., Any] | None,
    timezone: str = "UTC",
) -> Column | RuleFunctionResult:
    """The rows that break `rule` as a boolean Column (or a table verdict from a custom function).

    Nulls break only not_null; the other rules leave nulls to it, as SQL constraints do.
    """
    kind = rule.kind
    if kind == "not_null":
        return _missing(*_column(frame, rule.not_null, rule))
    if kind == "unique":
        return _duplicates(frame, rule)
    if kind == "accepted_values":
        value, data_type = _column(frame, rule.accepted_values.column, rule)
        return ~_missing(value, data_type) & ~value.isin(list(rule.accepted_values.values))
    if kind == "range":
        return _outside(frame, rule, timezone)
    if kind == "regex":
        value, data_type = _column(frame, rule.regex.column, rule)
        text = text_of(value, data_type)
        return text.isNotNull() & ~F.coalesce(text.rlike(rule.regex.pattern), F.lit(True))
    if kind == "referential":
        return _not_referenced(frame, rule, reference)
    if kind == "expression":
        ok = F.expr(translate_expression(rule.expression.sql))
        return ~F.coalesce(ok, F.lit(False))
    if kind == "custom":
        assert function is not None
        return _custom(frame, rule, function)
    raise ValueError(f"{kind} is not a row rule")


def _duplicates(frame: Any, rule: BaseRule) -> Column:
    """Every occurrence of a key after its first (in the frame's order), within a window.

    Most tables have no duplicate key: a hash aggregate proves it first (`no_hash_repeats`,
    as dedupe does), and the mask is then false, with no window function sorting every
    row by its key in the gate's count (TPC-H lineitem at scale factor 1: 6.9 s of the
    gate's 9.5 s).
    """
    from dataplat_dagster.engines.spark_steps import no_hash_repeats

    columns = [_column(frame, c, rule)[0] for c in rule.unique]
    present = columns[0].isNotNull()
    for value in columns[1:]:
        present = present & value.isNotNull()
    keys = [*rule.unique, *([PARTITION] if PARTITION in frame.columns else [])]
    if no_hash_repeats(frame.where(present), keys):
        return F.lit(False)
    window = Window.partitionBy(*[column(k) for k in keys]).orderBy(F.monotonically_increasing_id())
    return (F.row_number().over(window) > 1) & present


def _outside(frame: Any, rule: BaseRule, timezone: str) -> Column:
    params = rule.range
    value, data_type = _column(frame, params.column, rule)
    bad = F.lit(False)
    if params.min is not None:
        low = _bound(params.min, data_type, timezone)
        bad = bad | ((value < low) if params.inclusive else (value <= low))
    if params.max is not None:
        high = _bound(params.max, data_type, timezone)
        bad = bad | ((value > high) if params.inclusive else (value >= high))
    return F.coalesce(bad, F.lit(False))


def _bound(value: Any, data_type: T.DataType, timezone: str) -> Column:
    """A bound as a literal of the column's kind; a naive time is a wall-clock of the dataflow."""
    if isinstance(data_type, T.TimestampType):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(timezone)
        return F.lit(stamp.tz_convert("UTC").isoformat()).cast("timestamp")
    if isinstance(data_type, T.TimestampNTZType):
        return F.lit(pd.Timestamp(value).tz_localize(None).isoformat()).cast("timestamp_ntz")
    if isinstance(data_type, T.DateType) and isinstance(value, str | date | datetime):
        return F.lit(pd.Timestamp(value).date().isoformat()).cast("date")
    return F.lit(value)


def _not_referenced(frame: Any, rule: BaseRule, reference: Any) -> Column:
    params = rule.referential
    value, data_type = _column(frame, params.column, rule)
    assert reference is not None
    target = params.to_column or params.column
    _column(reference, target, rule)
    keys = reference.select(column(target).alias(_REFERENCE)).where(F.col(_REFERENCE).isNotNull())
    outer = F.col(f"`{MASKED}`.`{params.column}`").outer()
    found = keys.where(F.col(_REFERENCE) == outer).exists()
    return ~_missing(value, data_type) & ~found


def _custom(
    frame: Any, rule: BaseRule, function: Callable[..., Any]
) -> Column | RuleFunctionResult:
    """A user function on the frame: a Column (True = the row passes) or a table verdict."""
    data = frame.drop(PARTITION) if PARTITION in frame.columns else frame
    outcome = function(data, **rule.custom.params)
    if isinstance(outcome, Column):
        return ~F.coalesce(outcome, F.lit(False))
    if isinstance(outcome, bool):
        return RuleFunctionResult(outcome, {})
    if isinstance(outcome, dict) and "passed" in outcome:
        return RuleFunctionResult(bool(outcome["passed"]), dict(outcome.get("metadata") or {}))
    raise TypeError(
        f"custom rule {rule.check_name}: {rule.custom.function} returned {type(outcome).__name__}; "
        "on Spark return a bool, {'passed': bool, 'metadata': {...}} or a boolean Column "
        "(True = row passes)"
    )
