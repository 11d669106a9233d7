"""A Spark Connect server per test session (from pyspark's own sbin/) and the engine on it."""

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from dataplat_dagster.engines.spark_engine import SparkEngine
from tests.conftest import free_port
from tests.spark_connect.server import ConnectServer


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A real Spark Connect server (`local[2]`) on a free port, stopped after the session."""
    server = ConnectServer(tmp_path_factory.mktemp("spark-connect"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def remote_engine(connect_server: ConnectServer) -> Iterator[SparkEngine]:
    """The Spark engine with `remote: sc://127.0.0.1:<port>`.

    Its client session is stopped before the server: a client left open on a stopped server
    hangs the process's exit.
    """
    engine = SparkEngine(remote=connect_server.url, conf={"spark.sql.session.timeZone": "UTC"})
    yield engine
    engine.session().stop()


@pytest.fixture(scope="session")
def connect_session(remote_engine: SparkEngine) -> SparkSession:
    """The engine's Spark Connect client session (no JVM in this process)."""
    return remote_engine.session()
