"""Compare a database's tables with the contracts: every difference is one Drift."""

from dataclasses import asdict, dataclass

import sqlalchemy as sa

from dataplat_dagster.config.models import PARTITION_COLUMN
from dataplat_dagster.sql_types import TypeSignature, sql_signature

DRIFT_KINDS = ("missing_table", "missing_column", "extra_column", "type", "nullability")


@dataclass(frozen=True)
class Drift:
    """One difference between a contract and a target's table."""

    target: str
    table: str
    kind: str  # one of DRIFT_KINDS
    column: str | None = None
    expected: str | None = None
    found: str | None = None

    def __str__(self) -> str:
        where = f"{self.target}: {self.table}" + (f".{self.column}" if self.column else "")
        text = {
            "missing_table": "table missing",
            "missing_column": f"column missing (expected {self.expected})",
            "extra_column": f"column not in the contract (found {self.found})",
            "type": f"type: expected {self.expected}, found {self.found}",
            "nullability": f"nullability: expected {self.expected}, found {self.found}",
        }[self.kind]
        return f"{where}: {text}"

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def table_drift(target: str, expected: sa.Table, inspector: sa.Inspector) -> list[Drift]:
    """Every difference between the contract table `expected` and the target's table."""
    name = expected.name
    if not inspector.has_table(name, schema=expected.schema):
        return [Drift(target, name, "missing_table")]
    dialect = inspector.dialect.name
    found = {c["name"]: c for c in inspector.get_columns(name, schema=expected.schema)}
    drifts: list[Drift] = []
    for column in expected.columns:
        reflected = found.get(column.name)
        wanted = _signature(column.type, inspector.dialect)
        if reflected is None:
            drifts.append(Drift(target, name, "missing_column", column.name, expected=str(wanted)))
            continue
        have = sql_signature(reflected["type"], dialect)
        if not same_type(wanted, have, dialect):
            drifts.append(Drift(target, name, "type", column.name, str(wanted), str(have)))
        if bool(column.nullable) != bool(reflected["nullable"]):
            drifts.append(
                Drift(
                    target,
                    name,
                    "nullability",
                    column.name,
                    _nullable(column.nullable),
                    _nullable(reflected["nullable"]),
                )
            )
    # a SQL output adds its window column itself: not a column of any contract
    for extra in sorted(found.keys() - set(expected.columns.keys()) - {PARTITION_COLUMN}):
        have = sql_signature(found[extra]["type"], dialect)
        drifts.append(Drift(target, name, "extra_column", extra, found=str(have)))
    return drifts


def same_type(wanted: TypeSignature, have: TypeSignature, dialect: str) -> bool:
    """Whether the database's type is the contract's, however the dialect spells it."""
    if wanted.family != have.family:
        return False
    if wanted.family in ("integer", "decimal"):
        return (wanted.size, wanted.scale) == (have.size, have.scale)
    if wanted.family == "timestamp" and dialect == "postgresql":
        # only PostgreSQL keeps the zone apart; elsewhere every timestamp is one type
        return wanted.timezone == have.timezone
    return True


def _signature(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> TypeSignature:
    """The contract type as this dialect creates it (SQLModel's AutoString is VARCHAR(255) on MySQL)."""
    if isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.load_dialect_impl(dialect)
    return sql_signature(column_type.dialect_impl(dialect), dialect.name)


def _nullable(value: object) -> str:
    return "nullable" if value else "not null"
