"""Resolve declarations into a plan: every table with its inputs and partitioning.

This is where cross-references are checked (unknown tables, wrong layer order, cycles,
SQL placeholders, Python dotted paths), each error naming the file, field and line.
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dataplat_dagster.config.column_checks import check_columns
from dataplat_dagster.config.columns import Columns
from dataplat_dagster.config.frame_kinds import describe, frame_kind
from dataplat_dagster.config.loader import LoadedDataflow
from dataplat_dagster.config.models import (
    LAYERS,
    LandingSource,
    OutputTable,
    Partitioning,
    RawTable,
    TransformTable,
    check_ref,
)
from dataplat_dagster.config.path_pattern import PathPattern
from dataplat_dagster.config.rules import rule_yaml_paths
from dataplat_dagster.config.schema import COLUMN_TYPES
from dataplat_dagster.config.user_code import UserCodeError, resolve_callable
from dataplat_dagster.engines.sql_windows import RangeSQL, plan_range_sql
from dataplat_dagster.expectation_types import core_expectation_types

SQL_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_.]+)\s*\}\}")

# Which layers a table may read from: data only flows down the medallion.
INPUT_LAYERS: dict[str, tuple[str, ...]] = {
    "raw": ("landing",),
    "staging": ("raw", "staging"),
    "common": ("raw", "staging", "common"),
    "business": ("staging", "common", "business"),
    "output": ("staging", "common", "business"),
}

TableSpec = LandingSource | RawTable | TransformTable | OutputTable


@dataclass(frozen=True, order=True)
class TableId:
    """`<dataflow>.<layer>.<table>`; the asset key is `[layer, dataflow, table]`."""

    dataflow: str
    layer: str
    name: str

    def __str__(self) -> str:
        return f"{self.dataflow}.{self.layer}.{self.name}"

    @property
    def key_path(self) -> list[str]:
        return [self.layer, self.dataflow, self.name]

    def companion(self, suffix: str) -> "TableId":
        return TableId(self.dataflow, self.layer, f"{self.name}__{suffix}")


@dataclass
class TablePlan:
    """One declared table, resolved."""

    id: TableId
    spec: Any
    dataflow: LoadedDataflow
    inputs: list[TableId] = field(default_factory=list)
    partitioning: Partitioning | None = None
    check_inputs: list[TableId] = field(
        default_factory=list
    )  # read by rules only (referential, audits)
    whole_inputs: set[TableId] = field(default_factory=set)  # read in full, not window by window
    audit_sources: set[TableId] = field(default_factory=set)
    rule_functions: dict[int, Callable[..., Any]] = field(
        default_factory=dict
    )  # custom rules by index
    expectations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # GE rules by index
    sql: str | None = None
    python: Callable[..., Any] | None = None
    path_pattern: PathPattern | None = None
    row_key: list[str] = field(default_factory=list)  # columns identifying a row (samples)
    rule_targets: dict[int, TableId] = field(default_factory=dict)  # referential rules by index
    columns: "Columns | None" = None  # what the declarations say it will have (column_checks)
    range_sql: RangeSQL | None = None  # a partitioned SQL body over a range: once or per window

    @property
    def all_inputs(self) -> list[TableId]:
        return [*self.inputs, *(t for t in self.check_inputs if t not in self.inputs)]

    @property
    def partitioned(self) -> bool:
        return self.partitioning is not None

    @property
    def layer(self) -> str:
        return self.id.layer

    @property
    def description(self) -> str:
        return (
            self.spec.description
            or f"{self.id.layer} table {self.id.name} of dataflow {self.id.dataflow}"
        )


@dataclass
class Plan:
    tables: dict[TableId, TablePlan]
    _readers: dict[TableId, list[TablePlan]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _by_dataflow: dict[str, list[TablePlan]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def of_dataflow(self, name: str) -> list[TablePlan]:
        """The dataflow's tables in declaration order (an index: asked per table and sensor)."""
        if self._by_dataflow is None:
            self._by_dataflow = {}
            for plan in self.tables.values():
                self._by_dataflow.setdefault(plan.id.dataflow, []).append(plan)
        return list(self._by_dataflow.get(name, []))

    def readers_of(self, table_id: TableId) -> list[TablePlan]:
        """The tables whose body reads `table_id` (an index: asked once per table at load)."""
        if self._readers is None:
            self._readers = {}
            for plan in self.tables.values():
                for upstream in plan.inputs:
                    self._readers.setdefault(upstream, []).append(plan)
        return self._readers.get(table_id, [])

    def __iter__(self) -> Iterator[TablePlan]:
        return iter(self.tables.values())

    def __getitem__(self, table_id: TableId) -> TablePlan:
        return self.tables[table_id]

    def in_dependency_order(self, tables: Iterable[TablePlan]) -> list[TablePlan]:
        """`tables` ordered so that each comes after those of them it reads."""
        chosen = {t.id: t for t in tables}
        ordered: list[TablePlan] = []
        done: set[TableId] = set()

        def visit(table: TablePlan) -> None:
            if table.id in done:
                return
            done.add(table.id)
            for upstream in table.all_inputs:
                if upstream in chosen:
                    visit(chosen[upstream])
            ordered.append(table)

        for table in chosen.values():
            visit(table)
        return ordered

    def upstream_of(self, tables: Iterable[TablePlan]) -> list[TablePlan]:
        """Every table read, directly or not, by `tables` (landing sources excepted)."""
        seen: dict[TableId, TablePlan] = {}
        pending = [upstream for t in tables for upstream in t.all_inputs]
        while pending:
            table = self.tables[pending.pop()]
            if table.id in seen or table.layer == "landing":
                continue
            seen[table.id] = table
            pending += table.all_inputs
        return list(seen.values())


