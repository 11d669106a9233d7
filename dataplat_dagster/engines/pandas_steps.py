"""Built-in steps on pandas DataFrames, vectorised (no per-row Python)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataplat_dagster.config.steps import (
    CastStep,
    DedupeStep,
    DeriveStep,
    DropColumnsStep,
    DropNullStep,
    FillNullStep,
    FilterStep,
    ParseDatesStep,
    RenameStep,
    SelectStep,
    Step,
    TrimStep,
)
from dataplat_dagster.engines.base import PARTITION, StepError, StepOutcome
from dataplat_dagster.engines.pandas_casts import convert, has_type, parse_dates
from dataplat_dagster.engines.pandas_rules import quarantine_rows
from dataplat_dagster.engines.sql import eval_expressions
from dataplat_dagster.types import pandas_type_for_arrow


@dataclass(frozen=True)
class StepAt:
    """Where a step runs: its label for messages, and the zone of naive timestamps."""

    where: str
    timezone: str


def apply_steps(
    frame: pd.DataFrame, steps: list[Step], label: str, timezone: str = "UTC"
) -> StepOutcome:
    """Run `steps` in order; `timezone` is the zone of naive timestamps (the dataflow's)."""
    outcome = StepOutcome(frame)
    for index, step in enumerate(steps):
        where = f"{label}.steps[{index}] ({step.kind})"
        handler = _HANDLERS[type(step)]
        try:
            handler(outcome, step, StepAt(where, timezone))
        except StepError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise StepError(f"{where}: {exc}") from exc
    return outcome


def _require(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        available = ", ".join(c for c in frame.columns if c != PARTITION)
        raise StepError(f"{where}: column(s) {', '.join(missing)} not found (columns: {available})")


def _count_removed(outcome: StepOutcome, removed: np.ndarray) -> None:
    frame = outcome.frame
    if PARTITION in frame.columns:
        for key, count in frame.loc[removed, PARTITION].value_counts().items():
            outcome.removed_by_window[str(key)] = outcome.removed_by_window.get(str(key), 0) + int(
                count
            )
    else:
        outcome.removed_by_window[None] = outcome.removed_by_window.get(None, 0) + int(
            removed.sum()
        )


def _drop(outcome: StepOutcome, keep: pd.Series | np.ndarray, where: str) -> None:
    keep = np.asarray(keep, dtype=bool)
    removed = int((~keep).sum())
    outcome.dropped[where] = outcome.dropped.get(where, 0) + removed
    if removed:
        _count_removed(outcome, ~keep)
        outcome.frame = outcome.frame[keep]


def _reject(outcome: StepOutcome, bad: pd.Series, rule: str, reasons: pd.Series) -> None:
    bad = bad.fillna(False).astype(bool)
    if bad.any():
        _count_removed(outcome, bad.to_numpy())
        outcome.rejects.append(quarantine_rows(outcome.frame, bad.to_numpy(), rule, reasons))
        outcome.frame = outcome.frame[~bad]


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) and not isinstance(
        series.dtype, pd.CategoricalDtype
    )


def _trim(outcome: StepOutcome, step: TrimStep, at: StepAt) -> None:
    frame = outcome.frame
    columns = step.trim.columns or [
        c for c in frame.columns if _is_text(frame[c]) and not c.startswith("_")
    ]
    _require(frame, columns, at.where)
    trimmed = {}
    for column in columns:
        values = frame[column].str.strip()
        empty = values == ""
        trimmed[column] = values.mask(empty) if empty.any() else values
    outcome.frame = frame.assign(**trimmed)


def _cast(outcome: StepOutcome, step: CastStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.cast), at.where)
    converted = {}
    for column, target in step.cast.items():
        before = outcome.frame[column]
        if has_type(before, target):
            continue  # already that type: no copy of the frame for it
        after, failed = convert(before, target, at.timezone)
        bad = pd.Series(failed, index=before.index)
        if bad.any():
            reasons = (
                f"{at.where}: {column} "
                + before.astype("string").fillna("")
                + f" is not a valid {target}"
            )
            _reject(outcome, bad, f"cast_{column}", reasons)
            after = after[outcome.frame.index]
        converted[column] = after
    if converted:
        outcome.frame = outcome.frame.assign(**converted)


