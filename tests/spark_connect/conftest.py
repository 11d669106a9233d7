"""A Spark Connect server per test session (from pyspark's own sbin/) and the engine on it."""

import os
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


@pytest.fixture(scope="package")
def remote_engine(connect_server: ConnectServer) -> Iterator[SparkEngine]:
    """The Spark engine with `remote: sc://127.0.0.1:<port>`, for this folder's tests alone.

    Its client session is stopped before the server: a client left open on a stopped server
    hangs the process's exit. Package-scoped: the process is in Connect mode only while this
    folder's tests run, and classic again for the Spark tests collected after it.
    """
    _end_sessions()  # pyspark runs one mode per process: the classic session of other tests goes
    engine = SparkEngine(remote=connect_server.url, conf={"spark.sql.session.timeZone": "UTC"})
    yield engine
    engine.session().stop()
    _end_sessions()
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)  # classic again for what follows


def _end_sessions() -> None:
    """Stop a classic Spark session of this process and forget the engine's cached sessions.

    pyspark's functions (`F.col`, ...) follow one mode per process, Connect once a remote
    session was made (SPARK_CONNECT_MODE_ENABLED) and classic otherwise, and a remote session
    is refused while a classic one runs. The other Spark tests share a classic session; a
    later one starts again if needed.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession as ClassicSession

    from dataplat_dagster.engines import spark_engine

    if ClassicSession._instantiatedSession is not None:
        ClassicSession._instantiatedSession.stop()  # its context too
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    spark_engine._sessions.clear()


@pytest.fixture(scope="package")
def connect_session(remote_engine: SparkEngine) -> SparkSession:
    """The engine's Spark Connect client session (no JVM in this process)."""
    return remote_engine.session()
