"""The test session's one SparkSession (local[2]), shared by every Spark test."""

from collections.abc import Iterator
from typing import Any

import pytest

from dataplat_dagster.engines.spark_session import spark_session

# small shuffles and no UI: the tests' data is tiny and the UI port may be taken
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    yield spark_session(master="local[2]", conf=TEST_CONF, app_name="dataplat-tests")
