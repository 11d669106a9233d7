"""Quality rules evaluated on pandas frames, vectorised: each rule is one pass over a column."""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataplat_dagster.config.rules import BaseRule
from dataplat_dagster.engines.base import PARTITION, REASON, RULE, RuleFunctionResult
from dataplat_dagster.engines.sql import eval_expressions
from dataplat_dagster.types import TEXT, declared_type


class RuleColumnError(KeyError):
    """A rule names a column the table does not have."""


def _column(frame: pd.DataFrame, name: str, rule: BaseRule) -> pd.Series:
    if name not in frame.columns:
        available = ", ".join(c for c in frame.columns if c != PARTITION)
        raise RuleColumnError(
            f"rule {rule.check_name}: column {name!r} not found (columns: {available})"
        )
    return frame[name]


def _bound(series: pd.Series, value: Any, timezone: str) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or isinstance(
        series.dtype, pd.ArrowDtype
    ):
        bound = pd.Timestamp(value) if isinstance(value, str) else value
        zoned = getattr(series.dtype, "tz", None) is not None
        if zoned and isinstance(bound, datetime | date):
            bound = pd.Timestamp(bound)
            # a bound written without a zone is a wall-clock time of the dataflow
            return bound.tz_localize(timezone) if bound.tzinfo is None else bound
        return bound
    return value


def failing_rows(
    frame: pd.DataFrame,
    rule: BaseRule,
    reference: pd.DataFrame | None,
    function: Callable[..., Any] | None,
    timezone: str = "UTC",
) -> np.ndarray | RuleFunctionResult:
    """The rows that break `rule` as a boolean array (or a table verdict from a custom function).

    Nulls break only not_null; the other rules leave nulls to it, as SQL constraints do.
    """
    kind = rule.kind
    if kind == "not_null":
        return _column(frame, rule.not_null, rule).isna().to_numpy()
    if kind == "unique":
        columns = [_column(frame, c, rule).name for c in rule.unique]
        subset = [*columns, PARTITION] if PARTITION in frame.columns else columns
        duplicated = frame.duplicated(subset=subset, keep="first").to_numpy()
        return duplicated & frame[columns].notna().all(axis=1).to_numpy()
    if kind == "accepted_values":
        values = _column(frame, rule.accepted_values.column, rule)
        return (values.notna() & ~values.isin(rule.accepted_values.values)).to_numpy()
    if kind == "range":
        params = rule.range
        values = _column(frame, params.column, rule)
        bad = pd.Series(False, index=frame.index)
        if params.min is not None:
            low = _bound(values, params.min, timezone)
            bad |= (values < low) if params.inclusive else (values <= low)
        if params.max is not None:
            high = _bound(values, params.max, timezone)
            bad |= (values > high) if params.inclusive else (values >= high)
        return bad.fillna(False).to_numpy(dtype=bool)
    if kind == "regex":
        values = _column(frame, rule.regex.column, rule).astype(TEXT)
        matches = values.str.contains(rule.regex.pattern, regex=True)
        return (values.notna() & ~matches.fillna(True)).to_numpy(dtype=bool)
    if kind == "referential":
        params = rule.referential
        values = _column(frame, params.column, rule)
        assert reference is not None
        known = _column(reference, params.to_column or params.column, rule).dropna().unique()
        return (values.notna() & ~values.isin(known)).to_numpy()
    if kind == "expression":
        result = eval_expressions(
            frame.drop(columns=[PARTITION], errors="ignore"), {"ok": rule.expression.sql}, timezone
        )
        return ~result["ok"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    if kind == "custom":
        assert function is not None
        return _custom(frame, rule, function)
    raise ValueError(f"{kind} is not a row rule")


def _custom(
    frame: pd.DataFrame, rule: BaseRule, function: Callable[..., Any]
) -> np.ndarray | RuleFunctionResult:
    outcome = function(frame.drop(columns=[PARTITION], errors="ignore"), **rule.custom.params)
    if isinstance(outcome, pd.Series | np.ndarray) and len(outcome) == len(frame):
        return ~np.asarray(
            pd.Series(outcome).fillna(False), dtype=bool
        )  # the function marks rows that pass
    if isinstance(outcome, bool | np.bool_):
        return RuleFunctionResult(bool(outcome), {})
    if isinstance(outcome, dict) and "passed" in outcome:
        return RuleFunctionResult(bool(outcome["passed"]), dict(outcome.get("metadata") or {}))
    raise TypeError(
        f"custom rule {rule.check_name}: {rule.custom.function} returned {type(outcome).__name__}; "
        "return a bool, {'passed': bool, 'metadata': {...}} or a boolean Series (True = row passes)"
    )


def window_codes(frame: pd.DataFrame, keys: Sequence[str | None]) -> np.ndarray:
    """Index into `keys` of each row's window (all 0 for an unpartitioned table)."""
    if PARTITION not in frame.columns or keys == [None]:
        return np.zeros(len(frame), dtype=np.int64)
    values = frame[PARTITION]
    categories = (
        values.cat.categories
        if isinstance(values.dtype, pd.CategoricalDtype)
        else pd.Index(values.unique())
    )
    position = {str(c): i for i, c in enumerate(categories)}
    remap = np.array(
        [keys.index(str(c)) if str(c) in keys else -1 for c in categories] + [-1], dtype=np.int64
    )
    codes = (
        values.cat.codes.to_numpy()
        if isinstance(values.dtype, pd.CategoricalDtype)
        else values.map(position).to_numpy()
    )
    return remap[np.asarray(codes, dtype=np.int64)]


def count_by_window(codes: np.ndarray, mask: np.ndarray | None, windows: int) -> np.ndarray:
    selected = codes if mask is None else codes[mask]
    return np.bincount(selected[selected >= 0], minlength=windows)


def sample(
    frame: pd.DataFrame, mask: np.ndarray, columns: list[str], limit: int
) -> list[dict[str, Any]]:
    rows = frame.loc[mask, [c for c in columns if c in frame.columns]].head(limit)
    return [{k: _plain(v) for k, v in row.items()} for row in rows.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, list | dict | str) and pd.isna(value)):
        return None
    if isinstance(value, int | float | str | bool):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def as_text(rows: pd.DataFrame) -> pd.DataFrame:
    """Every column as text but the window and the source line: quarantine keeps values as seen."""
    kept = (PARTITION, "_source_row", RULE, REASON)
    text = {c: rows[c].astype(TEXT) for c in rows.columns if c not in kept}
    return rows.assign(**text)


