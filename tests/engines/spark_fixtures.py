"""One SparkSession for the whole test session, shared by every Spark test.

Exposed to every test module through `pytest_plugins` in tests/conftest.py. The session is
small on purpose: two shuffle partitions, no UI, UTC as its zone unless a step sets another.
With DATAPLAT_TEST_SPARK_REMOTE=sc://host:port the Spark tests run through Spark Connect.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    """The Spark engine on `local[2]`, its session started once (pyspark imported only here)."""
    from dataplat_dagster.engines.spark_engine import SparkEngine

    remote = os.environ.get("DATAPLAT_TEST_SPARK_REMOTE")  # sc://host:port: the same tests
    if remote:  # through Spark Connect; the server owns its static settings
        conf = {k: v for k, v in TEST_CONF.items() if k.startswith("spark.sql.")}
        engine = SparkEngine(remote=remote, conf=conf, app_name="dataplat-tests")
    else:
        engine = SparkEngine(master="local[2]", conf=TEST_CONF, app_name="dataplat-tests")
    engine.session()
    yield engine
    engine.session().stop()


@pytest.fixture(scope="session")
def spark(spark_engine: Any) -> Any:
    return spark_engine.session()
