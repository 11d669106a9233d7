"""The engine interface: every piece of table work, on the engine's own frame type.

Asset factories only talk to this interface, so the same declaration runs on Pandas
(frames are pandas DataFrames) and on Spark. Between steps, data crosses as Arrow tables.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import dagster as dg
import pyarrow as pa

from dataplat_dagster.config.steps import Step
from dataplat_dagster.errors import is_transient

PARTITION = "_partition"
RULE = "_dq_rule"
REASON = "_dq_reason"


class StepError(ValueError):
    """A declared step that cannot run on the data it got (unknown column, bad expression)."""


class TransformError(ValueError):
    """A SQL or Python transform that failed or returned something that is not a table."""


@dataclass
class StepOutcome:
    """The result of a chain of steps."""

    frame: Any
    rejects: list[Any] = field(default_factory=list)  # frames with _dq_rule/_dq_reason
    dropped: dict[str, int] = field(default_factory=dict)  # step label -> rows removed
    removed_by_window: dict[str | None, int] = field(default_factory=dict)  # dropped or rejected


@dataclass(frozen=True)
class RuleFunctionResult:
    """A custom rule's verdict on the whole table (instead of a row mask)."""

    passed: bool
    metadata: dict[str, Any]


class Engine(dg.ConfigurableResource, ABC):
    """Runs table work on one engine's frames."""

    name: ClassVar[str]

    # -- crossing the Arrow boundary --------------------------------------------------------
    @abstractmethod
    def from_arrow(self, table: pa.Table) -> Any: ...

    @abstractmethod
    def to_arrow(self, frame: Any) -> pa.Table: ...

    def as_frame(self, data: Any) -> Any:
        """The engine's frame for `data` (an Arrow table passes through the engine's conversion)."""
        return data

    # -- facts about a frame ----------------------------------------------------------------
    @abstractmethod
    def row_count(self, frame: Any) -> int: ...

    def mask_length(self, frame: Any) -> int:
        """The length `combine` needs for masks over `frame` (its rows, where masks are arrays)."""
        return self.row_count(frame)

    @abstractmethod
    def column_names(self, frame: Any) -> list[str]: ...

    @abstractmethod
    def head(self, frame: Any, rows: int) -> pa.Table:
        """The first rows, as Arrow (for previews and samples)."""

    # -- partitions ---------------------------------------------------------------------------
    @abstractmethod
    def split(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
        """Each key's rows (by the `_partition` column) as Arrow, without that column.

        Every key is yielded, with an empty table when it has no rows, so that a re-run
        of a window that lost its rows overwrites the old ones.
        """

    @abstractmethod
    def slices(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
        """Each key's rows as a frame (for transforms that run window by window)."""

    def window_slices(self, frame: Any, keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
        """Each key's rows as a frame without `_partition` (a body's view of its window)."""
        for key, rows in self.slices(frame, keys):
            yield key, self.drop_columns(rows, [PARTITION])

    @abstractmethod
    def with_partition(self, frame: Any, key: str) -> Any:
        """The frame with `_partition` set to `key` on every row."""

    @abstractmethod
    def concat(self, frames: Sequence[Any]) -> Any: ...

    def concat_windows(self, results: Sequence[tuple[str, Any]]) -> Any:
        """Each window's result with `_partition` set to its window, one after the other."""
        return self.concat([self.with_partition(frame, key) for key, frame in results])

    @abstractmethod
    def by_window(self, frame: Any, keys: Sequence[str], *, label: str) -> Any:
        """A range's result (with `_partition`) typed and ordered as `concat_windows` makes it.

        Raises:
            TransformError: `_partition` is missing or names a window outside `keys`.
        """

    @abstractmethod
    def drop_columns(self, frame: Any, names: Sequence[str]) -> Any:
        """The frame without those of `names` it has."""

    @abstractmethod
    def no_rows(self, frame: Any, text_columns: Sequence[str] = ()) -> Any:
        """An empty frame with `frame`'s columns plus string `text_columns`."""

    # -- work -------------------------------------------------------------------------------
    @abstractmethod
    def apply_steps(
        self, frame: Any, steps: Sequence[Step], *, label: str, timezone: str = "UTC"
    ) -> StepOutcome:
        """Run built-in steps in order; `label` (for example `staging.orders`) prefixes errors.

        `timezone` is the zone of naive timestamps (the dataflow's; dataplat_dagster.timestamps).
        """

    @abstractmethod
    def run_sql(
        self, sql: str, tables: dict[str, Any], *, label: str = "SQL", timezone: str = "UTC"
    ) -> Any:
        """Run a SELECT where each `{{ ref }}` of `tables` is a table.

        `label` names the table in errors; the session's time zone is `timezone`. Whole numbers
        come back as int64 and other decimals as float64 (`sql.normalise_numbers`).
        """

    @abstractmethod
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
    ) -> Any:
        """Run a window-local `sql` once over the windows `keys`, rewritten as `query` says.

        `query` is the plan's `sql_windows.RangeSQL`; the `windowed` refs of `tables` carry
        `_partition`. Equals running `sql` window by window then `concat_windows`.
        """

    # -- quality rules: masks are the engine's own type, only passed back to the engine ------
    @abstractmethod
    def rule_failures(
        self,
        frame: Any,
        rule: Any,
        reference: Any | None,
        function: Callable[..., Any] | None,
        *,
        timezone: str = "UTC",
    ) -> Any:
        """A mask of the rows breaking a row rule, or a RuleFunctionResult for a table verdict.

        `timezone` is the zone of naive bounds and SQL sessions (the dataflow's).
        """

    @abstractmethod
    def window_codes(self, frame: Any, keys: Sequence[str | None]) -> Any:
        """Each row's index in `keys` (all 0 when unpartitioned)."""

    @abstractmethod
    def count_by_window(self, codes: Any, mask: Any | None, windows: int) -> list[int]: ...

    def count_masks(
        self, codes: Any, masks: dict[str, Any | None], windows: int
    ) -> dict[str, list[int]]:
        """`count_by_window` of several masks (None: every row); an engine may count in one pass."""
        return {name: self.count_by_window(codes, mask, windows) for name, mask in masks.items()}

    @abstractmethod
    def combine(self, masks: Sequence[Any], rows: int, *, exclude: Any | None = None) -> Any:
        """Rows in any of `masks` and not in `exclude`."""

    @abstractmethod
    def sample_rows(
        self, frame: Any, mask: Any, columns: Sequence[str], limit: int
    ) -> list[dict[str, Any]]: ...

    def sample_masks(
        self, frame: Any, requests: dict[str, tuple[Any, Sequence[str]]], limit: int
    ) -> dict[str, list[dict[str, Any]]]:
        """`sample_rows` of several (mask, columns); an engine may fetch them in one pass."""
        return {
            name: self.sample_rows(frame, mask, columns, limit)
            for name, (mask, columns) in requests.items()
        }

    @abstractmethod
    def keep_rows(self, frame: Any, remove: Any) -> Any:
        """The frame without the rows in mask `remove`."""

    @abstractmethod
    def quarantine(
        self,
        frame: Any,
        mask: Any,
        rule: str,
        prefix: str,
        column: str | list[str] | None,
        suffix: str,
    ) -> Any:
        """The masked rows as text, with `_dq_rule` and `_dq_reason` = prefix + value + suffix."""

    @abstractmethod
    def as_text(self, frame: Any) -> Any:
        """Rows already rejected (by parsing or casting), in the quarantine's all-text form."""

    @abstractmethod
    def column_types(self, frame: Any) -> dict[str, str]:
        """Column -> declared type name (the schema rule compares these)."""

    @abstractmethod
    def newest_by_window(self, frame: Any, column: str, codes: Any, windows: int) -> list[Any]: ...

    @abstractmethod
    def to_pandas(self, frame: Any) -> Any:
        """A pandas view of the frame (Great Expectations validates pandas or Spark)."""

    def _hint(self) -> str:
        """What a failing transform may not know: which engine's frames it was given."""
        if getattr(self, "name", "") != "spark":
            return ""
        return (
            " (it was given Spark DataFrames; a function written for pandas says so with "
            "pandas.DataFrame annotations, and its table then runs on Pandas)"
        )

    def call_python(
        self, function: Callable[..., Any], inputs: dict[str, Any], params: dict[str, Any]
    ) -> Any:
        try:
            result = function(**inputs, **params)
        except Exception as exc:
            if is_transient(exc):
                raise  # the storage or network failed: left as is for the retry policy
            name = getattr(function, "__qualname__", str(function))
            raise TransformError(
                f"python transform {function.__module__}.{name} failed: {exc}{self._hint()}"
            ) from exc
        return result
