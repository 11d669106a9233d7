"""Create or check every contract table on a target.

Deploy creates missing tables and adds missing columns through Alembic's operations (the
additive changes); it never drops or retypes a column: those stay drift that `validate`
reports. Running it again changes nothing.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from alembic.script import ScriptDirectory

from dataplat_dagster.contracts.drift import Drift, table_drift
from dataplat_dagster.contracts.revisions import pending, upgrade


@dataclass
class TargetReport:
    target: str
    revisions: list[str] = field(default_factory=list)  # applied (or pending, in a dry run)
    created: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # table.column
    drift: list[Drift] = field(default_factory=list)  # left after deploying, or found by validate
    error: str | None = None
    upgrade: str = ""  # the changes as the body of an Alembic revision's upgrade()

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "revisions": self.revisions,
            "created": self.created,
            "added_columns": self.added,
            "drift": [d.as_dict() for d in self.drift],
            "error": self.error,
            "alembic_upgrade": self.upgrade,
        }


def validate(target: str, engine: sa.Engine, tables: list[sa.Table]) -> TargetReport:
    report = TargetReport(target)
    inspector = sa.inspect(engine)
    for table in tables:
        report.drift += table_drift(target, table, inspector)
    return report


def deploy(
    target: str,
    engine: sa.Engine,
    tables: list[sa.Table],
    dry_run: bool = False,
    script: ScriptDirectory | None = None,
) -> TargetReport:
    """Apply the project's revisions, then create missing tables and add missing columns.

    `drift` holds what deploy does not change (extra columns, other types or nullability).
    """
    report = TargetReport(target)
    changes: list[ops.MigrateOperation] = []
    with engine.begin() as connection:
        if script is not None:
            report.revisions = (pending if dry_run else upgrade)(connection, script)
        inspector = sa.inspect(connection)
        operations = Operations(MigrationContext.configure(connection))
        for table in tables:
            for drift in table_drift(target, table, inspector):
                if drift.kind == "missing_table":
                    if not dry_run:
                        table.create(connection)
                    report.created.append(table.name)
                    changes.append(ops.CreateTableOp.from_table(table))
                    changes += [ops.CreateIndexOp.from_index(index) for index in table.indexes]
                elif drift.kind == "missing_column":
                    column = table.columns[drift.column]
                    if not dry_run:
                        operations.add_column(table.name, _loose(column), schema=table.schema)
                    report.added.append(f"{table.name}.{drift.column}")
                    changes.append(ops.AddColumnOp(table.name, _loose(column), schema=table.schema))
                else:
                    report.drift.append(drift)
    if changes:
        report.upgrade = render_python_code(ops.UpgradeOps(changes))
    return report


def _loose(column: sa.Column) -> sa.Column:
    """A copy not bound to the contract's table (Alembic binds it to a table of its own)."""
    return sa.Column(column.name, column.type, nullable=column.nullable)
