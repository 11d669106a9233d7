"""ClickHouse connections: a server over HTTP (clickhouse-connect) or chDB in this process.

A connection of the databases resource whose URL is `clickhouse://host:8123/database`
(`clickhouses://` for TLS) talks to a server; `chdb:///folder?database=name` runs ClickHouse
inside this process on the data folder `folder`. Both give the same small client: DDL
commands, queries returning rows, and Arrow inserts.
"""

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMES = ("clickhouse", "clickhouses", "chdb")


class ClickHouseUnavailable(ConnectionError):
    """The server could not be reached, or the chDB folder could not be opened."""


class ClickHouseQueryError(RuntimeError):
    """ClickHouse refused a statement (its own message follows)."""


class ClickHouseClient(Protocol):
    database: str

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...

    def describe(self) -> str: ...


def is_clickhouse_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def quoted(name: str) -> str:
    """A ClickHouse identifier in backquotes."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connect(url: str, password: str | None = None) -> ClickHouseClient:
    """A client for a `clickhouse://` or `chdb://` URL.

    Raises:
        ClickHouseUnavailable: the server does not answer, or the folder cannot be opened.
    """
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        query = parse_qs(parts.query)
        database = query.get("database", ["default"])[0]
        folder = parts.netloc + parts.path  # chdb:///abs/folder, or chdb://relative/folder
        return ChdbClient(os.path.realpath(folder) if folder else "", database)
    if parts.scheme in ("clickhouse", "clickhouses"):
        return HttpClient.open(parts, password)
    raise ValueError(f"not a ClickHouse URL (expected {', '.join(SCHEMES)}): {url}")


# -- chDB: ClickHouse in this process -----------------------------------------------------------

# chDB keeps one session (one data folder) per process; every client of that folder shares it.
_SESSION_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}


def _session(folder: str) -> Any:
    with _SESSION_LOCK:
        if folder not in _SESSIONS:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission, a read-only disk
                raise ClickHouseUnavailable(f"chDB cannot open the folder {folder}: {exc}") from exc
            if _SESSIONS:
                (open_folder,) = _SESSIONS
                raise ClickHouseUnavailable(
                    f"chDB already has the folder {open_folder} open in this process; one "
                    "process opens one chDB folder (use one chdb:// folder per code location)"
                )
            from chdb import session  # imported here: a 180 MB engine, loaded only when used

            try:
                _SESSIONS[folder] = session.Session(folder)
            except RuntimeError as exc:  # e.g. another process holds the folder
                raise ClickHouseUnavailable(f"chDB cannot open the folder {folder}: {exc}") from exc
        return _SESSIONS[folder]


@dataclass
class ChdbClient:
    folder: str
    database: str

    def __post_init__(self) -> None:
        if not self.folder:
            raise ClickHouseUnavailable("a chdb:// URL needs a folder: chdb:///path/to/folder")
        self._session = _session(self.folder)
        self.command(f"CREATE DATABASE IF NOT EXISTS {quoted(self.database)}")

    def describe(self) -> str:
        return f"chdb://{self.folder}?database={self.database}"

    def command(self, sql: str) -> None:
        self._query(sql, "CSV")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        result = self._query(sql, "Arrow")
        data = result.bytes() if result is not None else b""
        if not data:
            return []
        table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        return [tuple(row.values()) for row in table.to_pylist()]

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        # chDB's Python() table function does not read zoned timestamps: go through Parquet
        with _parquet_file(data) as path:
            columns = ", ".join(map(quoted, data.column_names))
            self.command(
                f"INSERT INTO {quoted(self.database)}.{quoted(table)} ({columns}) "
                f"SELECT {columns} FROM file({literal(path)}, Parquet)"
            )

    def _query(self, sql: str, fmt: str) -> Any:
        try:
            return self._session.query(sql, fmt)
        except RuntimeError as exc:
            raise ClickHouseQueryError(str(exc).strip().splitlines()[0]) from exc


@contextmanager
def _parquet_file(data: pa.Table) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dataplat-clickhouse-") as folder:
        path = os.path.join(folder, "rows.parquet")
        pq.write_table(data, path)
        yield path


# -- a ClickHouse server over HTTP ---------------------------------------------------------------


@dataclass
class HttpClient:
    client: Any
    database: str
    address: str

    @classmethod
    def open(cls, parts: Any, password: str | None) -> "HttpClient":
        import clickhouse_connect  # imported here: only projects with ClickHouse outputs use it
        from clickhouse_connect.driver.exceptions import ClickHouseError

        secure = parts.scheme == "clickhouses"
        database = parts.path.lstrip("/") or "default"
        address = f"{parts.scheme}://{parts.hostname}:{parts.port or (8443 if secure else 8123)}"
        try:
            client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or (8443 if secure else 8123),
                username=parts.username or "default",
                password=password or parts.password or "",
                database=database,
                secure=secure,
                connect_timeout=10,
            )
        except ClickHouseError as exc:
            raise ClickHouseUnavailable(f"{address}/{database}: {_first_line(exc)}") from exc
        return cls(client, database, f"{address}/{database}")

    def describe(self) -> str:
        return self.address

    def command(self, sql: str) -> None:
        with _http_errors():
            self.client.command(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with _http_errors():
            return [tuple(row) for row in self.client.query(sql).result_rows]

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        with _http_errors():
            self.client.insert_arrow(table, data, database=self.database)


@contextmanager
def _http_errors() -> Iterator[None]:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    try:
        yield
    except OperationalError as exc:
        raise ClickHouseUnavailable(_first_line(exc)) from exc
    except DatabaseError as exc:
        raise ClickHouseQueryError(_first_line(exc)) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
