"""The table catalogue: every table with its schema, location and partitions.

`CatalogResource` is the interface; `LocalCatalog` keeps it in a SQLite file (SQLModel),
`GlueCatalog` in the AWS Glue Data Catalog. Both answer the same questions, so the UI,
the CLI and the tests read either one the same way.
"""

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field as ConfigField
from pydantic import PrivateAttr
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DatabaseError, OperationalError

from dataplat_dagster.failure_summary import sqlite_file_problem
from dataplat_dagster.types import hive_type

LOGGER = logging.getLogger(__name__)
LOCK_WAIT_SECONDS = 60  # how long a write waits for another process's lock on catalog.db


@dataclass(frozen=True)
class CatalogTable:
    database: str
    name: str
    columns: list[tuple[str, str]]
    location: str
    partition_keys: list[str]
    description: str


def catalog_names(key_path: list[str]) -> tuple[str, str]:
    """`[layer, dataflow, table]` -> (database, table): one database per layer."""
    layer, dataflow, table = key_path
    return layer, f"{dataflow}__{table}"


def hive_columns(schema: pa.Schema, exclude: set[str] = frozenset()) -> list[tuple[str, str]]:
    return [(field.name, hive_type(field.type)) for field in schema if field.name not in exclude]


class CatalogResource(dg.ConfigurableResource, ABC):
    """Where tables are registered for people and query engines to find them."""

    database_prefix: str = "dataplat"

    def database_name(self, layer: str) -> str:
        return f"{self.database_prefix}_{layer}"

    def names(self, key_path: list[str]) -> tuple[str, str]:
        """`[layer, dataflow, table]` -> (database, table) as registered."""
        layer, table = catalog_names(key_path)
        return self.database_name(layer), table

    @abstractmethod
    def register_table(
        self,
        *,
        key_path: list[str],
        schema: pa.Schema,
        location: str,
        partition_key: str | None,
        description: str,
    ) -> None:
        """Create the table or update its columns and location (idempotent)."""

    @abstractmethod
    def register_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        """Add or update `(partition value, location)` pairs (idempotent)."""

    @abstractmethod
    def withhold_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        """Windows whose quality gate closed: not served to external readers (idempotent)."""

    @abstractmethod
    def get_table(self, *, key_path: list[str]) -> CatalogTable | None: ...

    @abstractmethod
    def list_partitions(self, *, key_path: list[str]) -> list[str]:
        """The windows served to readers (withheld ones are not)."""

    @abstractmethod
    def partition_locations(self, *, key_path: list[str]) -> dict[str, str]:
        """Served window -> the location readers are pointed at."""

    @abstractmethod
    def list_tables(self) -> list[CatalogTable]: ...