def build_plan(dataflows: list[LoadedDataflow]) -> Plan:
    """Resolve every table of every dataflow; raise DeclarationError on the first bad reference."""
    tables: dict[TableId, TablePlan] = {}
    for loaded in dataflows:
        for layer in LAYERS:
            for name, spec in loaded.spec.tables(layer).items():
                table_id = TableId(loaded.spec.dataflow, layer, name)
                tables[table_id] = TablePlan(table_id, spec, loaded)
    for plan in tables.values():
        _resolve_contract(plan)
        _resolve_inputs(plan, tables)
        _settle_engine(plan)
    order = _topological(tables)
    for plan in order:
        _resolve_partitioning(plan, tables)
        plan.row_key = _row_key(plan, tables)
        plan.range_sql = _range_sql(plan, tables)
        _check_spark_sql(plan)
    check_columns(order, tables)
    return Plan(tables)


def _resolve_contract(plan: TablePlan) -> None:
    """A SQLModel contract becomes the table's declared columns (one mechanism checks both).

    A SQL output's `columns`, or the columns of a schema rule added to the table's rules.
    """
    spec = plan.spec
    if getattr(spec, "contract", None) is None:
        return
    # imported here: sqlmodel is only loaded by projects that declare contracts
    from dataplat_dagster.config.rules import SchemaRule
    from dataplat_dagster.contracts.declaration import (
        ContractError,
        contract_columns,
        contract_table,
        load_contract,
    )

    where = (plan.layer, plan.id.name, "contract")
    try:
        model = load_contract(spec.contract)
        columns = contract_columns(model)
    except ContractError as exc:
        raise plan.dataflow.fail(where, str(exc)) from None
    table = contract_table(model).name
    if isinstance(spec, OutputTable):
        if spec.format not in ("sql", "clickhouse") or spec.columns:
            raise plan.dataflow.fail(
                where,
                "a contract declares a SQL output's columns: format sql or clickhouse, and no "
                "`columns`",
            )
        if spec.table != table:
            raise plan.dataflow.fail(
                where, f"the contract's table is {table}, the output writes {spec.table}"
            )
        declared = {
            name: {"type": kind, "nullable": null} for name, (kind, null) in columns.items()
        }
        plan.spec = OutputTable.model_validate(
            {**spec.model_dump(by_alias=True, exclude_unset=True), "columns": declared}
        )
        return
    if any(rule.kind == "schema" for rule in spec.rules):
        raise plan.dataflow.fail(where, "give a schema rule or a contract, not both")
    unchecked = {n: k for n, (k, _) in columns.items() if k not in COLUMN_TYPES}
    if unchecked:
        listed = ", ".join(f"{n} ({k})" for n, k in unchecked.items())
        raise plan.dataflow.fail(where, f"a schema rule cannot check the types of {listed}")
    rule = SchemaRule.model_validate(
        {"schema": {"columns": {n: k for n, (k, _) in columns.items()}}}
    )
    plan.spec = spec.model_copy(update={"rules": [*spec.rules, rule]})  # specs are frozen


