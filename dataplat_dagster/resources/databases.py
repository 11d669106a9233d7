"""Named SQL connections for SQL sources and outputs (SQLite, PostgreSQL, MySQL/MariaDB)."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from dataplat_dagster.resources.aws import AwsResource

# SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3 and mysql:// to mysqlclient; the
# drivers this project installs are psycopg2 and PyMySQL.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


class DatabaseConnection(dg.Config):
    url: str = Field(description="SQLAlchemy URL without the password")
    password: str | None = Field(None, description="from the environment: {env: NAME}")


class DatabasesResource(dg.ConfigurableResource):
    """SQLAlchemy engines by connection name; passwords from the environment or SSM."""

    connections: dict[str, DatabaseConnection] = Field(default_factory=dict)
    aws: dg.ResourceDependency[AwsResource]
    _engines: dict[str, Engine] = PrivateAttr(default_factory=dict)

    def engine(self, name: str) -> Engine:
        if name not in self.connections:
            known = ", ".join(sorted(self.connections)) or "none"
            raise KeyError(f"no database connection named {name!r} in the profile (known: {known})")
        if name not in self._engines:
            connection = self.connections[name]
            url = make_url(connection.url)
            if connection.password:
                url = url.set(password=self.aws.secret(connection.password))
            url = url.set(drivername=_DEFAULT_DRIVERS.get(url.drivername, url.drivername))
            if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True)
            if url.get_backend_name() == "sqlite":
                _transactional_ddl(engine)
            self._engines[name] = engine
        return self._engines[name]


def _transactional_ddl(engine: Engine) -> None:
    """Let SQLAlchemy, not Python's sqlite3 module, open SQLite transactions.

    sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so a CREATE TABLE would
    commit on its own and outlive a failed write. This is SQLAlchemy's documented recipe for
    pysqlite: no implicit transactions from the driver, an explicit BEGIN from SQLAlchemy.
    """

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")