class LocalCatalog(CatalogResource):
    """The catalogue in a local SQLite file."""

    path: str = ConfigField(description="SQLite file of the catalogue")
    _engine: Engine | None = PrivateAttr(default=None)

    def _db(self) -> Engine:
        if self._engine is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # pysqlite's own BEGIN is off so each transaction starts with _begin's
            engine = create_engine(
                f"sqlite:///{self.path}", connect_args={"timeout": 1, "isolation_level": None}
            )
            event.listen(engine, "begin", self._begin)
            try:
                _rows().create_tables(engine)
            except DatabaseError as exc:
                problem = sqlite_file_problem(self.path, "catalogue database", exc)
                if problem is None:
                    raise
                raise problem from exc
            _add_withheld_column(engine)
            self._engine = engine
        return self._engine

    def _begin(self, connection: Connection) -> None:
        """Take the write lock at once; when another process holds it, say so, then wait.

        SQLite's busy timeout waits in silence; a run that stops for a minute without a word
        looks hung. Hand-written: SQLite has no hook that reports a wait as it starts.
        """
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            LOGGER.warning(
                "the catalogue database %s is locked by another process (a run or a reader "
                "writing to it); waiting up to %ss for its lock",
                self.path,
                LOCK_WAIT_SECONDS,
            )
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_SECONDS * 1000}")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as again:
                raise TimeoutError(
                    f"the catalogue database {self.path} is still locked by another process "
                    f"after {LOCK_WAIT_SECONDS}s; find it with `fuser {self.path}`"
                ) from again
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_SECONDS * 1000}")

    def register_table(
        self,
        *,
        key_path: list[str],
        schema: pa.Schema,
        location: str,
        partition_key: str | None,
        description: str,
    ) -> None:
        database, name = self.names(key_path)
        columns = hive_columns(schema, exclude={partition_key} if partition_key else set())
        rows = _rows()
        with rows.Session(self._db()) as session:
            row = session.get(rows.CatalogTableRow, (database, name)) or rows.CatalogTableRow(
                database=database,
                name=name,
                columns="",
                location="",
                partition_keys="",
                updated_at=datetime.now(UTC),
            )
            row.columns = json.dumps(columns)
            row.location = location
            row.partition_keys = json.dumps([partition_key] if partition_key else [])
            row.description = description
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()

    def register_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        self._upsert(key_path, partitions, withheld=False)

    def withhold_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        self._upsert(key_path, partitions, withheld=True)

    def _upsert(
        self, key_path: list[str], partitions: list[tuple[str, str]], *, withheld: bool
    ) -> None:
        """All the windows in one transaction and one statement (a year is 365 rows)."""
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # 15 ms: on first use

        if not partitions:
            return
        database, name = self.names(key_path)
        now = datetime.now(UTC)
        table = _rows().CatalogPartitionRow.__table__
        statement = sqlite_insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.database, table.c.name, table.c.value],
            set_={
                "location": statement.excluded.location,
                "updated_at": statement.excluded.updated_at,
                "withheld": statement.excluded.withheld,
            },
        )
        values = [
            {
                "database": database,
                "name": name,
                "value": value,
                "location": location,
                "updated_at": now,
                "withheld": withheld,
            }
            for value, location in partitions
        ]
        with self._db().begin() as connection:
            connection.execute(statement, values)

    def withheld_partitions(self, *, key_path: list[str]) -> list[str]:
        """Windows registered but withheld because their quality gate closed."""
        return sorted(self._partitions(key_path, withheld=True))

    def partition_locations(self, *, key_path: list[str]) -> dict[str, str]:
        return self._partitions(key_path, withheld=False)

    def _partitions(self, key_path: list[str], *, withheld: bool) -> dict[str, str]:
        database, name = self.names(key_path)
        rows = _rows()
        with rows.Session(self._db()) as session:
            query = rows.select(rows.CatalogPartitionRow).where(
                rows.CatalogPartitionRow.database == database,
                rows.CatalogPartitionRow.name == name,
                rows.CatalogPartitionRow.withheld == withheld,  # type: ignore[arg-type]
            )
            return {row.value: row.location for row in session.exec(query).all()}

    def get_table(self, *, key_path: list[str]) -> CatalogTable | None:
        database, name = self.names(key_path)
        rows = _rows()
        with rows.Session(self._db()) as session:
            row = session.get(rows.CatalogTableRow, (database, name))
            return _to_table(row) if row else None

    def list_partitions(self, *, key_path: list[str]) -> list[str]:
        return sorted(self._partitions(key_path, withheld=False))

    def list_tables(self) -> list[CatalogTable]:
        rows = _rows()
        with rows.Session(self._db()) as session:
            return [_to_table(row) for row in session.exec(rows.select(rows.CatalogTableRow)).all()]


def _rows() -> Any:
    """The SQLModel tables, imported on first use.

    SQLModel (with SQLAlchemy's ORM) takes 0.2-0.3 s to import, which every process that
    loads the definitions paid otherwise.
    """
    from dataplat_dagster.resources import catalog_rows

    return catalog_rows


def _add_withheld_column(engine: Engine) -> None:
    """Catalogue files written before `withheld` existed get the column (nothing withheld)."""
    with engine.begin() as connection:
        columns = {
            row[1] for row in connection.exec_driver_sql("PRAGMA table_info(catalog_partitions)")
        }
        if "withheld" not in columns:
            connection.exec_driver_sql(
                "ALTER TABLE catalog_partitions ADD COLUMN withheld BOOLEAN NOT NULL DEFAULT 0"
            )


def _to_table(row: Any) -> CatalogTable:
    return CatalogTable(
        row.database,
        row.name,
        [tuple(c) for c in json.loads(row.columns)],
        row.location,
        json.loads(row.partition_keys),
        row.description,
    )
