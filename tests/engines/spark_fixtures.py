"""One SparkSession for the whole test session, shared by every Spark test.

Exposed to every test module through `pytest_plugins` in tests/conftest.py. The session is
small on purpose: two shuffle partitions, no UI, UTC as its zone unless a step sets another.
"""

from collections.abc import Iterator

import pytest

from dataplat_dagster.engines.spark_engine import SparkEngine

TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[SparkEngine]:
    """The Spark engine on `local[2]`, its session started once."""
    engine = SparkEngine(master="local[2]", conf=TEST_CONF, app_name="dataplat-tests")
    engine.session()
    yield engine
    engine.session().stop()


@pytest.fixture(scope="session")
def spark(spark_engine: SparkEngine):
    return spark_engine.session()
