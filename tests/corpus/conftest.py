"""The three SQL databases the corpus writes to, each read back as an external reader would.

`sql_db` runs a test once per database: a SQLite file under tmp_path, a fresh PostgreSQL
database and a fresh MariaDB database on the machine's servers (those two marked
`integration`). Reads go through each
database's own driver (sqlite3, psycopg2, PyMySQL) with plain SQL, not through the project.
"""

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pyarrow as pa
import pymysql
import pytest
import sqlalchemy as sa

from dataplat_dagster.assets.sql_output import SqlTarget, SqlWrite, write_sql_output
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.databases import DatabasesResource

OUTPUT = "corpus.output.report"  # the output the corpus writes as, into table `report`


@dataclass
class SqlDb:
    """One target database: its profile URL, the project's engine for it, and a plain reader."""

    kind: str
    url: str
    connect: Callable[[], Any]  # a DB-API connection of the database's own driver
    _engines: list[sa.Engine] = field(default_factory=list)

    def engine(self, name: str = "reporting") -> sa.Engine:
        """The engine the project's databases resource makes for this URL (one per test)."""
        if not self._engines:
            resource = DatabasesResource(connections={name: {"url": self.url}}, aws=AwsResource())
            self._engines.append(resource.engine(name))
        return self._engines[0]

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()

    def query(self, sql: str) -> list[tuple]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            connection.close()

    def execute(self, *statements: str) -> None:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()

    def has_table(self, table: str) -> bool:
        if self.kind == "sqlite":
            sql = f"select name from sqlite_master where type = 'table' and name = '{table}'"
        else:
            sql = f"select table_name from information_schema.tables where table_name = '{table}'"
            if self.kind == "mariadb":
                sql += " and table_schema = database()"
        return bool(self.query(sql))

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> type as the database itself reports it (lower case)."""
        if self.kind == "sqlite":
            rows = self.query(f"select name, type from pragma_table_info('{table}')")
        elif self.kind == "postgresql":
            rows = self.query(
                "select column_name, data_type from information_schema.columns "
                f"where table_name = '{table}' order by ordinal_position"
            )
        else:
            rows = self.query(
                "select column_name, column_type from information_schema.columns "
                f"where table_name = '{table}' and table_schema = database() "
                "order by ordinal_position"
            )
        return {name: kind.lower() for name, kind in rows}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.integration),
        pytest.param("mariadb", marks=pytest.mark.integration),
    ]
)
def sql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDb]:
    """Each test once per database kind; the project's pooled connections closed after."""
    database = make_sql_db(request.param, request, tmp_path)
    yield database
    database.dispose()


def make_sql_db(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> SqlDb:
    if kind == "sqlite":
        path = tmp_path / "reporting.db"
        return SqlDb(kind, f"sqlite:///{path}", lambda: sqlite3.connect(path))
    if kind == "postgresql":
        name = request.getfixturevalue("postgres_database")
        return SqlDb(
            kind,
            f"postgresql://postgres@127.0.0.1:5432/{name}",
            lambda: psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=name),
        )
    name = request.getfixturevalue("mariadb_database")
    return SqlDb(
        kind,
        f"mysql://root@127.0.0.1:3306/{name}",
        lambda: pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", database=name
        ),
    )


def write(
    db: SqlDb, data: pa.Table, windows: tuple[str, ...] = ("2024-01-01",), **declared: Any
) -> SqlWrite:
    """Write `data` as the output `corpus.output.report` into table `report`."""
    target = SqlTarget(OUTPUT, "reporting", "report", windows, **declared)
    return write_sql_output(db.engine(), target, data)


def plain(value: Any) -> Any:
    """A read-back value in one form for every driver (SQLite returns text for dates)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def rows(db: SqlDb, sql: str) -> list[tuple]:
    """The rows of a plain SQL query, values in `plain` form."""
    return [tuple(plain(v) for v in row) for row in db.query(sql)]
