"""Built-in steps on Spark DataFrames, the same rules as `pandas_steps`.

Every step is a Spark transformation; only the counts of rows a step removes (per window)
come back to the driver. Rows a step rejects (a cast or a date that does not convert) are
quarantined as text with `_dq_rule`/`_dq_reason`, as the Pandas engine does.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

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
from dataplat_dagster.engines.base import PARTITION, REASON, RULE, StepError, StepOutcome
from dataplat_dagster.engines.spark_casts import convert, has_type, parse_dates, strip_to_null
from dataplat_dagster.engines.spark_frames import arrow_schema as _arrow_schema
from dataplat_dagster.engines.spark_io import CONSTANT, constant
from dataplat_dagster.engines.spark_sql import expression_schema, like_duckdb, translate_expression
from dataplat_dagster.engines.spark_text import as_text, column, text_of

logger = logging.getLogger(__name__)

_FLAG = "__dataplat_flag"
_ORDER = "__dataplat_order"
_WHY = _FLAG + "_reason"
_RULE = _FLAG + "_rule"


@dataclass(frozen=True)
class StepAt:
    """Where a step runs: its label for messages, and the zone of naive timestamps."""

    where: str
    timezone: str


def apply_steps(frame: Any, steps: list[Step], label: str, timezone: str = "UTC") -> StepOutcome:
    """Run `steps` in order; `timezone` is the zone of naive timestamps (the dataflow's)."""
    outcome = StepOutcome(frame)
    for index, step in enumerate(steps):
        where = f"{label}.steps[{index}] ({step.kind})"
        try:
            _HANDLERS[type(step)](outcome, step, StepAt(where, timezone))
        except StepError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise StepError(f"{where}: {exc}") from exc
    return outcome


def _require(frame: Any, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        available = ", ".join(c for c in frame.columns if c != PARTITION)
        raise StepError(f"{where}: column(s) {', '.join(missing)} not found (columns: {available})")


def removed_by_window(frame: Any, removed: Column) -> dict[str | None, int]:
    """Rows of `frame` marked by `removed`, per window (one small aggregate to the driver)."""
    flagged = frame.where(F.coalesce(removed, F.lit(False)))
    if PARTITION not in frame.columns:
        return {None: flagged.count()}
    rows = flagged.groupBy(PARTITION).count().collect()
    return {str(row[0]): int(row[1]) for row in rows}


def _count(outcome: StepOutcome, counts: dict[str | None, int]) -> int:
    for key, count in counts.items():
        outcome.removed_by_window[key] = outcome.removed_by_window.get(key, 0) + count
    return sum(counts.values())


def _drop(outcome: StepOutcome, flagged: Any, where: str) -> None:
    """Drop the rows of `flagged` (the frame plus a `_FLAG` column) whose flag is false."""
    removed = _count(outcome, removed_by_window(flagged, ~F.col(_FLAG)))
    outcome.dropped[where] = outcome.dropped.get(where, 0) + removed
    outcome.frame = flagged.where(F.col(_FLAG)).drop(_FLAG) if removed else flagged.drop(_FLAG)


def _reject(
    outcome: StepOutcome, frame: Any, bad: Column, rule: str | Column, reason: Column
) -> Any:
    """Quarantine the rows `bad` marks (as text, with reasons); return the rows kept.

    `frame` may carry helper columns (named `_FLAG...`); they are left out of the rejects.
    """
    rule = F.lit(rule) if isinstance(rule, str) else rule
    flagged = frame.withColumns({_FLAG: F.coalesce(bad, F.lit(False)), _WHY: reason, _RULE: rule})
    removed = _count(outcome, removed_by_window(flagged, F.col(_FLAG)))
    if removed:
        helpers = [c for c in flagged.columns if c.startswith(_FLAG)]
        data = [column(c) for c in flagged.columns if c not in helpers]
        rows = as_text(flagged.where(F.col(_FLAG)).select(*data, F.col(_WHY), F.col(_RULE)))
        outcome.rejects.append(
            rows.select(*data, F.col(_RULE).alias(RULE), F.col(_WHY).alias(REASON))
        )
        flagged = flagged.where(~F.col(_FLAG))
    return flagged.drop(_FLAG, _WHY, _RULE)


def _is_text(data_type: T.DataType) -> bool:
    return isinstance(data_type, T.StringType)


def _trim(outcome: StepOutcome, step: TrimStep, at: StepAt) -> None:
    frame = outcome.frame
    types = {f.name: f.dataType for f in frame.schema.fields}
    columns = step.trim.columns or [
        c for c in frame.columns if _is_text(types[c]) and not c.startswith("_")
    ]
    _require(frame, columns, at.where)
    trimmed = {name: strip_to_null(column(name)) for name in columns}
    outcome.frame = frame.withColumns(trimmed) if trimmed else frame


def _cast(outcome: StepOutcome, step: CastStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.cast), at.where)
    types = {f.name: f.dataType for f in outcome.frame.schema.fields}
    conversions = {}
    for name, target in step.cast.items():
        if has_type(types[name], target):
            continue  # already that type: nothing to do
        value, failed = convert(column(name), types[name], target, at.timezone)
        why = f" is not a valid {target}"
        conversions[name] = (value, failed, f"cast_{name}", why)
    _convert_all(outcome, conversions, types, at)


def _convert_all(
    outcome: StepOutcome,
    conversions: dict[str, tuple[Column, Column, str, str]],
    types: dict[str, T.DataType],
    at: StepAt,
) -> None:
    """Convert every column in one pass; a row failing several is rejected by the first.

    (The Pandas engine converts column by column, removing each column's failures before
    the next: the same rows end with the same rule and reason.)
    """
    if not conversions:
        return
    helpers: dict[str, Column] = {}
    rules, reasons = [], []
    for index, (name, (value, failed, rule, why)) in enumerate(conversions.items()):
        helpers[f"{_FLAG}v{index}"] = value
        helpers[f"{_FLAG}f{index}"] = F.coalesce(failed, F.lit(False))
        flag = F.col(f"{_FLAG}f{index}")
        text = F.coalesce(text_of(column(name), types[name]), F.lit(""))
        rules.append(F.when(flag, F.lit(rule)))
        reasons.append(F.when(flag, F.concat(F.lit(f"{at.where}: {name} "), text, F.lit(why))))
    frame = outcome.frame.withColumns(helpers)
    rule = F.coalesce(*rules) if len(rules) > 1 else rules[0]
    reason = F.coalesce(*reasons) if len(reasons) > 1 else reasons[0]
    kept = _reject(outcome, frame, rule.isNotNull(), rule, reason)
    converted = {name: F.col(f"{_FLAG}v{i}") for i, name in enumerate(conversions)}
    outcome.frame = kept.withColumns(converted).drop(*helpers)


def _rename(outcome: StepOutcome, step: RenameStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.rename), at.where)
    outcome.frame = outcome.frame.withColumnsRenamed(step.rename)


