"""The columns a table will have, derived from its declaration alone (no data is read).

Landing columns come from the schema; raw adds the lineage columns; built-in steps are
applied symbolically (rename, select, drop_columns, derive adds, cast and parse_dates change
types); SQL bodies and expressions are described by DuckDB over empty inputs
(`sql_schema`). What a Python transform returns is not known: its columns are open (any name
may exist) unless the table declares a schema rule. Each step's column references are
checked on the way, so a typo fails when the declarations load, not after raw has run.
"""

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from dataplat_dagster.config.models import LandingSource
from dataplat_dagster.config.sql_schema import SchemaKey, SqlDeclarationError, expression_types
from dataplat_dagster.config.steps import Step
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.types import ARROW_TYPES, declared_type

# What raw adds to the landing columns (engines/landing.py numbers the lines, assets/raw.py
# adds the rest); kept here because declarations are checked before any asset is built.
LINEAGE_COLUMNS: dict[str, pa.DataType] = {
    "_source_row": pa.int64(),
    "_load_ts": pa.timestamp("us", tz="UTC"),
    "_source_system": pa.string(),
    "_source_file": pa.string(),
    "_source_host": pa.string(),
    "_extraction_method": pa.string(),
    "_run_id": pa.string(),
}

Path = tuple[str | int, ...]


class ColumnProblem(ValueError):
    """A column reference that cannot hold; `path` is the YAML field under the dataflow."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Columns:
    """What is known of a table's columns at one point: names in order, Arrow types.

    `complete` False: other columns may exist too (below a Python transform), so nothing
    can be said to be missing. A type None is unknown (checked by name only).
    """

    types: dict[str, pa.DataType | None] = field(default_factory=dict)
    complete: bool = True

    @classmethod
    def open(cls, known: Iterable[str] = ()) -> "Columns":
        return cls(dict.fromkeys(known), complete=False)

    def missing(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.complete and name not in self.types]

    def shown(self) -> str:
        return ", ".join(
            f"{name} ({declared_type(kind)})" if kind is not None else name
            for name, kind in self.types.items()
            if name != PARTITION
        )

    def schema_key(self) -> SchemaKey:
        return tuple(self.types.items())

    def without(self, names: Iterable[str]) -> "Columns":
        dropped = set(names)
        return Columns({n: t for n, t in self.types.items() if n not in dropped}, self.complete)


def landing_columns(spec: LandingSource) -> Columns:
    return Columns({name: ARROW_TYPES[column.type] for name, column in spec.schema_.items()})


def raw_columns(landing: Columns) -> Columns:
    return Columns({**landing.types, **LINEAGE_COLUMNS})


def unknown_column(name: str, columns: Columns, owner: str, when: str = "") -> str:
    """`column carier does not exist (did you mean carrier?); staging.orders has: ...`."""
    near = difflib.get_close_matches(name, [n for n in columns.types if n != PARTITION], n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"column {name} does not exist{hint}; {owner} has{when}: {columns.shown()}"


def require(columns: Columns, names: list[str], paths: list[Path], owner: str, when: str) -> None:
    """Raise ColumnProblem at the path of the first name `columns` does not have."""
    for name, path in zip(names, paths, strict=True):
        if columns.missing([name]):
            raise ColumnProblem(path, unknown_column(name, columns, owner, when))


def check_expressions(
    columns: Columns, expressions: dict[str, str], base: Path, owner: str, when: str
) -> dict[str, pa.DataType | None]:
    """Each expression's type over `columns`; DuckDB's refusal names the field it came from."""
    if not columns.complete:
        return dict.fromkeys(expressions)  # other columns may exist: nothing to check against
    types: dict[str, pa.DataType | None] = {}
    for key, expression in expressions.items():
        try:
            [kind] = expression_types((expression,), columns.schema_key())
        except SqlDeclarationError as exc:
            raise ColumnProblem(
                (*base, key) if key else base,
                f"cannot evaluate {expression!r}: {exc}; {owner} has{when}: {columns.shown()}",
            ) from None
        types[key] = None if pa.types.is_null(kind) else kind
    return types


def apply_steps(columns: Columns, steps: list[Step], base: Path, owner: str) -> Columns:
    """The columns after each step, checking every column a step names.

    Raises:
        ColumnProblem: a step names a column that does not exist at that point.
    """
    for index, step in enumerate(steps):
        where = (*base, "steps", index, step.kind)
        columns = _STEPS[step.kind](columns, step.params, where, owner, " before this step")
    return columns


def _listed(where: Path, names: list[str], field_name: str | None = None) -> list[Path]:
    prefix = (*where, field_name) if field_name else where
    return [(*prefix, index) for index in range(len(names))]


def _keyed(where: Path, names: Iterable[str]) -> list[Path]:
    return [(*where, name) for name in names]


def _trim(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    names = params.columns or []
    require(columns, names, _listed(where, names, "columns"), owner, when)
    for name in names:
        kind = columns.types.get(name)
        if kind is not None and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ColumnProblem(
                (*where, "columns"),
                f"trim works on text; {name} is {declared_type(kind)} (cast it to string first)",
            )
    return columns


def _cast(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, list(params), _keyed(where, params), owner, when)
    return Columns(
        {**columns.types, **{name: ARROW_TYPES[kind] for name, kind in params.items()}},
        columns.complete,
    )


def _rename(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, list(params), _keyed(where, params), owner, when)
    known = {params.get(name, name): kind for name, kind in columns.types.items()}
    return Columns(known, columns.complete)


def _dedupe(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    keys, order_by = params.keys or [], params.order_by or []
    require(columns, keys, _listed(where, keys, "keys"), owner, when)
    require(columns, order_by, _listed(where, order_by, "order_by"), owner, when)
    return columns


def _parse_dates(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    names = list(params.columns)
    require(columns, names, _keyed((*where, "columns"), names), owner, when)
    kind = ARROW_TYPES["timestamp" if params.timestamp else "date"]
    return Columns({**columns.types, **dict.fromkeys(names, kind)}, columns.complete)


def _filter(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    check_expressions(columns, {"": params}, where, owner, when)
    return columns


def _derive(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    # every expression reads the columns as they were before the step (one select)
    added = check_expressions(columns, dict(params), where, owner, when)
    return Columns({**columns.types, **added}, columns.complete)


def _select(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, params, _listed(where, params), owner, when)
    kept = [*params, *([PARTITION] if PARTITION in columns.types else [])]
    # after a select the columns are known even below a Python transform
    return Columns({name: columns.types.get(name) for name in kept})


def _drop_columns(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, params, _listed(where, params), owner, when)
    return columns.without(params)


def _drop_null(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, params, _listed(where, params), owner, when)
    return columns


def _fill_null(columns: Columns, params: Any, where: Path, owner: str, when: str) -> Columns:
    require(columns, list(params), _keyed(where, params), owner, when)
    return columns


_STEPS = {
    "trim": _trim,
    "cast": _cast,
    "rename": _rename,
    "dedupe": _dedupe,
    "parse_dates": _parse_dates,
    "filter": _filter,
    "derive": _derive,
    "select": _select,
    "drop_columns": _drop_columns,
    "drop_null": _drop_null,
    "fill_null": _fill_null,
}
