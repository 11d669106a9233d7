"""SQL outputs when the database fails: unreachable, or the write breaking half way.

Covers, on SQLite, PostgreSQL and MariaDB: an unreachable database gives a transient error
naming the output, database, table and window; a write whose connection breaks during the
inserts leaves the previous rows of the window as they were, and a table it was creating is
not left behind (PostgreSQL and SQLite roll the CREATE back, MariaDB drops it again).

The breaks are real: PostgreSQL's backend is terminated (pg_terminate_backend) and MariaDB's
connection killed (KILL CONNECTION) from a second connection as the first INSERT starts.
SQLite has no server connection to break; there the database fills up instead
(PRAGMA max_page_count), which SQLite reports as a failed write like any other.
"""

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from dataplat_dagster.assets.sql_output import SqlDatabaseUnavailable
from dataplat_dagster.errors import is_transient
from tests.conftest import free_port
from tests.corpus.conftest import OUTPUT, SqlDb, rows, write

DAY1, DAY2 = "2024-01-01", "2024-01-02"


def break_first_insert(db: SqlDb) -> list[str]:
    """Make the database fail the next INSERT of the project's engine; returns what it did."""
    broken: list[str] = []

    @sa.event.listens_for(db.engine(), "before_cursor_execute")
    def _break(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if broken or not statement.lstrip().upper().startswith("INSERT"):
            return
        if db.kind == "postgresql":
            pid = cursor.connection.get_backend_pid()
            broken.extend(str(v) for (v,) in db.query(f"select pg_terminate_backend({pid}, 5000)"))
        elif db.kind == "mariadb":
            db.execute(f"kill connection {cursor.connection.thread_id()}")
            broken.append("killed")
        else:  # the file may not grow any more: the inserts fill it
            cursor.connection.execute("pragma max_page_count = 1")
            broken.append("full")

    return broken


def many_rows(count: int = 5_000) -> pa.Table:
    """Enough rows to need new pages (SQLite) and several insert batches."""
    return pa.table(
        {"region": [f"region {n} " + "x" * 200 for n in range(count)], "units": [1] * count}
    )


def test_an_unreachable_database_is_a_transient_error_naming_everything(
    sql_db: SqlDb, tmp_path: Path
) -> None:
    unreachable = {
        "sqlite": f"sqlite:///{tmp_path}",  # a folder, not a database file
        "postgresql": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        "mariadb": f"mysql://root@127.0.0.1:{free_port()}/nowhere",
    }[sql_db.kind]
    closed = SqlDb(sql_db.kind, unreachable, sql_db.connect)
    with pytest.raises(SqlDatabaseUnavailable) as failed:
        write(closed, pa.table({"units": [1]}), (DAY2,))
    closed.dispose()
    message = str(failed.value)
    for part in (OUTPUT, "'report'", "'reporting'", f"window {DAY2}", "nothing was written"):
        assert part in message
    assert is_transient(failed.value)  # the table's retry policy tries again


def test_a_write_broken_half_way_leaves_the_previous_rows(sql_db: SqlDb) -> None:
    write(sql_db, pa.table({"region": ["north", "south"], "units": [1, 2]}), (DAY1,))
    write(sql_db, pa.table({"region": ["east"], "units": [3]}), (DAY2,))
    broken = break_first_insert(sql_db)
    with pytest.raises(SqlDatabaseUnavailable, match=f"window {DAY1}") as failed:
        write(sql_db, many_rows(), (DAY1,))
    assert broken, "the database was not broken: the test proves nothing"
    assert "'report'" in str(failed.value)
    assert rows(sql_db, "select _partition, region, units from report order by 1, 2") == [
        (DAY1, "north", 1),
        (DAY1, "south", 2),
        (DAY2, "east", 3),
    ]
    write(sql_db, pa.table({"region": ["west"], "units": [4]}), (DAY1,))  # works again
    assert rows(sql_db, "select count(*) from report") == [(2,)]


def test_a_table_created_by_a_broken_write_is_not_left_behind(sql_db: SqlDb) -> None:
    broken = break_first_insert(sql_db)
    with pytest.raises(SqlDatabaseUnavailable):
        write(sql_db, many_rows(), (DAY1,))
    assert broken
    assert not sql_db.has_table("report")