def _dedupe(outcome: StepOutcome, step: DedupeStep, at: StepAt) -> None:
    frame = outcome.frame
    params = step.dedupe
    keys = params.keys or [c for c in frame.columns if not c.startswith("_")]
    _require(frame, [*keys, *(params.order_by or [])], at.where)
    if PARTITION in frame.columns:  # duplicates are found within a window
        keys = [*keys, PARTITION]
    # counted here, then by later steps, the checks and both writes: read once
    frame = persisted(frame)
    # duplicates counted by a hash aggregate (as `dropDuplicates`), not a sort of every row;
    # most frames have none, and then every row is kept in its order, whichever row `keep`
    # would choose
    duplicates = _duplicates_by_window(frame, keys)
    removed = _count(outcome, duplicates)
    outcome.dropped[at.where] = outcome.dropped.get(at.where, 0) + removed
    # a frame of its own over the cache: the next step frees the cache (`release_cached`
    # keeps only the very frame a step starts from)
    outcome.frame = frame.select("*")
    if not removed:
        return
    # the frame's own order breaks ties, as pandas' stable sort keeps it
    frame = frame.withColumn(_ORDER, F.monotonically_increasing_id())
    first = params.keep == "first"
    order = [
        column(c).asc_nulls_last() if first else column(c).desc_nulls_first()
        for c in params.order_by or []
    ]
    order.append(F.col(_ORDER).asc() if first else F.col(_ORDER).desc())
    window = Window.partitionBy(*[column(k) for k in keys]).orderBy(*order)
    kept = frame.withColumn(_FLAG, F.row_number().over(window) == 1).where(F.col(_FLAG))
    outcome.frame = persisted(kept).drop(_FLAG, _ORDER)  # sorted once for the jobs after


