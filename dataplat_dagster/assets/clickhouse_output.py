"""ClickHouse output tables: MergeTree tables whose windows are replaced whole.

A missing table is created from the output's columns (declared or a contract, else the
frame's Arrow schema) as `ENGINE = MergeTree`, `PARTITION BY _partition` when the output is
partitioned, `ORDER BY` the declared `order_by` (default: `_partition`, or `tuple()`).
An existing table must have exactly the output's columns and types and the same ordering
key; otherwise the write is refused, naming the column.

How a run replaces rows without ever showing a half-written window:
- partitioned: the rows go into a staging table shaped like the target, then each window is
  swapped in by `ALTER TABLE ... REPLACE PARTITION ... FROM staging` (atomic per window; a
  window without rows is emptied the same way). A failure while staging leaves the target
  untouched.
- unpartitioned: a new table is filled, then `EXCHANGE TABLES` swaps it with the target
  (atomic) and the old one is dropped.
The staging table is dropped in every case.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from dataplat_dagster.assets.clickhouse_columns import columns_and_values
from dataplat_dagster.assets.sql_rows import SqlOutputError, window_scope
from dataplat_dagster.config.models import OutputTable
from dataplat_dagster.config.plan import TablePlan
from dataplat_dagster.config.sql_columns import SqlColumn
from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.resources.clickhouse import (
    ClickHouseClient,
    ClickHouseQueryError,
    ClickHouseUnavailable,
    connect,
    literal,
    quoted,
)
from dataplat_dagster.resources.databases import DatabasesResource

INSERT_BATCH_ROWS = 500_000  # rows per INSERT into the staging table: bounded memory


class ClickHouseOutputError(ValueError):
    """A refused ClickHouse write (bad data, a table unlike the output, a query error)."""


class ClickHouseOutputUnavailable(ConnectionError):
    """ClickHouse could not be reached; retried like any I/O error."""


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where one run of a ClickHouse output writes, and the output's declarations."""

    output: str  # the output's id, for messages
    database: str  # connection name in the databases resource
    table: str
    windows: tuple[str, ...] = ()  # the run's windows; empty when unpartitioned
    columns: Mapping[str, SqlColumn] = field(default_factory=dict)
    order_by: tuple[str, ...] = ()

    def describe(self, address: str) -> str:
        return (
            f"writing {self.output} to ClickHouse table {self.table!r} of connection "
            f"{self.database!r} ({address}), {window_scope(self.windows)}"
        )


@dataclass(frozen=True)
class ClickHouseWrite:
    """What a write did."""

    location: str  # connection address # table
    rows: int
    rows_by_window: dict[str, int]
    created: bool
    ddl: str  # the table's CREATE statement, as ClickHouse shows it


def write_clickhouse_output(
    client: ClickHouseClient, target: ClickHouseTarget, data: pa.Table
) -> ClickHouseWrite:
    """Replace the run's windows (or every row) of the target table with `data`.

    Raises:
        ClickHouseOutputError: bad data, an existing table unlike the output, or a statement
            ClickHouse refused; the windows' previous rows are as they were.
        ClickHouseOutputUnavailable: the connection broke; the previous rows are as they were.
    """
    where = target.describe(client.describe())
    try:
        columns, values = columns_and_values(data, target.columns, target.windows, target.order_by)
    except SqlOutputError as exc:
        raise ClickHouseOutputError(f"{where}: {exc}; nothing was written") from None
    swapped: list[str] = []  # windows already holding their new rows
    try:
        created = _prepare_table(client, target, columns, where)
        try:
            if target.windows:
                _replace_windows(client, target, values, swapped)
            else:
                _replace_table(client, target, values)
        except Exception:
            if created:  # a first write that failed leaves no table behind
                _drop_quietly(client, target.table)
                swapped.clear()
            raise
        ddl = client.rows(f"SHOW CREATE TABLE {_name(client, target.table)}")[0][0]
    except ClickHouseUnavailable as exc:
        raise ClickHouseOutputUnavailable(
            f"{where}: ClickHouse failed ({exc}); {_state(target, swapped)}"
        ) from exc
    except ClickHouseQueryError as exc:
        raise ClickHouseOutputError(
            f"{where}: ClickHouse refused the write ({exc}); {_state(target, swapped)}"
        ) from exc
    return ClickHouseWrite(
        location=f"{client.describe()}#{target.table}",
        rows=values.num_rows,
        rows_by_window=_counts(values, target.windows),
        created=created,
        ddl=ddl,
    )


def _state(target: ClickHouseTarget, swapped: list[str]) -> str:
    """What the table holds after a failed write."""
    if not swapped:
        return "the previous rows are as they were"
    rest = [window for window in target.windows if window not in swapped]
    return (
        f"windows {', '.join(swapped)} already hold their new rows, {', '.join(rest)} "
        "their previous ones (each window is swapped whole): re-run the range"
    )


