"""Counting and acting on rule masks (boolean Columns) per window, on Spark.

The Pandas engine's "window codes" are each row's window index; here they are the frame
and the run's windows, and a count is one `groupBy(_partition)` aggregate whose few rows
(one per window) are all that reach the driver.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataplat_dagster.engines.base import PARTITION, REASON, RULE, TransformError
from dataplat_dagster.engines.spark_io import known_rows
from dataplat_dagster.engines.spark_rules import FLAG, MASKED, flag
from dataplat_dagster.engines.spark_text import as_text, column, text_of


@dataclass(frozen=True)
class WindowCodes:
    """The frame whose rows are counted, and the run's windows in order."""

    frame: Any
    keys: list[str | None]

    @property
    def windowed(self) -> bool:
        return PARTITION in self.frame.columns and self.keys != [None]

    def count(self, mask: Column | None, windows: int) -> list[int]:
        """Rows (in `mask`) per window, in the order of `keys`."""
        known = known_rows(self.frame) if mask is None else None
        if known is not None:  # a frame read from the warehouse: its manifests' counts
            if not self.windowed:
                return [sum(known.values()), *[0] * (windows - 1)]
            by_key = {str(key): rows for key, rows in known.items()}
            return [by_key.get(str(key), 0) for key in self.keys][:windows]
        rows = self.frame if mask is None else flag(self.frame, mask).where(F.col(FLAG))
        if not self.windowed:
            return [rows.count(), *[0] * (windows - 1)]
        found = {str(r[0]): int(r[1]) for r in rows.groupBy(PARTITION).count().collect()}
        return [found.get(str(key), 0) for key in self.keys][:windows]

    def count_all(self, masks: dict[str, Column | None], windows: int) -> dict[str, list[int]]:
        """Rows per window of every mask at once: one aggregate, one row per window back."""
        if not masks:
            return {}
        names = {name: f"m{index}" for index, name in enumerate(masks)}
        # masks may hold window functions or subqueries: projected first, then summed
        flags = [
            (F.coalesce(mask, F.lit(False)) if mask is not None else F.lit(True))
            .cast("int")
            .alias(names[name])
            for name, mask in masks.items()
        ]
        sums = [F.sum(names[name]).alias(names[name]) for name in masks]
        window = [F.col(PARTITION).alias(_WINDOW)] if self.windowed else []
        framed = self.frame.alias(MASKED).select(*window, *flags)
        if not self.windowed:
            row = framed.agg(*sums).collect()[0]
            return {n: [int(row[names[n]] or 0), *[0] * (windows - 1)] for n in masks}
        rows = framed.groupBy(_WINDOW).agg(*sums).collect()
        found = {str(r[_WINDOW]): r for r in rows}
        return {
            name: [
                int(found[str(k)][names[name]] or 0) if str(k) in found else 0 for k in self.keys
            ][:windows]
            for name in masks
        }

    def newest(self, name: str, windows: int) -> list[Any]:
        """The newest value of a time column per window (None where a window has none)."""
        data_type = self.frame.schema[name].dataType
        value = column(name)
        if isinstance(data_type, T.TimestampType):  # an instant comes back as UTC microseconds
            value = F.unix_micros(value)
        elif isinstance(data_type, T.StringType):
            value = value.try_cast("timestamp_ntz")
        if not self.windowed:
            rows = [(self.keys[0], self.frame.agg(F.max(value)).collect()[0][0])]
        else:
            rows = self.frame.groupBy(PARTITION).agg(F.max(value)).collect()
        found = {str(key): _stamp(newest, data_type) for key, newest in rows}
        return [found.get(str(key)) for key in self.keys][:windows]


def _stamp(value: Any, data_type: T.DataType) -> Any:
    if value is None:
        return None
    if isinstance(data_type, T.TimestampType):
        return pd.Timestamp(value, unit="us", tz="UTC")
    return pd.Timestamp(value)


def check_windows(frame: Any, keys: Sequence[str | None], *, label: str) -> None:
    """Fail when rows belong to windows outside this run (or to none)."""
    known = [k for k in keys if k is not None]
    window = F.col(PARTITION).cast("string")
    stray = frame.where(window.isNull() | ~window.isin(known)).select(window).distinct()
    found = sorted(str(r[0]) for r in stray.limit(6).collect())
    if found:
        raise TransformError(
            f"{label}: rows of windows outside this run ({', '.join(found[:5])}); "
            f"the run covers {known[0]}..{known[-1]}"
        )


def quarantine_rows(
    rows: Any, rule: str, prefix: str, names: str | list[str] | None, suffix: str
) -> Any:
    """The rows as text with `_dq_rule` and `_dq_reason` = prefix + value(s) + suffix."""
    columns = [names] if isinstance(names, str) else list(names or [])
    if not columns or any(c not in rows.columns for c in columns):
        reason = F.lit(prefix + suffix)
    else:
        types = {f.name: f.dataType for f in rows.schema.fields}
        parts = [F.coalesce(text_of(column(c), types[c]), F.lit("null")) for c in columns]
        reason = F.concat(F.lit(prefix), F.concat_ws(", ", *parts), F.lit(suffix))
    data = [column(c) for c in rows.columns]
    text = as_text(rows.withColumn(_WHY, reason))
    return text.select(*data, F.lit(rule).alias(RULE), F.col(_WHY).alias(REASON))


_WHY = "__dataplat_reason"
_WINDOW = "__dataplat_window"