def _duplicates_by_window(frame: Any, keys: list[str]) -> dict[str | None, int]:
    """Rows beyond the first of each key, per window: hash aggregates, counts to the driver.

    The same count as the rows `row_number() > 1` marks over `keys` (nulls equal each other
    in both), without sorting the rows.
    """
    if keys and no_hash_repeats(frame, keys):
        return {}
    groups = frame.groupBy(*[column(k) for k in keys]).agg(F.count(F.lit(1)).alias("rows"))
    extra = groups.where(F.col("rows") > 1)
    if PARTITION not in keys:
        total = int(extra.agg(F.sum(F.col("rows") - 1)).first()[0] or 0)
        return {None: total} if total else {}
    counted = extra.groupBy(PARTITION).agg(F.sum(F.col("rows") - 1)).collect()
    return {str(row[0]): int(row[1]) for row in counted}


def no_hash_repeats(frame: Any, keys: list[str]) -> bool:
    """Whether no two rows share a 64-bit hash of `keys`: then no two rows share the keys.

    Equal keys hash alike (`xxhash64` takes -0.0 as 0.0 and every NaN alike, as grouping
    does), so this proves "no duplicate" with an aggregate of one long per row instead of
    every column; a repeated hash (a duplicate, or rarely a collision) is counted exactly.
    """
    # shuffled by hash before counting: a task's partial count of hashes that are nearly all
    # distinct only builds a hash table as large as its rows (1.2 s of TPC-H lineitem's 11.6 s
    # at scale factor 1, with the cache it fills)
    hashed = frame.select(F.xxhash64(*[column(k) for k in keys]).alias("hash"))
    hashes = hashed.repartition("hash").groupBy("hash").count()
    return hashes.where(F.col("count") > 1).isEmpty()


# frames the steps persisted, as (the frame returned, the frame cached), freed when the next
# step starts
_CACHED: list[tuple[Any, Any]] = []
_CACHED_LOCK = threading.Lock()


def persisted(frame: Any) -> Any:
    """`frame` persisted, freed when a later step starts (`release_cached`).

    Columns holding one value in every row (spark_io `constant`: raw's lineage) are not
    stored: the cache holds the others, and the frame returned adds them back.
    """
    constants = {
        field.name: field.metadata[CONSTANT]
        for field in frame.schema.fields
        if CONSTANT in field.metadata
    }
    stored = frame.drop(*constants) if constants and len(constants) < len(frame.columns) else frame
    if stored is not frame:
        returned = stored.persist().select(
            *[constant(c, constants[c]) if c in constants else column(c) for c in frame.columns]
        )
    else:
        returned = frame.persist()
    with _CACHED_LOCK:
        _CACHED.append((returned, stored))
    return returned


def release_cached(keep: Any = None) -> None:
    """Free the frames persisted by the previous step (its outputs are written by now).

    `keep`: a frame of the step about to start (its SQL body's result), freed next time.
    A frame of a session stopped since (another resource's, a Connect server gone) has no
    cache left to free, and its error is no concern of the step about to start.
    """
    with _CACHED_LOCK:
        frames = [stored for returned, stored in _CACHED if returned is not keep]
        _CACHED[:] = [pair for pair in _CACHED if pair[0] is keep]
    for frame in frames:
        try:
            frame.unpersist()
        except Exception as error:  # any failure: the session is gone
            logger.debug("a persisted frame of an ended Spark session: %s", error)


def _parse_dates(outcome: StepOutcome, step: ParseDatesStep, at: StepAt) -> None:
    params = step.parse_dates
    _require(outcome.frame, list(params.columns), at.where)
    zone = params.timezone or at.timezone
    types = {f.name: f.dataType for f in outcome.frame.schema.fields}
    conversions = {}
    for name, fmt in params.columns.items():
        if _is_text(types[name]):
            value, failed = parse_dates(column(name), fmt, params.timestamp, zone)
        else:
            target = "timestamp" if params.timestamp else "date"
            value, failed = convert(column(name), types[name], target, zone)
        if params.on_error != "fail":
            failed = F.lit(False)
        why = f" does not match {fmt or 'ISO 8601'}"
        conversions[name] = (value, failed, f"parse_dates_{name}", why)
    _convert_all(outcome, conversions, types, at)