def quarantine_rows(
    frame: pd.DataFrame, mask: np.ndarray, rule: str, reasons: pd.Series
) -> pd.DataFrame:
    """The failing rows as text (the values as seen) with `_dq_rule` and `_dq_reason`."""
    rows = frame.loc[mask]
    out = as_text(rows)
    out[RULE] = pd.Series(rule, index=rows.index, dtype=TEXT)
    out[REASON] = reasons.loc[rows.index].astype(TEXT)
    return out


def reasons_for(
    frame: pd.DataFrame, mask: np.ndarray, prefix: str, column: str | list[str] | None, suffix: str
) -> pd.Series:
    """`prefix + <value(s)> + suffix` for the failing rows only (reasons are built lazily)."""
    index = frame.index[mask]
    columns = [column] if isinstance(column, str) else list(column or [])
    if not columns or any(c not in frame.columns for c in columns):
        return pd.Series(prefix + suffix, index=index, dtype="string")
    parts = [frame.loc[mask, c].astype("string").fillna("null") for c in columns]
    values = parts[0]
    for part in parts[1:]:
        values = values + ", " + part
    return (prefix + values + suffix).astype("string")


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    schema = pa.Schema.from_pandas(frame.head(0), preserve_index=False)
    return {field.name: declared_type(field.type) for field in schema if field.name != PARTITION}


def max_by_window(frame: pd.DataFrame, column: str, codes: np.ndarray, windows: int) -> list[Any]:
    values = pd.to_datetime(frame[column])
    out: list[Any] = []
    for index in range(windows):
        selected = values[codes == index]
        newest = selected.max() if len(selected) else None
        out.append(None if newest is None or pd.isna(newest) else newest)
    return out