def _settle_engine(plan: TablePlan) -> None:
    """The engine the table's Python functions are written for, when they say (frame_kinds).

    An inherited engine gives way to it; an engine the table declares itself must agree.
    """
    functions = [*([plan.python] if plan.python else []), *plan.rule_functions.values()]
    kinds = {describe(f): kind for f in functions if (kind := frame_kind(f)) is not None}
    if not kinds:
        return
    where = (plan.layer, plan.id.name)
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{name} ({kind})" for name, kind in kinds.items())
        raise plan.dataflow.fail(
            where, f"its functions are written for different engines: {listed}"
        )
    kind = next(iter(kinds.values()))
    if plan.spec.engine == kind:
        return
    if (plan.layer, plan.id.name) in plan.dataflow.explicit_engines:
        names = ", ".join(kinds)
        raise plan.dataflow.fail(
            (*where, "engine"),
            f"engine {plan.spec.engine}, but {names} is annotated with {kind} types: "
            f"declare `engine: {kind}` or write the function for {plan.spec.engine}",
        )
    plan.spec = plan.spec.model_copy(update={"engine": kind})  # specs are frozen


def _check_spark_sql(plan: TablePlan) -> None:
    """A table on Spark whose SQL sqlglot cannot translate for Spark fails at load."""
    # imported here: engines.spark_* import engines.base, which imports this package
    from dataplat_dagster.engines.spark_declarations import check_spark_sql, runs_on_spark

    if runs_on_spark(plan):
        check_spark_sql(plan)


def _row_key(plan: TablePlan, tables: dict[TableId, TablePlan]) -> list[str]:
    """The declared `key`, else a unique rule's or dedupe step's columns, else the first input's."""
    spec = plan.spec
    if getattr(spec, "key", None):
        return list(spec.key)
    for rule in getattr(spec, "rules", []):
        if rule.kind == "unique":
            return list(rule.params)
    for step in getattr(spec, "steps", []):
        keys = getattr(getattr(step, "dedupe", None), "keys", None)
        if keys:
            return list(keys)
    inputs = [tables[t] for t in plan.inputs if tables[t].layer != "landing"]
    return list(inputs[0].row_key) if inputs else []


def _range_sql(plan: TablePlan, tables: dict[TableId, TablePlan]) -> RangeSQL | None:
    """Decided once per table: can its SQL run once over a range, the window as a column?"""
    if plan.sql is None or not plan.partitioned:
        return None
    windowed = [t for t in plan.inputs if tables[t].partitioned]
    if any(tables[t].partitioning != plan.partitioning for t in windowed):
        return RangeSQL(None, "its windows are not its inputs' windows")
    same = plan.id.dataflow
    refs = [f"{t.layer}.{t.name}" if t.dataflow == same else str(t) for t in windowed]
    return plan_range_sql(plan.sql, refs)


def _ref_to_id(ref: str, owner: TablePlan) -> TableId:
    parts = ref.split(".")
    if len(parts) == 2:
        return TableId(owner.id.dataflow, parts[0], parts[1])
    return TableId(parts[0], parts[1], parts[2])


def _resolve_inputs(plan: TablePlan, tables: dict[TableId, TablePlan]) -> None:
    spec = plan.spec
    base = (plan.layer, plan.id.name)
    if isinstance(spec, LandingSource):
        try:
            plan.path_pattern = PathPattern(spec.path)
        except ValueError as exc:
            raise plan.dataflow.fail((*base, "path"), str(exc)) from None
        return
    refs: list[tuple[tuple[str | int, ...], str]]
    if isinstance(spec, RawTable | OutputTable):
        refs = [((*base, "from"), spec.from_)]
    else:
        refs = [((*base, "from", index), ref) for index, ref in enumerate(spec.from_)]
        if spec.body == "sql":
            plan.sql = _sql_text(plan)
            field_name = "sql" if spec.sql else "sql_file"
            refs += [((*base, field_name), ref) for ref in SQL_PLACEHOLDER.findall(plan.sql)]
        if spec.python:
            plan.python = _resolve_callable(plan, spec.python)
    for path, ref in refs:
        table_id = _ref_to_id(ref, plan)
        if table_id not in tables:
            raise plan.dataflow.fail(path, _unknown_table(ref, table_id, tables))
        if table_id.layer not in INPUT_LAYERS[plan.layer]:
            raise plan.dataflow.fail(
                path,
                f"a {plan.layer} table cannot read {ref} (it may read {', '.join(INPUT_LAYERS[plan.layer])})",
            )
        if table_id not in plan.inputs:
            plan.inputs.append(table_id)
    if isinstance(spec, RawTable | TransformTable):
        _resolve_rules(plan, tables)
    if isinstance(spec, OutputTable) and spec.path:
        try:
            PathPattern(spec.path)
        except ValueError as exc:
            raise plan.dataflow.fail((*base, "path"), str(exc)) from None