def expression(text: str, at: StepAt) -> Column:
    """A DuckDB-style SQL expression as a Spark column."""
    try:
        return F.expr(translate_expression(text))
    except Exception as exc:
        raise StepError(f"{at.where}: cannot evaluate {text!r}: {exc}") from None


def _filter(outcome: StepOutcome, step: FilterStep, at: StepAt) -> None:
    keep = F.coalesce(expression(step.filter, at), F.lit(False))
    flagged = _checked(lambda: outcome.frame.withColumn(_FLAG, keep), step.filter, at)
    _drop(outcome, flagged, at.where)


def _checked(build: Callable[[], Any], text: str, at: StepAt) -> Any:
    """Spark resolves columns when a frame is built; a bad expression fails here, named."""
    try:
        frame = build()
        _ = frame.schema  # Spark Connect analyses the plan only when asked
    except Exception as exc:
        raise StepError(f"{at.where}: cannot evaluate {text!r}: {_first_line(exc)}") from None
    return frame


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _derive(outcome: StepOutcome, step: DeriveStep, at: StepAt) -> None:
    derived = {name: expression(text, at) for name, text in step.derive.items()}
    frame = _checked(lambda: outcome.frame.withColumns(derived), str(step.derive), at)
    frame = _numbers(frame, list(step.derive))
    schema = expression_schema(_arrow_schema(outcome.frame), step.derive, at.timezone)
    outcome.frame = like_duckdb(frame, schema, list(step.derive))


def _numbers(frame: Any, names: list[str]) -> Any:
    """Decimals as the platform's numbers (`sql.normalise_numbers`): int64 or float64."""
    casts = {}
    for field in frame.schema.fields:
        if field.name in names and isinstance(field.dataType, T.DecimalType):
            casts[field.name] = column(field.name).cast(
                "bigint" if field.dataType.scale == 0 else "double"
            )
    return frame.withColumns(casts) if casts else frame


def _select(outcome: StepOutcome, step: SelectStep, at: StepAt) -> None:
    _require(outcome.frame, step.select, at.where)
    keep = [*step.select]
    if PARTITION in outcome.frame.columns and PARTITION not in step.select:
        keep.append(PARTITION)
    outcome.frame = outcome.frame.select(*[column(c) for c in keep])


def _drop_columns(outcome: StepOutcome, step: DropColumnsStep, at: StepAt) -> None:
    _require(outcome.frame, step.drop_columns, at.where)
    outcome.frame = outcome.frame.drop(*step.drop_columns)


def _drop_null(outcome: StepOutcome, step: DropNullStep, at: StepAt) -> None:
    _require(outcome.frame, step.drop_null, at.where)
    types = {f.name: f.dataType for f in outcome.frame.schema.fields}
    present = [_present(column(c), types[c]) for c in step.drop_null]
    keep = present[0]
    for condition in present[1:]:
        keep = keep & condition
    _drop(outcome, outcome.frame.withColumn(_FLAG, keep), at.where)


def _present(value: Column, data_type: T.DataType) -> Column:
    """Not null (and, for floats, not NaN: pandas reads NaN as missing)."""
    if isinstance(data_type, T.FloatType | T.DoubleType):
        return value.isNotNull() & ~F.isnan(value)
    return value.isNotNull()


def _fill_null(outcome: StepOutcome, step: FillNullStep, at: StepAt) -> None:
    _require(outcome.frame, list(step.fill_null), at.where)
    frame = outcome.frame
    filled = {}
    for name, value in step.fill_null.items():
        data_type = frame.schema[name].dataType
        filled[name] = F.when(_present(column(name), data_type), column(name)).otherwise(
            F.lit(value).cast(data_type)
        )
    outcome.frame = frame.withColumns(filled)


_HANDLERS: dict[type, Callable[[StepOutcome, Any, StepAt], None]] = {
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
