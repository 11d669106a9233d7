"""The Pandas engine: frames are pandas DataFrames with Arrow-backed strings."""

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pa_ds

from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines import pandas_rules, pandas_steps
from dataplat_dagster.engines.base import PARTITION, Engine, StepOutcome, TransformError
from dataplat_dagster.engines.sql import run_duckdb
from dataplat_dagster.engines.sql_range import run_range
from dataplat_dagster.timestamps import instants_in_utc
from dataplat_dagster.types import TEXT, pandas_type_for_arrow


class PandasEngine(Engine):
    """pandas for steps and Python transforms, DuckDB for SQL over the same frames."""

    name: ClassVar[str] = "pandas"

    def from_arrow(self, table: pa.Table) -> pd.DataFrame:
        return table.to_pandas(
            types_mapper=pandas_type_for_arrow, date_as_object=False, split_blocks=True
        )

    def to_arrow(self, frame: pd.DataFrame) -> pa.Table:
        if isinstance(frame, pa.Table):
            return frame
        # a transform's instants may be in any zone or unit; tables store them one way
        return instants_in_utc(pa.Table.from_pandas(frame, preserve_index=False))

    def as_frame(self, data: pd.DataFrame | pa.Table) -> pd.DataFrame:
        return self.from_arrow(data) if isinstance(data, pa.Table) else data

    def row_count(self, frame: pd.DataFrame | pa.Table | pa_ds.Dataset) -> int:
        return frame.count_rows() if isinstance(frame, pa_ds.Dataset) else len(frame)

    def column_names(self, frame: pd.DataFrame | pa.Table) -> list[str]:
        return (
            list(frame.column_names)
            if isinstance(frame, pa.Table)
            else [str(c) for c in frame.columns]
        )

    def head(self, frame: pd.DataFrame | pa.Table, rows: int) -> pa.Table:
        return (
            frame.slice(0, rows) if isinstance(frame, pa.Table) else self.to_arrow(frame.head(rows))
        )

    def split(
        self, frame: pd.DataFrame | pa.Table, keys: Sequence[str]
    ) -> Iterator[tuple[str, pa.Table]]:
        table = self.to_arrow(frame)
        if PARTITION not in table.column_names:
            if len(keys) != 1:
                raise TransformError(f"a frame for {len(keys)} windows needs a {PARTITION} column")
            yield keys[0], table
            return
        codes, labels = _arrow_codes(table[PARTITION])
        _check_keys(labels, codes, keys)
        data = table.drop_columns([PARTITION])
        # one stable sort by window, then zero-copy slices (rows already grouped skip the sort)
        if len(codes) and not (np.diff(codes) >= 0).all():
            order = np.argsort(codes, kind="stable")
            data, codes = data.take(pa.array(order)), codes[order]
        bounds = np.searchsorted(codes, np.arange(len(labels) + 1))
        position = {label: index for index, label in enumerate(labels)}
        for key in keys:
            index = position.get(key)
            if index is None:
                yield key, data.slice(0, 0)
            else:
                yield key, data.slice(bounds[index], bounds[index + 1] - bounds[index])

    def slices(
        self, frame: pd.DataFrame, keys: Sequence[str]
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        return _slices(frame, keys, drop=False)

    def window_slices(
        self, frame: pd.DataFrame, keys: Sequence[str]
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        # the column dropped once, not per window (a copy of every slice)
        return _slices(frame, keys, drop=True)

    def with_partition(self, frame: pd.DataFrame, key: str) -> pd.DataFrame:
        return frame.assign(**{PARTITION: pd.Categorical([key] * len(frame), categories=[key])})

    def concat(self, frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
        frames = [f for f in frames if f is not None]
        if not frames:
            return pd.DataFrame()
        if len(frames) == 1:
            return frames[0]
        if (
            PARTITION in frames[0].columns
        ):  # union the window categories instead of falling back to text
            categories = sorted({c for f in frames for c in f[PARTITION].cat.categories})
            frames = [
                f.assign(**{PARTITION: f[PARTITION].cat.set_categories(categories)}) for f in frames
            ]
        return pd.concat(frames, ignore_index=True)

    def concat_windows(self, results: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
        # one concat, then the window column once (not a copy per window to add it)
        results = [(key, self.drop_columns(f, [PARTITION])) for key, f in results if f is not None]
        if not results:
            return pd.DataFrame()
        keys = [key for key, _ in results]
        lengths = [len(frame) for _, frame in results]
        labels = sorted(set(keys))
        rank = {label: index for index, label in enumerate(labels)}
        codes = np.repeat(np.array([rank[key] for key in keys], dtype=np.int32), lengths)
        window = pd.Categorical.from_codes(codes, categories=labels)
        if len(results) == 1:
            return results[0][1].assign(**{PARTITION: window})
        data = pd.concat([frame for _, frame in results], ignore_index=True)
        data[PARTITION] = window
        return data

    def by_window(self, frame: pd.DataFrame, keys: Sequence[str], *, label: str) -> pd.DataFrame:
        if PARTITION not in frame.columns:
            raise TransformError(f"{label}: the result has no {PARTITION} column (its window)")
        values = frame[PARTITION]
        values = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
        codes = pd.Index(list(keys)).get_indexer(values)
        if (codes < 0).any():
            stray = sorted({str(v) for v in values[codes < 0]})[:5]
            raise TransformError(
                f"{label}: rows of windows outside this run ({', '.join(stray)}); "
                f"the run covers {keys[0]}..{keys[-1]}"
            )
        data = frame.drop(columns=[PARTITION])
        if len(codes) and not (np.diff(codes) >= 0).all():
            order = np.argsort(codes, kind="stable")
            data, codes = data.take(order), codes[order]
        labels = sorted(keys)
        rank = pd.Index(labels).get_indexer(list(keys)).astype(np.int32)
        window = pd.Categorical.from_codes(rank[codes], categories=labels)
        return data.reset_index(drop=True).assign(**{PARTITION: window})

    def drop_columns(self, frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
        present = [name for name in names if name in frame.columns]
        return frame.drop(columns=present) if present else frame

    def no_rows(self, frame: pd.DataFrame, text_columns: Sequence[str] = ()) -> pd.DataFrame:
        empty = frame.iloc[0:0]
        return empty.assign(**{name: pd.Series([], dtype=TEXT) for name in text_columns})

    def apply_steps(
        self, frame: pd.DataFrame, steps: Sequence[Step], *, label: str, timezone: str = "UTC"
    ) -> StepOutcome:
        return pandas_steps.apply_steps(frame, list(steps), label, timezone)

    def run_sql(
        self, sql: str, tables: dict[str, Any], *, label: str = "SQL", timezone: str = "UTC"
    ) -> pd.DataFrame:
        return self.from_arrow(run_duckdb(sql, tables, timezone, label=label))

    def run_sql_windows(
        self,
        query: Any,
        sql: str,
        tables: dict[str, Any],
        windowed: Sequence[str],
        keys: Sequence[str],
        *,
        label: str = "SQL",
        timezone: str = "UTC",
    ) -> pd.DataFrame:
        table = run_range(query, sql, tables, windowed, keys, timezone, label=label)
        return self.from_arrow(table)

    def rule_failures(
        self,
        frame: pd.DataFrame,
        rule: Any,
        reference: Any,
        function: Any,
        *,
        timezone: str = "UTC",
    ) -> Any:
        return pandas_rules.failing_rows(frame, rule, reference, function, timezone)

    def window_codes(self, frame: pd.DataFrame, keys: Sequence[str | None]) -> np.ndarray:
        return pandas_rules.window_codes(frame, list(keys))

    def count_by_window(
        self, codes: np.ndarray, mask: np.ndarray | None, windows: int
    ) -> list[int]:
        return pandas_rules.count_by_window(codes, mask, windows).tolist()

    def combine(
        self, masks: Sequence[np.ndarray], rows: int, *, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        combined = np.zeros(rows, dtype=bool)
        for mask in masks:
            combined |= mask
        return combined & ~exclude if exclude is not None else combined

    def sample_rows(
        self, frame: pd.DataFrame, mask: np.ndarray, columns: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        return pandas_rules.sample(frame, mask, list(columns), limit)

    def keep_rows(self, frame: pd.DataFrame, remove: np.ndarray) -> pd.DataFrame:
        return frame[~remove] if remove.any() else frame

    def quarantine(
        self,
        frame: pd.DataFrame,
        mask: np.ndarray,
        rule: str,
        prefix: str,
        column: str | list[str] | None,
        suffix: str,
    ) -> pd.DataFrame:
        reasons = pandas_rules.reasons_for(frame, mask, prefix, column, suffix)
        return pandas_rules.quarantine_rows(frame, mask, rule, reasons)

    def as_text(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pandas_rules.as_text(frame)

    def column_types(self, frame: pd.DataFrame) -> dict[str, str]:
        return pandas_rules.column_types(frame)

    def newest_by_window(
        self, frame: pd.DataFrame, column: str, codes: np.ndarray, windows: int
    ) -> list[Any]:
        return pandas_rules.max_by_window(frame, column, codes, windows)

    def to_pandas(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    def call_python(
        self, function: Any, inputs: dict[str, Any], params: dict[str, Any]
    ) -> pd.DataFrame:
        result = super().call_python(function, inputs, params)
        if not isinstance(result, pd.DataFrame):
            raise TransformError(
                f"python transform {function.__module__}.{function.__qualname__} returned {type(result).__name__}, not a DataFrame"
            )
        return result


def _slices(
    frame: pd.DataFrame, keys: Sequence[str], *, drop: bool
) -> Iterator[tuple[str, pd.DataFrame]]:
    if PARTITION not in frame.columns:
        for key in keys:
            yield key, frame
        return
    codes, labels = _codes(frame[PARTITION])
    _check_keys(labels, codes, keys)
    position = {label: index for index, label in enumerate(labels)}
    # one stable sort by window, then row ranges (a mask per window read every row per window)
    if len(codes) and not (np.diff(codes) >= 0).all():
        order = np.argsort(codes, kind="stable")
        frame, codes = frame.take(order), codes[order]
    if drop:
        frame = frame.drop(columns=[PARTITION])
    bounds = np.searchsorted(codes, np.arange(len(labels) + 1))
    for key in keys:
        index = position.get(key)
        if index is None:
            yield key, frame.iloc[0:0]
        else:
            yield key, frame.iloc[bounds[index] : bounds[index + 1]]


def _arrow_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Window index of each row and the window labels, from a dictionary or a text column."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries() if isinstance(column, pa.ChunkedArray) else column
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return np.zeros(0, dtype=np.int64), []
    labels = [str(v) for v in chunks[0].dictionary.to_pylist()]
    codes = np.concatenate(
        [pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False) for c in chunks]
    ).astype(np.int64)
    return codes, labels


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), [str(c) for c in values.cat.categories]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, [str(u) for u in uniques]


def _check_keys(labels: list[str], codes: np.ndarray, keys: Sequence[str]) -> None:
    present = set(np.unique(codes[codes >= 0]).tolist()) if len(codes) else set()
    stray = sorted(labels[code] for code in present if labels[code] not in set(keys))
    if stray or (len(codes) and (codes < 0).any()):
        raise TransformError(
            f"rows belong to windows outside this run ({', '.join(stray[:5]) or 'null'}); "
            f"the run covers {keys[0]}..{keys[-1]}"
        )