def _resolve_rules(plan: TablePlan, tables: dict[TableId, TablePlan]) -> None:
    """Rules may read other tables (referential, count audit) and load code or suites."""
    rules = plan.spec.rules
    paths = rule_yaml_paths(plan.dataflow.lines, (plan.layer, plan.id.name, "rules"), len(rules))
    for index, (rule, path) in enumerate(zip(rules, paths, strict=True)):
        where = (*path, rule.kind)
        if rule.kind == "referential":
            target = _rule_input(
                plan,
                tables,
                rule.referential.to,
                (*where, "to"),
                allowed=("raw", "staging", "common", "business"),
            )
            if target not in plan.inputs:  # keys may refer to any window of the referenced table
                plan.whole_inputs.add(target)
            plan.rule_targets[index] = target
        elif rule.kind == "count_audit":
            source = rule.count_audit.source
            if source is None and len(plan.inputs) != 1:
                raise plan.dataflow.fail(
                    (*where,), "this table has several inputs: name the audit's `source`"
                )
            if source is not None:
                audited = _rule_input(
                    plan,
                    tables,
                    source,
                    (*where, "source"),
                    allowed=("landing", "raw", "staging", "common", "business"),
                )
                plan.whole_inputs.discard(audited)
                plan.audit_sources.add(audited)
        elif rule.kind == "custom":
            plan.rule_functions[index] = _resolve_callable(
                plan, rule.custom.function, (*where, "function")
            )
        elif rule.kind == "great_expectations":
            plan.expectations[index] = _load_expectations(plan, rule.great_expectations, where)


def _rule_input(
    plan: TablePlan,
    tables: dict[TableId, TablePlan],
    ref: str,
    path: tuple[str | int, ...],
    allowed: tuple[str, ...],
) -> TableId:
    try:
        table_id = _ref_to_id(check_ref(ref), plan)
    except ValueError as exc:
        raise plan.dataflow.fail(path, str(exc)) from None
    if table_id not in tables:
        raise plan.dataflow.fail(path, _unknown_table(ref, table_id, tables))
    if table_id.layer not in allowed or table_id == plan.id:
        raise plan.dataflow.fail(
            path,
            f"a rule cannot read {ref} (it may read {', '.join(allowed)} tables other than itself)",
        )
    if (
        table_id.layer != "landing"
        and table_id not in plan.check_inputs
        and table_id not in plan.inputs
    ):
        plan.check_inputs.append(table_id)
    return table_id


