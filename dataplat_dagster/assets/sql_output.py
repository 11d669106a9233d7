"""SQL output tables: real SQL types, one transaction, and no appending into a foreign table.

A missing table is created from the output's columns (declared, else inferred from the rows)
with a `_partition` column when the output is partitioned. An existing table is compared
column by column (dialect spellings normalised, see `sql_types`); a difference refuses the
write, unless the output declares `on_schema_change: add_columns`, which adds the missing
columns (nullable) and never drops or retypes one. The delete of the run's windows and the
inserts are one transaction, so a failed write leaves the table as it was.

PostgreSQL and SQLite create the table inside that transaction. MySQL and MariaDB commit
every DDL statement at once, so there the table is created first and dropped again if the
write then fails.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa

from dataplat_dagster.assets.sql_rows import (
    SqlOutputError,
    TableLayout,
    table_layout,
    window_scope,
)
from dataplat_dagster.config.sql_columns import SchemaChange, SqlColumn
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.sql_types import accepts, sql_signature

INSERT_BATCH_ROWS = 10_000  # rows bound per executemany: bounded memory, few round trips
_DDL_COMMITS = ("mysql", "mariadb")


class SqlDatabaseUnavailable(ConnectionError):
    """The database could not be reached, or the connection broke; retried like any I/O error."""


@dataclass(frozen=True)
class SqlTarget:
    """Where one run of a SQL output writes, and the output's declarations."""

    output: str  # the output's id, for messages
    database: str  # connection name in the databases resource
    table: str
    windows: tuple[str, ...] = ()  # the run's windows; empty when unpartitioned
    columns: Mapping[str, SqlColumn] = field(default_factory=dict)
    on_schema_change: SchemaChange = "fail"

    def describe(self, engine: sa.Engine) -> str:
        url = engine.url.render_as_string(hide_password=True)
        return (
            f"writing {self.output} to table {self.table!r} of database "
            f"{self.database!r} ({url}), {window_scope(self.windows)}"
        )


@dataclass(frozen=True)
class SqlWrite:
    """What a write did."""

    location: str  # database URL (no password) # table
    rows: int
    created: bool
    added_columns: tuple[str, ...]


def write_sql_output(engine: sa.Engine, target: SqlTarget, data: pa.Table) -> SqlWrite:
    """Replace the run's windows (or every row) of the target table with `data`.

    Raises:
        SqlOutputError: bad data, or an existing table unlike the output; nothing written.
        SqlDatabaseUnavailable: the database is unreachable or the connection broke; the
            transaction was rolled back.
    """
    where = target.describe(engine)
    try:
        layout = table_layout(data, target.columns, target.windows, engine.dialect.name)
    except SqlOutputError as exc:
        raise SqlOutputError(f"{where}: {exc}; nothing was written") from None
    table = sa.Table(target.table, sa.MetaData(), *layout.columns, mysql_charset="utf8mb4")
    with _database_errors(where), engine.connect() as connection:
        if connection.dialect.name in _DDL_COMMITS:
            with connection.begin():
                created, added = _prepare_table(connection, table, target, layout, where)
            try:
                with connection.begin():
                    _replace_rows(connection, table, target, layout.values)
            except Exception:
                if created:  # the write failed: leave no empty table behind
                    _drop_quietly(engine, table)
                raise
        else:
            with connection.begin():
                created, added = _prepare_table(connection, table, target, layout, where)
                _replace_rows(connection, table, target, layout.values)
    location = f"{engine.url.render_as_string(hide_password=True)}#{target.table}"
    return SqlWrite(location, layout.values.num_rows, created, added)


@contextmanager
def _database_errors(where: str) -> Iterator[None]:
    """Driver errors as errors naming the output, database, table and windows."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
            exc.connection_invalidated
        ):
            raise SqlDatabaseUnavailable(
                f"{where}: the database failed ({reason}); nothing was written"
            ) from exc
        raise SqlOutputError(
            f"{where}: the database refused the rows ({reason}); the transaction was rolled "
            "back, the table is as it was"
        ) from exc


def _prepare_table(
    connection: sa.Connection,
    table: sa.Table,
    target: SqlTarget,
    layout: TableLayout,
    where: str,
) -> tuple[bool, tuple[str, ...]]:
    """Create the table, or check it (adding columns if declared); (created, added)."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(target.table):
        if layout.untyped:
            raise SqlOutputError(
                f"{where}: cannot create the table: every value of "
                f"{', '.join(map(repr, layout.untyped))} is null, so its type is unknown; "
                "declare it under the output's `columns`"
            )
        table.create(connection)
        return True, ()
    existing = inspector.get_columns(target.table)
    missing = _compare(connection, table, existing, target, layout, where)
    # imported here: alembic costs 0.2-0.3 s at every code location load, used by SQL outputs only
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    operations = Operations(MigrationContext.configure(connection))
    for column in missing:
        operations.add_column(target.table, sa.Column(column.name, column.type, nullable=True))
    return False, tuple(column.name for column in missing)


def _compare(
    connection: sa.Connection,
    table: sa.Table,
    existing: list[dict],
    target: SqlTarget,
    layout: TableLayout,
    where: str,
) -> list[sa.Column]:
    """The output's columns the table lacks (to add), or SqlOutputError listing differences."""
    dialect = connection.dialect
    fold = str.lower if dialect.name in (*_DDL_COMMITS, "sqlite") else str
    found = {fold(column["name"]): column for column in existing}
    adding = target.on_schema_change == "add_columns"
    problems, missing = [], []
    for column in table.columns:
        present = found.pop(fold(column.name), None)
        if present is None:
            missing.append(column)
            if not adding or column.name == PARTITION:
                problems.append(f"column {column.name!r}: not in the table")
            continue
        signature = sql_signature(present["type"], dialect.name)
        if not accepts(signature, layout.signatures[column.name], dialect.name):
            problems.append(
                f"column {column.name!r}: the table has {_spelled(present['type'], dialect)}, "
                f"the output writes {_spelled(column.type, dialect)}"
            )
    problems.extend(
        f"column {column['name']!r}: in the table, not written by the output"
        for column in found.values()
        if not adding or not (column["nullable"] or column.get("default") is not None)
    )
    if problems:
        raise SqlOutputError(_refusal(where, problems, adding))
    return missing


def _refusal(where: str, problems: list[str], adding: bool) -> str:
    hint = (
        "add_columns adds missing columns only: drop or rename the table, or change the output"
        if adding
        else "drop or rename the table so that the output creates it, change the output, or "
        "declare on_schema_change: add_columns to add the missing columns"
    )
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"{where}: the existing table does not match the output; nothing was written, "
        f"the table's rows are as they were:\n{listed}\n{hint}"
    )


def _replace_rows(
    connection: sa.Connection, table: sa.Table, target: SqlTarget, values: pa.Table
) -> None:
    if target.windows:
        connection.execute(sa.delete(table).where(table.c[PARTITION].in_(target.windows)))
    else:
        connection.execute(sa.delete(table))
    for batch in values.to_batches(max_chunksize=INSERT_BATCH_ROWS):
        if batch.num_rows:
            connection.execute(table.insert(), batch.to_pylist())


def _drop_quietly(engine: sa.Engine, table: sa.Table) -> None:
    """Drop a table this write created, on a new connection (the write's may be broken)."""
    try:
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
    except sa.exc.SQLAlchemyError:
        pass  # the write's own error is the one to report; the connection may be gone


def _spelled(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return column_type.compile(dialect=dialect)
    except sa.exc.CompileError:
        return str(column_type)
