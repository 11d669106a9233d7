"""Check every column a declaration names against the columns its table will have.

Runs at the end of `build_plan`, table by table in dependency order, so each table's input
columns are known when its body, steps, rules and key are checked. A problem names the
file, the field, the line and the columns that do exist at that point.
"""

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataplat_dagster.config.columns import (
    ColumnProblem,
    Columns,
    Path,
    apply_steps,
    check_expressions,
    landing_columns,
    raw_columns,
    require,
    unknown_column,
)
from dataplat_dagster.config.models import LandingSource, OutputTable, RawTable
from dataplat_dagster.config.rules import BaseRule, rule_yaml_paths
from dataplat_dagster.config.sql_schema import SqlDeclarationError, query_schema
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.types import ARROW_TYPES

if TYPE_CHECKING:
    from dataplat_dagster.config.plan import TableId, TablePlan

# Great Expectations arguments naming one column, or a list of them. The table-level
# expectations on column lists (match_set, match_ordered_list) judge drift, as a schema rule.
_GE_COLUMN_ARGS = ("column", "column_A", "column_B")
_GE_DRIFT_TYPES = (
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
)


def check_columns(order: list["TablePlan"], tables: dict["TableId", "TablePlan"]) -> None:
    """Derive each table's columns (stored as `table.columns`) and check what names them.

    Raises:
        DeclarationError: a step, SQL body, rule or key names a column that will not exist.
    """
    for table in order:
        try:
            table.columns = _checked_columns(table, tables)
        except ColumnProblem as problem:
            raise table.dataflow.fail(problem.path, problem.reason) from None


def _checked_columns(table: "TablePlan", tables: dict["TableId", "TablePlan"]) -> Columns:
    spec = table.spec
    if isinstance(spec, LandingSource):
        return landing_columns(spec)
    first = tables[table.inputs[0]].columns or Columns.open()
    if isinstance(spec, OutputTable):
        return first
    owner = f"{table.layer}.{table.id.name}"
    base = (table.layer, table.id.name)
    if isinstance(spec, RawTable):
        columns = raw_columns(first)
    else:
        columns = _body_columns(table, tables, base) if spec.body != "steps" else first
        if table.partitioned:  # steps of a partitioned table see the window column
            columns = Columns({**columns.types, PARTITION: pa.string()}, columns.complete)
        columns = apply_steps(columns, spec.steps, base, owner)
        columns = _declared_by_schema_rule(columns, spec.rules)
    _check_rules(table, columns, tables, owner)
    key = list(spec.key)
    require(columns, key, [(*base, "key", index) for index in range(len(key))], owner, "")
    return columns.without([PARTITION])


def _body_columns(table: "TablePlan", tables: dict["TableId", "TablePlan"], base: Path) -> Columns:
    """A SQL body's result as DuckDB describes it; a Python body's is not known."""
    if table.spec.body == "python" or table.sql is None:
        return Columns.open()
    inputs = {_ref(t, table): tables[t].columns or Columns.open() for t in table.inputs}
    if not all(columns.complete for columns in inputs.values()):
        return Columns.open()  # an input below a Python transform: its columns are not known
    field_name = "sql" if table.spec.sql else "sql_file"
    try:
        schema = query_schema(table.sql, {ref: c.schema_key() for ref, c in inputs.items()})
    except SqlDeclarationError as exc:
        shown = "; ".join(f"{ref} has: {columns.shown()}" for ref, columns in inputs.items())
        where = f" in {table.spec.sql_file}" if table.spec.sql_file else ""
        reason = f"DuckDB refuses the SQL{where}: {exc}; {shown}"
        raise ColumnProblem((*base, field_name), reason) from None
    if schema is None:
        return Columns.open()
    return Columns({item.name: item.type for item in schema})


def _ref(table_id: "TableId", owner: "TablePlan") -> str:
    # as the transformed asset registers its inputs: layer.table within the dataflow
    same = table_id.dataflow == owner.id.dataflow
    return f"{table_id.layer}.{table_id.name}" if same else str(table_id)


def _declared_by_schema_rule(columns: Columns, rules: list[BaseRule]) -> Columns:
    """Below a Python transform, a schema rule declares the table's columns."""
    if columns.complete:
        return columns
    for rule in rules:
        if rule.kind == "schema":
            declared = {name: ARROW_TYPES[kind] for name, kind in rule.params.columns.items()}
            return Columns(
                {**declared, **{k: v for k, v in columns.types.items() if k not in declared}}
            )
    return columns


def _check_rules(
    table: "TablePlan", columns: Columns, tables: dict["TableId", "TablePlan"], owner: str
) -> None:
    rules = table.spec.rules
    paths = rule_yaml_paths(table.dataflow.lines, (table.layer, table.id.name, "rules"), len(rules))
    for index, (rule, path) in enumerate(zip(rules, paths, strict=True)):
        # a column of a `not_null` list has its own path already: rules[1].not_null[0]
        where = path if path[-2:-1] == ("not_null",) else (*path, rule.kind)
        for name, field_path in _rule_columns(rule, where):
            require(columns, [name], [field_path], owner, "")
        if rule.kind == "expression":
            check_expressions(columns, {"sql": rule.params.sql}, where, owner, "")
        elif rule.kind == "referential":
            _check_referenced_column(rule, tables[table.rule_targets[index]], table, where)
        elif rule.kind == "great_expectations":
            _check_expectations(table, index, where, columns, owner)


def _check_referenced_column(
    rule: BaseRule, target: "TablePlan", table: "TablePlan", where: Path
) -> None:
    params: Any = rule.params
    to_column = params.to_column or params.column
    same = target.id.dataflow == table.id.dataflow
    target_owner = f"{target.layer}.{target.id.name}" if same else str(target.id)
    field_name = "to_column" if params.to_column else "column"
    target_columns = target.columns or Columns.open()
    require(target_columns, [to_column], [(*where, field_name)], target_owner, "")


def _rule_columns(rule: BaseRule, where: Path) -> list[tuple[str, Path]]:
    """(column, YAML path) of every column of the table a rule names."""
    params: Any = rule.params
    if rule.kind == "not_null":
        return [(params, where)]
    if rule.kind == "unique":
        return [(name, (*where, index)) for index, name in enumerate(params)]
    if rule.kind in ("accepted_values", "range", "regex", "referential"):
        return [(params.column, (*where, "column"))]
    if rule.kind == "freshness" and params.column:
        return [(params.column, (*where, "column"))]
    if rule.kind == "schema" and params.missing_column == "error":  # else drift only reports
        return [(name, (*where, "columns", name)) for name in params.columns]
    return []


def _check_expectations(
    table: "TablePlan", index: int, where: Path, columns: Columns, owner: str
) -> None:
    rule = table.spec.rules[index]
    for number, expectation in enumerate(table.expectations.get(index, [])):
        if expectation["type"] in _GE_DRIFT_TYPES:
            continue
        kwargs = expectation["kwargs"]
        named = [(key, kwargs[key]) for key in _GE_COLUMN_ARGS if isinstance(kwargs.get(key), str)]
        if isinstance(kwargs.get("column_list"), list):
            named += [(("column_list", i), name) for i, name in enumerate(kwargs["column_list"])]
        for key, name in named:
            if not columns.missing([name]):
                continue
            if rule.params.suite is None:
                keys = key if isinstance(key, tuple) else (key,)
                path, prefix = (*where, "expectations", number, "kwargs", *keys), ""
            else:
                path = (*where, "suite")
                prefix = f"expectation {number} ({expectation['type']}) of {rule.params.suite}: "
            raise ColumnProblem(path, prefix + unknown_column(name, columns, owner))