def _load_expectations(
    plan: TablePlan, params: Any, where: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """Expectations as `{type, kwargs, meta}`, from an inline list or a suite JSON file (GE 1.x or 0.x)."""
    if params.suite is not None:
        path = (plan.dataflow.folder / params.suite).resolve()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise plan.dataflow.fail(
                (*where, "suite"), f"suite file {params.suite} not found next to the dataflow file"
            ) from None
        except json.JSONDecodeError as exc:
            raise plan.dataflow.fail(
                (*where, "suite"), f"suite file {params.suite} is not valid JSON: {exc}"
            ) from None
        items = raw.get("expectations") if isinstance(raw, dict) else raw
    else:
        items = params.expectations
    if not isinstance(items, list) or not items:
        raise plan.dataflow.fail(where, "the suite holds no expectations")
    expectations = []
    for number, item in enumerate(items):
        kind = item.get("type") or item.get("expectation_type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not kind.startswith("expect_"):
            raise plan.dataflow.fail(
                where,
                f"expectation {number}: needs a `type` such as expect_column_values_to_not_be_null",
            )
        if kind not in core_expectation_types():
            raise plan.dataflow.fail(
                where, f"expectation {number}: {kind} is not a Great Expectations core expectation"
            )
        kwargs = item.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise plan.dataflow.fail(
                where, f"expectation {number} ({kind}): kwargs must be a mapping"
            )
        expectations.append({"type": kind, "kwargs": kwargs, "meta": item.get("meta") or {}})
    return expectations


def _unknown_table(ref: str, table_id: TableId, tables: dict[TableId, TablePlan]) -> str:
    siblings = sorted(
        t.name for t in tables if t.dataflow == table_id.dataflow and t.layer == table_id.layer
    )
    known = (
        ", ".join(f"{table_id.layer}.{name}" for name in siblings) or f"no {table_id.layer} tables"
    )
    if not any(t.dataflow == table_id.dataflow for t in tables):
        return f"unknown table {ref}: there is no dataflow {table_id.dataflow!r}"
    return f"unknown table {ref} (dataflow {table_id.dataflow} has: {known})"


def _sql_text(plan: TablePlan) -> str:
    spec: TransformTable = plan.spec
    if spec.sql:
        return spec.sql
    assert spec.sql_file is not None
    path = (plan.dataflow.folder / spec.sql_file).resolve()
    if not path.is_file():
        raise plan.dataflow.fail(
            (plan.layer, plan.id.name, "sql_file"),
            f"SQL file {spec.sql_file} not found next to the dataflow file",
        )
    return path.read_text(encoding="utf-8")


def _resolve_callable(
    plan: TablePlan, dotted: str, where: tuple[str | int, ...] | None = None
) -> Callable[..., Any]:
    try:
        return resolve_callable(dotted, plan.dataflow.project_root)
    except UserCodeError as exc:
        raise plan.dataflow.fail(where or (plan.layer, plan.id.name, "python"), str(exc)) from None


def _topological(tables: dict[TableId, TablePlan]) -> list[TablePlan]:
    order: list[TablePlan] = []
    state: dict[TableId, str] = {}

    def visit(table_id: TableId, trail: list[TableId]) -> None:
        if state.get(table_id) == "done":
            return
        if state.get(table_id) == "active":
            cycle = " -> ".join(str(t) for t in [*trail[trail.index(table_id) :], table_id])
            plan = tables[table_id]
            raise plan.dataflow.fail(
                (plan.layer, plan.id.name), f"tables read each other in a cycle: {cycle}"
            )
        state[table_id] = "active"
        for upstream in tables[table_id].all_inputs:
            visit(upstream, [*trail, table_id])
        state[table_id] = "done"
        order.append(tables[table_id])

    for table_id in sorted(tables):
        visit(table_id, [])
    return order


def _resolve_partitioning(plan: TablePlan, tables: dict[TableId, TablePlan]) -> None:
    spec = plan.spec
    flow = plan.dataflow.spec
    where = (plan.layer, plan.id.name)
    if isinstance(spec, LandingSource):
        by_time = spec.has_date_in_path or spec.partition_column is not None
        windows = spec.partitioning or flow.partitioning
        if by_time and windows is None:
            raise plan.dataflow.fail(
                (*where, "path" if spec.has_date_in_path else "partition_column"),
                "this source is split by time but the dataflow declares no `partitioning`",
            )
        if spec.partitioned and not by_time:
            raise plan.dataflow.fail(
                (*where, "partitioned"),
                "a partitioned source needs {date:...} in its path or a partition_column",
            )
        plan.partitioning = windows if by_time and spec.partitioned is not False else None
        return
    upstream = [tables[t].partitioning for t in plan.inputs if tables[t].partitioning is not None]
    declared = getattr(spec, "partitioned", None)
    own = getattr(spec, "partitioning", None)
    if declared is False:
        plan.partitioning = None
    elif own is not None:
        plan.partitioning = own
    elif not upstream:
        if declared:
            raise plan.dataflow.fail(
                (*where, "partitioned"),
                "partitioned: true needs a partitioned input or its own `partitioning`",
            )
        plan.partitioning = None
    elif len(set(upstream)) > 1:
        names = ", ".join(str(t) for t in plan.inputs if tables[t].partitioning is not None)
        raise plan.dataflow.fail(
            where,
            f"inputs {names} have different partitioning; declare this table's own `partitioning` or partitioned: false",
        )
    else:
        plan.partitioning = upstream[0]
