"""The contract tables of a project: every table whose declaration names a contract."""

from dataclasses import dataclass

import sqlalchemy as sa

from dataplat_dagster.assets.sql_rows import WINDOW_KEY_LENGTH
from dataplat_dagster.config.models import PARTITION_COLUMN, OutputTable
from dataplat_dagster.config.plan import Plan, TablePlan
from dataplat_dagster.contracts.declaration import ContractError, contract_table, load_contract


@dataclass(frozen=True)
class ContractTable:
    table: sa.Table
    contract: str  # the dotted path
    declared_by: list[str]  # the tables that name it, <dataflow>.<layer>.<table>


def contract_tables(plan: Plan) -> list[ContractTable]:
    """One entry per SQL table name, in declaration order.

    Raises:
        ContractError: two different classes claim one table name.
    """
    found: dict[str, ContractTable] = {}
    for table_plan in plan:
        dotted = getattr(table_plan.spec, "contract", None)
        if dotted is None:
            continue
        model = load_contract(dotted)  # imported once already, by the plan
        table = contract_table(model)
        known = found.get(table.name)
        if known is None:
            found[table.name] = ContractTable(
                _as_written(table, table_plan), dotted, [str(table_plan.id)]
            )
        elif known.contract == dotted:
            known.declared_by.append(str(table_plan.id))
        else:
            raise ContractError(
                f"table {table.name} has two contracts: {known.contract} "
                f"({', '.join(known.declared_by)}) and {dotted} ({table_plan.id})"
            )
    return list(found.values())


def _as_written(table: sa.Table, plan: TablePlan) -> sa.Table:
    """The table a partitioned SQL output writes: the contract's columns and the window key."""
    if not (isinstance(plan.spec, OutputTable) and plan.partitioned):
        return table
    copy = table.to_metadata(sa.MetaData())
    # as assets/sql_rows.py creates it: the output deletes and rewrites its windows by it
    copy.append_column(
        sa.Column(PARTITION_COLUMN, sa.String(WINDOW_KEY_LENGTH), nullable=False, index=True)
    )
    return copy
