"""The ClickHouse writer against chDB: types, window replacement, refusals, failures.

Every result is read back through a separate client of the same database, as a reader would.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dataplat_dagster.assets import clickhouse_output
from dataplat_dagster.assets.clickhouse_output import (
    ClickHouseOutputError,
    ClickHouseOutputUnavailable,
    ClickHouseTarget,
    write_clickhouse_output,
)
from dataplat_dagster.config.sql_columns import SqlColumn
from dataplat_dagster.resources.clickhouse import (
    ChdbClient,
    ClickHouseQueryError,
    ClickHouseUnavailable,
    connect,
)

W1, W2 = "2024-01-02", "2024-01-03"


def sales(window_rows: dict[str, list[int]]) -> pa.Table:
    """Rows (id, amount) per window, with their _partition."""
    ids, amounts, keys = [], [], []
    for window, values in window_rows.items():
        for number, amount in enumerate(values):
            ids.append(number)
            amounts.append(amount)
            keys.append(window)
    return pa.table({"id": ids, "amount": amounts, "_partition": keys})


def target(table: str = "sales", windows: tuple[str, ...] = (W1,), **kwargs) -> ClickHouseTarget:
    return ClickHouseTarget("shop.output.sales", "warehouse", table, windows, **kwargs)


def stored(reader: ChdbClient, table: str = "sales") -> list[tuple]:
    return reader.rows(
        f"SELECT _partition, id, amount FROM {reader.database}.{table} ORDER BY 1, 2"
    )


def tables(reader: ChdbClient) -> list[str]:
    return [name for (name,) in reader.rows(f"SHOW TABLES FROM {reader.database}")]


def test_windows_are_created_replaced_and_kept_apart(chdb_url: str, reader: ChdbClient) -> None:
    client = connect(chdb_url)
    written = write_clickhouse_output(
        client, target(windows=(W1, W2)), sales({W1: [10, 20], W2: [30]})
    )
    assert written.created and written.rows == 3
    assert written.rows_by_window == {W1: 2, W2: 1}
    assert stored(reader) == [(W1, 0, 10), (W1, 1, 20), (W2, 0, 30)]

    again = write_clickhouse_output(client, target(), sales({W1: [5]}))  # W1 re-run
    assert not again.created
    assert stored(reader) == [(W1, 0, 5), (W2, 0, 30)]

    write_clickhouse_output(client, target(windows=(W2,)), sales({W2: [1]}).slice(0, 0))  # W2 empty
    assert stored(reader) == [(W1, 0, 5)]
    assert tables(reader) == ["sales"]  # no staging table left


def test_the_table_is_a_mergetree_with_the_declared_ordering_key(
    chdb_url: str, reader: ChdbClient
) -> None:
    write_clickhouse_output(connect(chdb_url), target(order_by=("id",)), sales({W1: [1]}))
    ((ddl,),) = reader.rows(f"SHOW CREATE TABLE {reader.database}.sales")
    assert "ENGINE = MergeTree" in ddl
    assert "PARTITION BY _partition" in ddl
    assert "ORDER BY id" in ddl
    assert "`id` Int64," in ddl  # a key column is never Nullable
    assert "`amount` Nullable(Int64)" in ddl


def test_arrow_types_become_clickhouse_types(chdb_url: str, reader: ChdbClient) -> None:
    instant = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    data = pa.table(
        {
            "at": pa.array([instant], pa.timestamp("us", tz="UTC")),
            "wall": pa.array([instant.replace(tzinfo=None)], pa.timestamp("us")),
            "day": pa.array([dt.date(1900, 1, 1)], pa.date32()),
            "price": pa.array([Decimal("12.34")], pa.decimal128(12, 2)),
            "ok": [True],
            "small": pa.array([7], pa.int16()),
            "name": ["a"],
        }
    )
    written = write_clickhouse_output(connect(chdb_url), target("typed", windows=()), data)
    assert "ORDER BY tuple()" in written.ddl
    types = dict(
        reader.rows(
            "SELECT name, type FROM system.columns WHERE database = "
            f"'{reader.database}' AND table = 'typed'"
        )
    )
    assert types == {
        "at": "Nullable(DateTime64(6, 'UTC'))",
        "wall": "Nullable(DateTime64(6))",
        "day": "Nullable(Date32)",
        "price": "Nullable(Decimal(12, 2))",
        "ok": "Nullable(Bool)",
        "small": "Nullable(Int16)",
        "name": "Nullable(String)",
    }
    ((at, day, price),) = reader.rows(f"SELECT at, day, price FROM {reader.database}.typed")
    assert (at, day, price) == (instant, dt.date(1900, 1, 1), Decimal("12.34"))


def test_declared_columns_give_the_types_and_nullability(chdb_url: str, reader: ChdbClient) -> None:
    columns = {
        "id": SqlColumn(type="int64", nullable=False),
        "amount": SqlColumn(type="decimal(22,2)"),
    }
    write_clickhouse_output(connect(chdb_url), target(columns=columns), sales({W1: [3]}))
    types = dict(reader.rows(f"DESCRIBE TABLE {reader.database}.sales")[i][:2] for i in range(3))
    assert types == {"id": "Int64", "amount": "Nullable(Decimal(22, 2))", "_partition": "String"}


def test_an_unpartitioned_output_swaps_in_a_whole_new_table(
    chdb_url: str, reader: ChdbClient
) -> None:
    client = connect(chdb_url)
    data = pa.table({"id": [1, 2, 3]})
    write_clickhouse_output(client, target("dim", windows=()), data)
    write_clickhouse_output(client, target("dim", windows=()), data.slice(2))
    assert reader.rows(f"SELECT id FROM {reader.database}.dim") == [(3,)]
    assert tables(reader) == ["dim"]


def test_a_table_of_other_columns_is_refused_and_keeps_its_rows(
    chdb_url: str, reader: ChdbClient
) -> None:
    client = connect(chdb_url)
    write_clickhouse_output(client, target(), sales({W1: [1, 2]}))
    drifted = sales({W1: [7]}).append_column("note", pa.array(["new"]))
    with pytest.raises(ClickHouseOutputError) as refused:
        write_clickhouse_output(client, target(), drifted)
    message = str(refused.value)
    assert "writing shop.output.sales to ClickHouse table 'sales'" in message
    assert f"window {W1}" in message
    assert "column 'note': not in the table" in message
    assert stored(reader) == [(W1, 0, 1), (W1, 1, 2)]

    with pytest.raises(ClickHouseOutputError, match=r"ordering key: the table has \(_partition\)"):
        write_clickhouse_output(client, target(order_by=("id",)), sales({W1: [7]}))
    assert stored(reader) == [(W1, 0, 1), (W1, 1, 2)]


class FailingSecondInsert:
    """A real client whose second insert fails, as a connection lost mid-write would."""

    def __init__(self, client: ChdbClient) -> None:
        self.client, self.database, self.inserts = client, client.database, 0

    def describe(self) -> str:
        return self.client.describe()

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def rows(self, sql: str) -> list[tuple]:
        return self.client.rows(sql)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.inserts += 1
        if self.inserts == 2:
            raise ClickHouseUnavailable("connection reset by peer")
        self.client.insert_arrow(table, data)


def test_a_failure_mid_write_keeps_the_previous_rows(
    chdb_url: str, reader: ChdbClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = connect(chdb_url)
    write_clickhouse_output(client, target(windows=(W1, W2)), sales({W1: [1], W2: [2]}))
    monkeypatch.setattr(clickhouse_output, "INSERT_BATCH_ROWS", 1)  # one insert per row
    with pytest.raises(ClickHouseOutputUnavailable) as failed:
        write_clickhouse_output(
            FailingSecondInsert(client), target(windows=(W1, W2)), sales({W1: [8, 9], W2: [10]})
        )
    message = str(failed.value)
    assert f"windows {W1}..{W2} (2)" in message and "connection reset by peer" in message
    assert "the previous rows are as they were" in message
    assert stored(reader) == [(W1, 0, 1), (W2, 0, 2)]
    assert tables(reader) == ["sales"]

    whole = target("dim", windows=())  # unpartitioned: the old table stays
    write_clickhouse_output(client, whole, pa.table({"id": [1]}))
    with pytest.raises(ClickHouseOutputUnavailable):
        write_clickhouse_output(FailingSecondInsert(client), whole, pa.table({"id": [5, 6]}))
    assert reader.rows(f"SELECT id FROM {reader.database}.dim") == [(1,)]
    assert sorted(tables(reader)) == ["dim", "sales"]


class FailingSwapOf(FailingSecondInsert):
    """A real client that fails the swap of one window, as a server going away would."""

    def __init__(self, client: ChdbClient, window: str) -> None:
        super().__init__(client)
        self.window = window

    def command(self, sql: str) -> None:
        if f"REPLACE PARTITION '{self.window}'" in sql:
            raise ClickHouseUnavailable("connection reset by peer")
        self.client.command(sql)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.client.insert_arrow(table, data)


def test_a_failed_swap_names_the_windows_already_replaced(
    chdb_url: str, reader: ChdbClient
) -> None:
    client = connect(chdb_url)
    write_clickhouse_output(client, target(windows=(W1, W2)), sales({W1: [1], W2: [2]}))
    with pytest.raises(ClickHouseOutputUnavailable) as failed:
        write_clickhouse_output(
            FailingSwapOf(client, W2), target(windows=(W1, W2)), sales({W1: [8], W2: [9]})
        )
    message = str(failed.value)
    assert f"windows {W1} already hold their new rows, {W2} their previous ones" in message
    assert stored(reader) == [(W1, 0, 8), (W2, 0, 2)]
    assert tables(reader) == ["sales"]


def test_a_first_write_that_fails_leaves_no_table(
    chdb_url: str, reader: ChdbClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clickhouse_output, "INSERT_BATCH_ROWS", 1)
    with pytest.raises(ClickHouseOutputUnavailable):
        write_clickhouse_output(
            FailingSecondInsert(connect(chdb_url)), target(), sales({W1: [1, 2]})
        )
    assert tables(reader) == []


def test_bad_data_is_refused_before_clickhouse_is_touched(
    chdb_url: str, reader: ChdbClient
) -> None:
    client = connect(chdb_url)
    with pytest.raises(ClickHouseOutputError, match="ordering key, which holds no nulls"):
        write_clickhouse_output(
            client,
            target(order_by=("amount",)),
            sales({W1: [1]}).set_column(1, "amount", pa.array([None], pa.int64())),
        )
    with pytest.raises(ClickHouseOutputError, match="no ClickHouse column type for time64"):
        write_clickhouse_output(
            client, target("times", windows=()), pa.table({"t": pa.array([1], pa.time64("us"))})
        )
    assert tables(reader) == []


def test_a_query_error_is_a_clear_error(chdb_url: str) -> None:
    with pytest.raises(ClickHouseQueryError, match=r"UNKNOWN_TABLE|does not exist"):
        connect(chdb_url).rows("SELECT * FROM no_such_table")


def test_a_second_chdb_folder_in_one_process_is_refused(tmp_path: Path, chdb_url: str) -> None:
    with pytest.raises(ClickHouseUnavailable, match=r"already has the folder .* open"):
        connect(f"chdb://{tmp_path}/other")
