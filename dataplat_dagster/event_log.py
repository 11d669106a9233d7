"""Dagster's SQLite event log, writing a range run's materializations in one transaction.

A range run records one materialization per table and window: a year of daily windows over a
dozen tables is 4,000 events. Dagster's SQLite event log opens a new database connection and
commits twice for each (its run shard and its cross-run index), which was half of the flights
benchmark's year. Dagster already groups a step output's per-window events into a batch when
`DAGSTER_EVENT_BATCH_SIZE` is set and hands it to `store_event_batch`, which its PostgreSQL
storage implements and its SQLite storage does not (it loops over `store_event`). This class
adds that method, following the PostgreSQL one. It also keeps each database's connection open
for the next event instead of opening one per event, and lets SQLite skip the disk flush on
every commit (`synchronous=NORMAL`, SQLite's advice for Dagster's WAL journal: a power cut can
lose the last events, never the file); a one-window run writes about 200 events, and each
cost 4 ms (0.4 ms now). A new run's database is a copy of an empty one made once per Dagster
version (Dagster creates its tables and reads its ~100 Alembic revision files for every run:
about 0.1 s of each run). Everything else is Dagster's. `dagster.yaml` selects it for the
local profile.
"""

import os
import shutil
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any

import dagster
import dagster._check as check
import sqlalchemy as sa
from dagster._config import Field, StringSource
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool

# events per batch Dagster buffers before handing them over (a step output's windows)
BATCH_SIZE = "1000"
# databases whose connection stays open (the index and the runs being written); a UI or a
# daemon reading thousands of runs closes the least recently used beyond these
OPEN_DATABASES = 8

_BATCHED = (
    {DagsterEventType.ASSET_MATERIALIZATION},
    {DagsterEventType.ASSET_OBSERVATION},
)


def enable_event_batches() -> None:
    """Have Dagster record a range run's per-window events in batches.

    Called when the definitions load, so that every process that runs steps has it: `dataplat
    run`, the run workers the daemon and the UI launch, and `dagster job execute`. A step
    output's per-window materializations go to `store_event_batch` together, and a range run
    plans each table once for the range instead of once per window (on the SQLite event log,
    8 of 35 s of the TPC-H benchmark at scale factor 0.1). The latter's cost: the UI does not
    mark a failed range run's windows as failed; the run summary and the failure notice name
    them.
    """
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", BATCH_SIZE)
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage (one database per run plus an index) with batched writes.

    `base_dir` defaults to Dagster's own place for it, `$DAGSTER_HOME/history/runs`, so an
    instance that used Dagster's default keeps its history.
    """

    @classmethod
    def config_type(cls) -> Any:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "BatchingSqliteEventLogStorage":
        base_dir = config_value.get("base_dir") or os.path.join(
            os.environ.get("DAGSTER_HOME", "."), "history", "runs"
        )
        return cls(base_dir=base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, made once: one connection per thread, kept open (under the lock)."""
        engines: OrderedDict[str, Engine] = self.__dict__.setdefault("_engines", OrderedDict())
        engine = engines.get(shard)
        if engine is not None:
            engines.move_to_end(shard)
            return engine
        engine = sa.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=SingletonThreadPool,
            # callers hold the storage's lock; an evicted engine is closed from another thread
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        sa.event.listen(engine, "connect", _no_flush_per_commit)
        if shard not in self._initialized_dbs:
            if shard == INDEX_SHARD_NAME or not self._copy_empty_run_database(shard):
                self._initdb(engine)  # Dagster's check: creates or migrates the database
            self._initialized_dbs.add(shard)
        engines[shard] = engine
        while len(engines) > OPEN_DATABASES:
            engines.popitem(last=False)[1].dispose()
        return engine

    def _copy_empty_run_database(self, run_id: str) -> bool:
        """Create a new run's database as a copy of an empty one; False when it exists already.

        The copy is linked into place, never renamed over: a run database another process made
        meanwhile (and may be writing to) is left alone.
        """
        path = self.path_for_shard(run_id)
        if os.path.exists(path):
            return False
        empty = self._empty_run_database()
        if empty is None:
            return False
        staged = f"{path}.{uuid.uuid4().hex}.new"
        try:
            shutil.copyfile(empty, staged)
            os.link(staged, path)
        except OSError:
            # another process created it first (FileExistsError), or no hard links on this
            # file system: Dagster's own check creates or verifies the database
            return False
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        return True

    def _empty_run_database(self) -> str | None:
        """An empty run database of this Dagster version, made by Dagster's own code once.

        Kept in a subfolder: Dagster lists runs by the `*.db` files of the folder itself.
        """
        folder = os.path.join(self._base_dir, ".empty")
        path = os.path.join(folder, f"run-{dagster.__version__}.db")
        if os.path.exists(path):
            return path
        os.makedirs(folder, exist_ok=True)
        staged = f"{path}.{uuid.uuid4().hex}.new"
        engine = sa.create_engine(f"sqlite:///{staged}", poolclass=sa.pool.NullPool)
        try:
            self._initdb(engine)
            engine.dispose()  # before the check below reads the file
            with closing(sqlite3.connect(staged)) as check_db:  # every page in the file, stamped
                check_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                stamped = check_db.execute("SELECT version_num FROM alembic_version").fetchall()
            if len(stamped) != 1:
                return None
            os.replace(staged, path)  # the same bytes whoever wins
        except (OSError, sa.exc.SQLAlchemyError, sqlite3.Error):
            return None
        finally:
            engine.dispose()
            for leftover in (staged, f"{staged}-wal", f"{staged}-shm"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return path

    def _close_databases(self) -> None:
        with self._db_lock:
            engines: OrderedDict[str, Engine] = self.__dict__.get("_engines", OrderedDict())
            while engines:
                engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._close_databases()  # before Dagster deletes the run databases' files
        super().wipe()

    def dispose(self) -> None:
        self._close_databases()
        super().dispose()

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        self._touch(event.run_id)

    def _touch(self, run_id: str) -> None:
        """Tell the UI's watchers of the run's database that it has new events.

        Dagster's watchers wait for the run's `.db` file to change. With its connection closed
        after each event, SQLite copied the WAL into that file every time; with the connection
        kept open it does so only every thousand pages, so the file's time is set instead
        (a change watchdog and polling both see).
        """
        if run_id:
            try:
                os.utime(self.path_for_shard(run_id))
            except FileNotFoundError:
                pass

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        check.sequence_param(events, "events", of_type=EventLogEntry)
        kinds = {event.dagster_event_type for event in events}
        run_ids = {event.run_id for event in events}
        if not events or kinds not in _BATCHED or len(run_ids) != 1:
            super().store_event_batch(events)  # one by one, as Dagster does
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(self.prepare_insert_event_batch(events))
        # the index shard mirrors asset events with its own ids, which the tags refer to
        with self.index_transaction() as conn:
            event_ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    event_ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, event_ids)
            last: dict[Any, tuple[EventLogEntry, int]] = {}
            for event, event_id in zip(events, event_ids, strict=True):
                last[event.dagster_event.asset_key] = (event, event_id)  # type: ignore[union-attr]
            for event, event_id in last.values():  # the asset's latest event, as PostgreSQL does
                self._store_asset_event(conn, event, event_id)
        self._touch(events[0].run_id)


def _no_flush_per_commit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
