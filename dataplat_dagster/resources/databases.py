"""Named SQL connections for SQL sources and outputs (SQLite, PostgreSQL, MySQL/MariaDB)."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr, model_validator
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.kerberos import GSSENCMODES, KerberosLogin

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
    # Kerberos/GSSAPI, PostgreSQL only (libpq's own parameters and a ticket from a keytab)
    gssencmode: str | None = Field(
        None, description="PostgreSQL: GSSAPI encryption, disable | prefer | require"
    )
    krbsrvname: str | None = Field(
        None, description="PostgreSQL: the server's Kerberos service name (libpq: postgres)"
    )
    keytab: str | None = Field(
        None, description="PostgreSQL: keytab to kinit from before connecting ({env: NAME} too)"
    )
    principal: str | None = Field(None, description="PostgreSQL: the keytab's principal")
    ccache: str | None = Field(
        None, description="PostgreSQL: credentials cache (default: one private to the process)"
    )

    def uses_kerberos(self) -> bool:
        return any(
            value is not None
            for value in (
                self.gssencmode,
                self.krbsrvname,
                self.keytab,
                self.principal,
                self.ccache,
            )
        )

    def kerberos_problems(self, name: str, url: URL) -> list[str]:
        """What is wrong with the Kerberos settings of connection `name`, one line each."""
        if not self.uses_kerberos():
            return []
        where = f"database connection {name!r}"
        if url.get_backend_name() != "postgresql":
            return [
                f"{where}: gssencmode/krbsrvname/keytab/principal/ccache are PostgreSQL "
                f"settings; its url is {url.get_backend_name()}"
            ]
        problems = []
        mode = self.gssencmode
        if mode is not None and not isinstance(mode, dg.EnvVar) and mode not in GSSENCMODES:
            problems.append(
                f"{where}: gssencmode {self.gssencmode!r} is not one of {', '.join(GSSENCMODES)}"
            )
        if (self.keytab is None) != (self.principal is None):
            problems.append(
                f"{where}: keytab and principal go together (kinit -k -t KEYTAB PRINCIPAL)"
            )
        return problems


class DatabasesResource(dg.ConfigurableResource):
    """SQLAlchemy engines by connection name; passwords from the environment or SSM."""

    connections: dict[str, DatabaseConnection] = Field(default_factory=dict)
    aws: dg.ResourceDependency[AwsResource]
    _engines: dict[str, Engine] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _kerberos_settings(self) -> "DatabasesResource":
        """Kerberos settings checked when the profile loads (a url from {env:} at run time)."""
        problems = []
        for name, connection in self.connections.items():
            if isinstance(connection, DatabaseConnection) and not isinstance(
                connection.url, dg.EnvVar
            ):
                problems += connection.kerberos_problems(name, make_url(connection.url))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def connection(self, name: str) -> DatabaseConnection:
        """The profile's connection `name`; a KeyError that lists the known ones."""
        if name not in self.connections:
            known = ", ".join(sorted(self.connections)) or "none"
            raise KeyError(f"no database connection named {name!r} in the profile (known: {known})")
        return self.connections[name]

    def engine(self, name: str) -> Engine:
        connection = self.connection(name)
        if name not in self._engines:
            url = make_url(connection.url)
            if connection.password:
                url = url.set(password=self.aws.secret(connection.password))
            url = url.set(drivername=_DEFAULT_DRIVERS.get(url.drivername, url.drivername))
            problems = connection.kerberos_problems(name, url)
            if problems:
                raise ValueError("; ".join(problems))
            if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True, connect_args=_libpq_gssapi(connection))
            if url.get_backend_name() == "sqlite":
                _transactional_ddl(engine)
            if connection.uses_kerberos():
                _connect_with_ticket(engine, name, connection)
            self._engines[name] = engine
        return self._engines[name]


def _libpq_gssapi(connection: DatabaseConnection) -> dict[str, str]:
    """The libpq parameters gssencmode and krbsrvname (psycopg2 passes them on)."""
    settings = {"gssencmode": connection.gssencmode, "krbsrvname": connection.krbsrvname}
    return {key: value for key, value in settings.items() if value is not None}


def _connect_with_ticket(engine: Engine, name: str, connection: DatabaseConnection) -> None:
    """Every new DBAPI connection of `engine` opens with the connection's Kerberos ticket."""
    login = KerberosLogin(
        name, principal=connection.principal, keytab=connection.keytab, ccache=connection.ccache
    )
    refused = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "do_connect")
    def _open(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return login.connect(lambda: dialect.connect(*cargs, **cparams), refused)


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
