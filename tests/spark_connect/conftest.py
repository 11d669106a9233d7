"""A Spark Connect server per test session (from pyspark's own sbin/) and a client session on it."""

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

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
def connect_session(connect_server: ConnectServer) -> Iterator[SparkSession]:
    """A Spark Connect client session on the server (no JVM in this process)."""
    session = SparkSession.builder.remote(connect_server.url).getOrCreate()
    yield session
    session.stop()