def _rename(outcome: StepOutcome, step: RenameStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.rename), at.where)
    outcome.frame = outcome.frame.rename(columns=step.rename)


def _dedupe(outcome: StepOutcome, step: DedupeStep, at: StepAt) -> None:
    frame = outcome.frame
    params = step.dedupe
    keys = params.keys or [c for c in frame.columns if not c.startswith("_")]
    _require(frame, [*keys, *(params.order_by or [])], at.where)
    if (
        PARTITION in frame.columns
    ):  # duplicates are found within a window, as a one-window run would
        keys = [*keys, PARTITION]
    if params.order_by:
        frame = frame.sort_values(params.order_by, kind="stable")
    duplicated = frame.duplicated(subset=keys, keep=params.keep)
    outcome.frame = frame
    _drop(outcome, ~duplicated.to_numpy(), at.where)
    if params.order_by:
        outcome.frame = outcome.frame.sort_index(kind="stable")


def _parse_dates(outcome: StepOutcome, step: ParseDatesStep, at: StepAt) -> None:
    params = step.parse_dates
    _require(outcome.frame, list(params.columns), at.where)
    parsed = {}
    for column, fmt in params.columns.items():
        before = outcome.frame[column]
        zone = params.timezone or at.timezone
        after, failed = parse_dates(before, fmt, params.timestamp, zone)
        bad = pd.Series(failed, index=before.index)
        if bad.any() and params.on_error == "fail":
            reasons = (
                f"{at.where}: {column} "
                + before.astype("string").fillna("")
                + f" does not match {fmt or 'ISO 8601'}"
            )
            _reject(outcome, bad, f"parse_dates_{column}", reasons)
            after = after[outcome.frame.index]
        parsed[column] = after
    outcome.frame = outcome.frame.assign(**parsed)


def _mask(frame: pd.DataFrame, expression: str, at: StepAt) -> np.ndarray:
    try:
        result = eval_expressions(frame, {"keep": expression}, at.timezone)
    except Exception as exc:
        raise StepError(f"{at.where}: cannot evaluate {expression!r}: {exc}") from None
    return result["keep"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _filter(outcome: StepOutcome, step: FilterStep, at: StepAt) -> None:
    _drop(outcome, _mask(outcome.frame, step.filter, at), at.where)


def _derive(outcome: StepOutcome, step: DeriveStep, at: StepAt) -> None:
    try:
        values = eval_expressions(outcome.frame, step.derive, at.timezone)
    except Exception as exc:
        raise StepError(f"{at.where}: cannot evaluate {step.derive}: {exc}") from None
    columns = values.to_pandas(types_mapper=pandas_type_for_arrow, date_as_object=False)
    columns.index = outcome.frame.index
    outcome.frame = outcome.frame.assign(**{name: columns[name] for name in step.derive})


def _select(outcome: StepOutcome, step: SelectStep, at: StepAt) -> None:
    _require(outcome.frame, step.select, at.where)
    keep = [
        *step.select,
        *(
            [PARTITION]
            if PARTITION in outcome.frame.columns and PARTITION not in step.select
            else []
        ),
    ]
    outcome.frame = outcome.frame[keep]


def _drop_columns(outcome: StepOutcome, step: DropColumnsStep, at: StepAt) -> None:
    _require(outcome.frame, step.drop_columns, at.where)
    outcome.frame = outcome.frame.drop(columns=step.drop_columns)


def _drop_null(outcome: StepOutcome, step: DropNullStep, at: StepAt) -> None:
    _require(outcome.frame, step.drop_null, at.where)
    _drop(outcome, outcome.frame[step.drop_null].notna().all(axis=1).to_numpy(), at.where)


def _fill_null(outcome: StepOutcome, step: FillNullStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.fill_null), at.where)
    outcome.frame = outcome.frame.fillna(step.fill_null)


_HANDLERS: dict[type, Callable[[StepOutcome, Step, StepAt], None]] = {
    TrimStep: _trim,
    CastStep: _cast,
    RenameStep: _rename,
    DedupeStep: _dedupe,
    ParseDatesStep: _parse_dates,
    FilterStep: _filter,
    DeriveStep: _derive,
    SelectStep: _select,
    DropColumnsStep: _drop_columns,
    DropNullStep: _drop_null,
    FillNullStep: _fill_null,
}