def _counts(values: pa.Table, windows: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(windows, 0)
    if windows and values.num_rows:
        for entry in pc.value_counts(values[PARTITION]).to_pylist():
            counts[entry["values"]] = entry["counts"]
    return counts


# -- the table -------------------------------------------------------------------------------------


def _name(client: ClickHouseClient, table: str) -> str:
    return f"{quoted(client.database)}.{quoted(table)}"


def _order_key(target: ClickHouseTarget) -> str:
    keys = target.order_by or ((PARTITION,) if target.windows else ())
    return f"({', '.join(map(quoted, keys))})" if keys else "tuple()"


def _prepare_table(
    client: ClickHouseClient, target: ClickHouseTarget, columns: dict[str, str], where: str
) -> bool:
    """Create the table, or check that it matches the output; True when created."""
    existing = client.rows(
        "SELECT name, type FROM system.columns WHERE database = "
        f"{literal(client.database)} AND table = {literal(target.table)} ORDER BY position"
    )
    if not existing:
        listed = ",\n".join(f"  {quoted(name)} {kind}" for name, kind in columns.items())
        partition = f" PARTITION BY {quoted(PARTITION)}" if target.windows else ""
        client.command(
            f"CREATE TABLE {_name(client, target.table)} (\n{listed}\n) ENGINE = MergeTree"
            f"{partition} ORDER BY {_order_key(target)}"
        )
        return True
    problems = _differences(dict(existing), columns)
    (engine, sorting_key, partition_key), *_ = client.rows(
        "SELECT engine, sorting_key, partition_key FROM system.tables WHERE database = "
        f"{literal(client.database)} AND name = {literal(target.table)}"
    )
    wanted_key = ", ".join(target.order_by or ((PARTITION,) if target.windows else ()))
    if sorting_key != wanted_key:
        problems.append(f"ordering key: the table has ({sorting_key}), the output ({wanted_key})")
    wanted_partition = PARTITION if target.windows else ""
    if partition_key != wanted_partition:
        problems.append(
            f"partition key: the table has ({partition_key}), the output ({wanted_partition})"
        )
    if not engine.endswith("MergeTree"):
        problems.append(f"engine: the table is {engine}, the output writes a MergeTree")
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ClickHouseOutputError(
            f"{where}: the existing table does not match the output; nothing was written, the "
            f"table's rows are as they were:\n{listed}\n"
            "drop or rename the table so that the output creates it, or change the output"
        )
    return False


def _differences(existing: dict[str, str], columns: dict[str, str]) -> list[str]:
    problems = []
    for name, kind in columns.items():
        present = existing.pop(name, None)
        if present is None:
            problems.append(f"column {name!r}: not in the table")
        elif present != kind:
            problems.append(f"column {name!r}: the table has {present}, the output writes {kind}")
    problems.extend(
        f"column {name!r}: in the table, not written by the output" for name in existing
    )
    return problems


def _insert(client: ClickHouseClient, table: str, values: pa.Table) -> None:
    for batch in values.to_batches(max_chunksize=INSERT_BATCH_ROWS):
        if batch.num_rows:
            client.insert_arrow(table, pa.Table.from_batches([batch]))


def _replace_windows(
    client: ClickHouseClient, target: ClickHouseTarget, values: pa.Table, swapped: list[str]
) -> None:
    staging = f"{target.table}__staging_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {_name(client, staging)} AS {_name(client, target.table)}")
    try:
        _insert(client, staging, values)
        for window in target.windows:  # each swap is atomic; an empty window is emptied
            client.command(
                f"ALTER TABLE {_name(client, target.table)} REPLACE PARTITION "
                f"{literal(window)} FROM {_name(client, staging)}"
            )
            swapped.append(window)
    finally:
        _drop_quietly(client, staging)


def _replace_table(client: ClickHouseClient, target: ClickHouseTarget, values: pa.Table) -> None:
    fresh = f"{target.table}__staging_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {_name(client, fresh)} AS {_name(client, target.table)}")
    try:
        _insert(client, fresh, values)
        client.command(f"EXCHANGE TABLES {_name(client, target.table)} AND {_name(client, fresh)}")
    finally:
        _drop_quietly(client, fresh)  # after the exchange, the previous rows


def _drop_quietly(client: ClickHouseClient, table: str) -> None:
    try:
        client.command(f"DROP TABLE IF EXISTS {_name(client, table)}")
    except (ClickHouseQueryError, ClickHouseUnavailable):
        pass  # the write's own error is the one to report


def write_to_clickhouse(
    databases: DatabasesResource, plan: TablePlan, data: pa.Table, keys: list[str | None]
) -> ClickHouseWrite:
    """Replace this run's windows of the output's ClickHouse table with `data`."""
    spec: OutputTable = plan.spec
    assert spec.database and spec.table
    target = ClickHouseTarget(
        output=str(plan.id),
        database=spec.database,
        table=spec.table,
        windows=tuple(key for key in keys if key is not None),
        columns=spec.columns,
        order_by=tuple(spec.order_by),
    )
    try:
        connection = databases.connection(spec.database)
    except KeyError as exc:
        raise ClickHouseOutputError(f"{target.describe('?')}: {exc.args[0]}") from exc
    password = databases.aws.secret(connection.password) if connection.password else None
    try:
        client = connect(connection.url, password)
    except ClickHouseUnavailable as exc:
        raise ClickHouseOutputUnavailable(
            f"{target.describe(_no_password(connection.url))}: ClickHouse failed ({exc}); "
            "nothing was written"
        ) from exc
    except ValueError as exc:
        raise ClickHouseOutputError(f"{target.describe(connection.url)}: {exc}") from exc
    return write_clickhouse_output(client, target, data)


def _no_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@")
