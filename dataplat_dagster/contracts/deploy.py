"""Create or check every contract table on a target.

Deploy creates missing tables and adds missing columns through Alembic's operations (the
additive changes); it never drops or retypes a column: those stay drift that `validate`
reports. Running it again changes nothing.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from dataplat_dagster.contracts.drift import Drift, table_drift


@dataclass
class TargetReport:
    target: str
    created: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # table.column
    drift: list[Drift] = field(default_factory=list)  # left after deploying, or found by validate
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "created": self.created,
            "added_columns": self.added,
            "drift": [d.as_dict() for d in self.drift],
            "error": self.error,
        }


def validate(target: str, engine: sa.Engine, tables: list[sa.Table]) -> TargetReport:
    report = TargetReport(target)
    inspector = sa.inspect(engine)
    for table in tables:
        report.drift += table_drift(target, table, inspector)
    return report


def deploy(
    target: str, engine: sa.Engine, tables: list[sa.Table], dry_run: bool = False
) -> TargetReport:
    """Create missing tables, add missing columns; `drift` holds what deploy does not change."""
    report = TargetReport(target)
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        operations = Operations(MigrationContext.configure(connection))
        for table in tables:
            for drift in table_drift(target, table, inspector):
                if drift.kind == "missing_table":
                    if not dry_run:
                        table.create(connection)
                    report.created.append(table.name)
                elif drift.kind == "missing_column":
                    column = table.columns[drift.column]
                    if not dry_run:
                        added = sa.Column(column.name, column.type, nullable=column.nullable)
                        operations.add_column(table.name, added, schema=table.schema)
                    report.added.append(f"{table.name}.{drift.column}")
                else:
                    report.drift.append(drift)
    return report
